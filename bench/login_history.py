"""Login storm with the login history on and off: logins/s, and history rows per write statement.

    .venv/bin/python bench/login_history.py --seconds 20 --clients 8

One imapd (ImapServer on its own event loop in a thread of this process, as the tests run it,
with the psycopg pool) on a fresh PostgreSQL database `mailkite_history_bench`; client
processes (spawned, so they share no interpreter with the server) loop connect → TLS → LOGIN →
LOGOUT with a few app-passwords, over loopback, for `--seconds` per run. With the history on,
imapd.history counts the rows it wrote and its write calls: one transaction each, holding one
bulk INSERT of the records, one SELECT and one INSERT ... ON CONFLICT DO NOTHING of the sightings
(passwords.logins.write_logins). Written one at a time, each login would be its own transaction.
Prints JSON and writes a Markdown summary to bench/results/login-history-<time>.md. Needs
PostgreSQL on 127.0.0.1:5432 (user postgres, trust). Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "mailkite_history_bench"
sys.path.insert(0, str(ROOT))


def storm(host: str, port: int, passwords: list[str], seconds: float, out: multiprocessing.Queue) -> None:
    """One client process: as many sequential logins as it can in `seconds`."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    done = failed = 0
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        password = passwords[i % len(passwords)]
        i += 1
        try:
            with socket.create_connection((host, port), 10) as raw, context.wrap_socket(raw) as tls:
                reader = tls.makefile("rb")
                reader.readline()
                tls.sendall(f"a LOGIN bench {password}\r\n".encode())
                while not (line := reader.readline()).startswith(b"a "):
                    if not line:
                        break
                ok = line.startswith(b"a OK")
                tls.sendall(b"b LOGOUT\r\n")
                while (line := reader.readline()) and not line.startswith(b"b "):
                    pass
            done += ok
            failed += not ok
        except OSError:
            failed += 1
    out.put((done, failed))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--passwords", type=int, default=20)
    args = parser.parse_args()

    for argv in (["dropdb", "--if-exists", "--force"], ["createdb"]):
        subprocess.run([*argv, "-h", "127.0.0.1", "-U", "postgres", DB_NAME], check=True)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="mailkite.settings",
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}",
        DEBUG="false",
        SECRET_KEY="bench-secret-key-not-for-production-0123456789abcdef",
        ALLOWED_HOSTS="localhost",
        LOG_LEVEL="WARNING",
    )
    sys.path.insert(0, str(ROOT / "bench"))
    from servers import tls_files

    files = tls_files()
    os.environ.update(TLS_CERT=files["cert"], TLS_KEY=files["key"])
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from imapd import tls
    from imapd.dbpool import Pools
    from imapd.server import ImapServer, ServerOptions
    from mailkite.mail import services
    from passwords import service
    from passwords.models import LoginRecord

    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user(username="bench", email="bench@bench.example")
    domain = services.create_domain(name="bench.example", owner=owner, mx_verified=True, owner_verified=True)
    mailbox = services.create_mailbox(domain=domain, local_part="bench")
    passwords = [
        service.user_create_app_password(actor=service.command_line(), mailbox=mailbox, label=f"p{i}")[1]
        for i in range(args.passwords)
    ]

    results = {}
    # A warm-up run first (argon2 once per password, then the verified-login cache; imports;
    # PostgreSQL's caches), not reported; then off and on twice, alternating, against drift.
    for run_name in ("warm-up", "off 1", "on 1", "off 2", "on 2"):
        mode = run_name.split()[0]
        loop = asyncio.new_event_loop()
        pools = Pools(db_threads=8, login_threads=2, login_queue=256)
        server = ImapServer(
            context=tls.server_context(Path(files["cert"]), Path(files["key"])),
            pools=pools,
            options=ServerOptions(
                login_history=mode == "on",
                max_unauthenticated_per_address=10_000,
                max_connections_per_mailbox_address=10_000,
            ),
        )
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        host, port = asyncio.run_coroutine_threadsafe(server.start("127.0.0.1", 0), loop).result(30)[0]
        before = LoginRecord.objects.count()
        spawn = multiprocessing.get_context("spawn")
        out = spawn.Queue()
        procs = [
            spawn.Process(target=storm, args=(host, port, passwords, args.seconds, out))
            for _ in range(args.clients)
        ]
        started = time.monotonic()
        for proc in procs:
            proc.start()
        totals = [out.get() for _ in procs]
        elapsed = time.monotonic() - started
        for proc in procs:
            proc.join()
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        pools.shutdown()
        logins = sum(t[0] for t in totals)
        history = server.history
        if mode == "warm-up":
            continue
        results[run_name] = {
            "logins": logins,
            "failed": sum(t[1] for t in totals),
            "seconds": round(elapsed, 1),
            "logins_per_s": round(logins / elapsed, 1),
            "rows_written": LoginRecord.objects.count() - before,
            "write_statements": history.statements,
            "rows_per_statement": round(history.written / history.statements, 1)
            if history.statements
            else None,
            "dropped": history.dropped,
        }
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "clients": args.clients,
        "cpus": os.cpu_count(),
        "results": results,
    }
    print(json.dumps(report))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = ROOT / "bench" / "results" / f"login-history-{stamp}.md"
    lines = [
        f"# Login storm, history off vs on ({stamp})",
        "",
        f"{args.clients} client processes, {args.seconds:.0f} s per mode, {args.passwords} app-passwords, "
        f"one imapd event loop, PostgreSQL, {os.cpu_count()} CPUs shared by clients and server.",
        "",
        "| history | logins | logins/s | rows written | write transactions | rows/transaction | dropped |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, r in results.items():
        lines.append(
            f"| {mode} | {r['logins']} | {r['logins_per_s']} | {r['rows_written']} | "
            f"{r['write_statements'] if mode.startswith('on') else '-'} | "
            f"{r['rows_per_statement'] or '-'} | {r['dropped']} |"
        )
    path.write_text("\n".join(lines) + "\n\n```json\n" + json.dumps(report, indent=2) + "\n```\n")
    print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
