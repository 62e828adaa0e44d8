"""Sustained messages per second through `manage.py lmtpd`, directly and through Postfix.

    .venv/bin/python bench/lmtp.py                      # 20 clients, 10,000 messages each way
    .venv/bin/python bench/lmtp.py --clients 20 --messages 20000 --only direct
    .venv/bin/python bench/lmtp.py --processes 2        # two lmtpd sharing the port

`direct`: N asyncio LMTP clients (N = 20, Postfix's default_destination_concurrency_limit, which
its LMTP client uses), each on one connection, pipelining MAIL/RCPT/DATA as Postfix does, each
sending its next message as soon as the previous one is answered. `postfix`: a private Postfix
instance (tests/lmtp/postfix.py: its own configuration, queue and log; needs root) relays to
lmtpd with its defaults (LMTP concurrency 20, connection caching); N SMTP clients inject, and the
rate is messages stored over the time from the first injection to the last commit.

lmtpd runs as production would: `DEBUG=false`, PostgreSQL (a fresh `mailkite_lmtp_bench` on
127.0.0.1:5432, user postgres, trust) with the psycopg pool, blobs on disk with fsync, INFO logs
(one line per recipient) to a file. Messages are the demo corpus's (plain, HTML alternative,
attachments, RFC 2047 headers; 0.5-60 KB), each made unique, round-robin over three mailboxes.
Writes bench/results/lmtp-<stamp>.json and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from servers import tls_files  # noqa: E402

WORK = ROOT / "bench" / "work"
RESULTS = ROOT / "bench" / "results"
DB_NAME = "mailkite_lmtp_bench"
DOMAIN = "bench.mailkite.test"
RECIPIENTS = [f"{local}@{DOMAIN}" for local in ("reader", "ingest", "idle")]


def env_for(data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mailkite.settings",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}",
        "DEBUG": "false",
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
        "ALLOWED_HOSTS": "localhost",
        "TLS_CERT": tls_files()["cert"],
        "TLS_KEY": tls_files()["key"],
        "MAILKITE_DATA_DIR": str(data),
        "BLOB_DIR": str(data / "blobs"),
        "LOG_LEVEL": "INFO",
    }


def corpus(count: int) -> list[bytes]:
    """`count` distinct messages: the demo corpus, cycled, each with its own Message-ID."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailkite.settings")
    from mailkite.mail import democorpus

    base = [
        raw.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
        for _, raw, _ in democorpus.messages(RECIPIENTS[0], count=40)
    ]
    return [
        b"Message-ID: <bench-%d@lmtp.bench>\r\nX-Bench: %d\r\n" % (n, n) + base[n % len(base)]
        for n in range(count)
    ]


def stuffed(message: bytes) -> bytes:
    body = message.replace(b"\r\n.", b"\r\n..")
    return (b"." + body if body.startswith(b".") else body) + b".\r\n"


async def read_reply(reader: asyncio.StreamReader) -> bytes:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed")
        if line[3:4] != b"-":
            return line


