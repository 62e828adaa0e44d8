"""How fast the grammar fuzzer gets answers from imapd, and what the run does to imapd's memory.

    .venv/bin/python bench/fuzz_rate.py --seconds 300                       # SQLite
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/mailkite_fuzz \\
        .venv/bin/python bench/fuzz_rate.py --seconds 300 --workers 2      # PostgreSQL, two workers

Issue 10 measured its "before" this way: a post-authentication fuzzer against `manage.py imapd`
with production settings (one log line per command), counting command lines per second and the
server's RSS. This script starts imapd as a child on a fresh database (SQLite in a temporary
folder unless DATABASE_URL is set; the database is flushed and migrated), delivers the demo corpus
into one account, then runs the fuzzer of tests/adversarial for the given time on one
connection at a time in the selected state (reconnecting and logging in again after a BYE). It
prints one JSON line: lines sent, lines per second, imapd's summed RSS at the start, its peak and
at the end, and how many ERROR lines and tracebacks imapd logged. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class TimeUp(Exception):
    pass


def rss_of_tree(pid: int) -> int:
    """Resident memory of a process and its children (the workers), in bytes."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            pass
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--messages", type=int, default=200, help="demo messages in the account")
    parser.add_argument("--state", default="selected", choices=["authenticated", "selected"])
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="mailkite-fuzzrate-"))
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="mailkite.settings",
        MAILKITE_DATA_DIR=str(data_dir),
        LOG_LEVEL="INFO",
        IMAP_WORKERS=str(args.workers),
    )
    env.setdefault("DATABASE_URL", f"sqlite:///{data_dir / 'db.sqlite3'}")
    env.pop("REDIS_URL", None)
    os.environ.update(env)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    subprocess.run([*manage, "flush", "--no-input", "-v0"], env=env, check=True)
    subprocess.run([*manage, "devcert"], env=env, check=True, stdout=subprocess.DEVNULL)

    import warnings

    import django

    django.setup()
    warnings.simplefilter("ignore")  # hypothesis warns about the repr of long generated lines
    import ssl

    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    from mailkite.mail import democorpus, ingest
    from tests.adversarial.fuzzclient import FuzzClient
    from tests.adversarial.grammar import Probe, probes
    from tests.conftest import make_account

    account = make_account("fuzz@fuzz-rate.example")
    for folder, raw, when in democorpus.messages(account.address, count=args.messages):
        ingest.store(mailbox=account.mailbox, raw=raw, folder=folder, internal_date=when)

    port = free_port()
    log_path = data_dir / "imapd.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [*manage, "imapd", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    context = ssl.create_default_context(cafile=str(data_dir / "devcert" / "ca.pem"))
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)

    setup = [b"s1 LOGIN fuzz " + account.password.encode()]
    if args.state == "selected":
        setup.append(b"s2 SELECT INBOX")

    def connect() -> FuzzClient:
        client = FuzzClient("127.0.0.1", port, context, 60.0)
        for line in setup:
            client.run(Probe(line))
        return client

    connect().close()
    start_rss = rss_of_tree(server.pid)
    peak = start_rss
    sent = 0
    started = time.monotonic()
    next_sample = started
    client = connect()

    @settings(
        max_examples=10**9,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(probes("selected"), min_size=1, max_size=6))
    def fuzz(batch: list[Probe]) -> None:
        nonlocal client, sent, peak, next_sample
        for probe in batch:
            outcome = client.run(probe)
            sent += outcome.lines_sent + probe.prefix.count(b"\n")
            if not outcome.usable:
                client.close()
                client = connect()
        now = time.monotonic()
        if now >= next_sample:
            peak = max(peak, rss_of_tree(server.pid))
            next_sample = now + 2
        if now - started >= args.seconds:
            raise TimeUp

    try:
        fuzz()
    except TimeUp:
        pass
    elapsed = time.monotonic() - started
    client.close()
    end_rss = rss_of_tree(server.pid)
    server.terminate()
    server.wait(30)
    text = log_path.read_text(errors="replace")
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "database": "postgresql" if env["DATABASE_URL"].startswith("postgres") else "sqlite",
        "workers": args.workers,
        "messages": args.messages,
        "seconds": round(elapsed, 1),
        "lines": sent,
        "lines_per_second": round(sent / elapsed, 1),
        "rss_mib": {
            "start": round(start_rss / 2**20, 1),
            "peak": round(max(peak, end_rss) / 2**20, 1),
            "end": round(end_rss / 2**20, 1),
        },
        "error_lines": len(re.findall(r" ERROR ", text)),
        "tracebacks": text.count("Traceback (most recent call last)"),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