async def lmtp_client(port: int, messages: list[bytes], stamps: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await read_reply(reader)
    writer.write(b"LHLO bench\r\n")
    await read_reply(reader)
    for n, message in enumerate(messages):
        rcpt = RECIPIENTS[n % len(RECIPIENTS)]
        writer.write(f"MAIL FROM:<sender@bench.example>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode())
        replies = [await read_reply(reader) for _ in range(3)]
        if not (
            replies[0].startswith(b"250") and replies[1].startswith(b"250") and replies[2].startswith(b"354")
        ):
            errors.append(repr(replies))
            return
        writer.write(stuffed(message))
        await writer.drain()
        final = await read_reply(reader)
        if final.startswith(b"250"):
            stamps.append(time.monotonic())
        else:
            errors.append(final.decode(errors="replace").strip())
    writer.write(b"QUIT\r\n")
    await writer.drain()
    writer.close()


async def smtp_client(port: int, messages: list[bytes], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await read_reply(reader)
    writer.write(b"EHLO bench\r\n")
    await read_reply(reader)
    for n, message in enumerate(messages):
        rcpt = RECIPIENTS[n % len(RECIPIENTS)]
        for command in (b"MAIL FROM:<sender@bench.example>", f"RCPT TO:<{rcpt}>".encode(), b"DATA"):
            writer.write(command + b"\r\n")
            reply = await read_reply(reader)
            if reply[:1] not in (b"2", b"3"):
                errors.append(reply.decode(errors="replace").strip())
                return
        writer.write(stuffed(message))
        reply = await read_reply(reader)
        if not reply.startswith(b"250"):
            errors.append(reply.decode(errors="replace").strip())
    writer.write(b"QUIT\r\n")
    writer.close()


def split(messages: list[bytes], clients: int) -> list[list[bytes]]:
    return [messages[k::clients] for k in range(clients)]


def stored_count() -> int:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}") as conn:
        row = conn.execute("SELECT count(*) FROM mail_message").fetchone()
        return int(row[0]) if row else 0


def per_second(stamps: list[float]) -> dict[str, float]:
    """The rate second by second, leaving out the first and last (partial) seconds."""
    if not stamps:
        return {}
    start = min(stamps)
    buckets: dict[int, int] = {}
    for stamp in stamps:
        buckets[int(stamp - start)] = buckets.get(int(stamp - start), 0) + 1
    full = [buckets.get(k, 0) for k in range(1, max(buckets))]
    if not full:
        return {}
    return {"min": min(full), "median": statistics.median(full), "max": max(full)}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_direct(port: int, messages: list[bytes], clients: int) -> dict[str, Any]:
    stamps: list[float] = []
    errors: list[str] = []
    started = time.monotonic()
    await asyncio.gather(*(lmtp_client(port, share, stamps, errors) for share in split(messages, clients)))
    seconds = time.monotonic() - started
    return {
        "messages": len(stamps),
        "seconds": round(seconds, 2),
        "per_s": round(len(stamps) / seconds, 1),
        "per_second": per_second(stamps),
        "errors": errors[:5],
    }


def run_postfix(lmtp_port: int, messages: list[bytes], clients: int, already: int) -> dict[str, Any]:
    from tests.lmtp.postfix import PrivatePostfix

    folder = Path(tempfile.mkdtemp(prefix="mailkite-bench-postfix-"))
    postfix = PrivatePostfix(folder, relay_domains=[DOMAIN], lmtp_port=lmtp_port)
    postfix.start()
    errors: list[str] = []
    try:
        started = time.monotonic()

        async def inject() -> None:
            await asyncio.gather(
                *(smtp_client(postfix.smtp_port, share, errors) for share in split(messages, clients))
            )

        asyncio.run(inject())
        injected = time.monotonic() - started
        target = already + len(messages)
        deadline = time.monotonic() + 600
        while (count := stored_count()) < target and time.monotonic() < deadline:
            time.sleep(0.1)
        seconds = time.monotonic() - started
        log = postfix.maillog()
    finally:
        postfix.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "messages": count - already,
        "seconds": round(seconds, 2),
        "per_s": round((count - already) / seconds, 1),
        "injection_seconds": round(injected, 2),
        "deferred": log.count("status=deferred"),
        "errors": errors[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--only", choices=["direct", "postfix"])
    parser.add_argument(
        "--processes", type=int, default=1, help="lmtpd processes sharing the port (--reuse-port)"
    )
    args = parser.parse_args()
    data = WORK / "lmtp"
    shutil.rmtree(data, ignore_errors=True)
    for argv in (["dropdb", "--if-exists", "--force"], ["createdb"]):
        subprocess.run([*argv, "-h", "127.0.0.1", "-U", "postgres", DB_NAME], check=True)
    env = env_for(data)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True
    )
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ourside.py"), "setup", "--fresh", "0"],
        env={**env, "BENCH_SRC": str(ROOT)},
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    os.environ.update({k: v for k, v in env.items() if k != "LOG_LEVEL"})
    messages = corpus(args.messages)
    log = (data / "lmtpd.log").open("w")
    processes: list[subprocess.Popen[str]] = []
    port = 0
    for _ in range(args.processes):
        reuse = ["--reuse-port"] if args.processes > 1 else []
        process = subprocess.Popen(
            [sys.executable, "manage.py", "lmtpd", "--port", str(port), *reuse],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        port = int(line.split(" listening on ")[1].split()[0].rsplit(":", 1)[1])
        processes.append(process)

    def lmtpd_cpu() -> float:
        return sum(cpu_seconds(process.pid) for process in processes)

    result: dict[str, Any] = {
        "stamp": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
        + (
            "+changes"
            if subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                cwd=ROOT,
            ).stdout.strip()
            else ""
        ),
        "clients": args.clients,
        "lmtpd_processes": args.processes,
        "message_bytes_mean": round(statistics.mean(len(m) for m in messages)),
        "cpus": os.cpu_count(),
    }
    try:
        if args.only in (None, "direct"):
            cpu = lmtpd_cpu()
            result["direct"] = asyncio.run(run_direct(port, messages, args.clients))
            result["direct"]["lmtpd_cpu_s"] = round(lmtpd_cpu() - cpu, 1)
            result["direct"]["load_after"] = os.getloadavg()[0]
        if args.only in (None, "postfix"):
            unique = [m.replace(b"<bench-", b"<bench-pf-", 1) for m in messages]
            cpu = lmtpd_cpu()
            result["postfix"] = run_postfix(port, unique, args.clients, stored_count())
            result["postfix"]["lmtpd_cpu_s"] = round(lmtpd_cpu() - cpu, 1)
            result["postfix"]["load_after"] = os.getloadavg()[0]
    finally:
        for process in processes:
            process.terminate()
            process.wait(60)
        log.close()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"lmtp-{result['stamp']}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
