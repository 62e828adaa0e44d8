"""Bench-side Django helpers for this server (run with the bench's environment, see suite.py).

    python bench/ourside.py setup --fresh N            # account, mailboxes, app-passwords (JSON out)
    python bench/ourside.py deliver-loop --to ADDRESS  # "deliver n" on stdin -> "t0 <monotonic>"
    python bench/ourside.py ingest-warm --to ADDRESS --corpus DIR --count N   # ingest.deliver rate

Everything goes through the project's own services (ingest, passwords.service); nothing here
writes rows by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# The project tree under test: a snapshot of a commit (default) or the working tree (suite.py --tree).
ROOT = Path(os.environ.get("BENCH_SRC") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailkite.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

from mailkite.mail import ingest, services  # noqa: E402
from mailkite.mail.models import Domain, Mailbox  # noqa: E402
from passwords import service as credentials  # noqa: E402

DOMAIN = "bench.mailkite.test"
READER = f"reader@{DOMAIN}"
INGEST = f"ingest@{DOMAIN}"
IDLE = f"idle@{DOMAIN}"


def _mailbox(domain: Domain, local: str) -> Mailbox:
    found = services.find_mailbox(f"{local}@{domain.name}")
    return found or services.create_mailbox(domain=domain, local_part=local)


def setup(fresh: int) -> dict:
    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"email": "bench@example.com"}
    )
    domain = Domain.objects.filter(name=DOMAIN).first() or services.create_domain(
        name=DOMAIN, owner=user, mx_verified=True
    )
    reader = _mailbox(domain, "reader")
    _mailbox(domain, "ingest")
    idle = _mailbox(domain, "idle")
    run = time.strftime("%Y%m%d-%H%M%S")  # labels are unique among a user's active passwords
    operator = credentials.command_line()

    def new_password(mailbox: Mailbox, label: str) -> str:
        return credentials.user_create_app_password(actor=operator, mailbox=mailbox, label=label)[1]

    password = new_password(reader, f"bench reader {run}")
    idle_password = new_password(idle, f"bench idle {run}")
    started = time.monotonic()
    fresh_passwords = [new_password(reader, f"bench fresh {run} {i}") for i in range(fresh)]
    return {
        "address": READER,
        "password": password,
        "idle_address": IDLE,
        "idle_password": idle_password,
        "ingest_address": INGEST,
        "fresh": fresh_passwords,
        "hash_seconds_each": round((time.monotonic() - started) / max(1, fresh), 4),
    }


def message(n: int, address: str) -> bytes:
    return (
        f"From: Pusher <push@bench.example>\r\nTo: {address}\r\nSubject: push {n} {time.time()}\r\n"
        f"Date: Mon, 1 Sep 2026 10:00:00 +0000\r\nMessage-ID: <push-{n}-{time.time_ns()}@bench.example>\r\n"
        f"\r\nNew mail {n}.\r\n"
    ).encode()


def deliver_loop(address: str) -> None:
    ingest.deliver(address=address, raw=message(-1, address))  # warm: connections, imports
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line.split()[1])
        raw = message(n, address)
        t0 = time.monotonic()
        ingest.deliver(address=address, raw=raw)
        print(f"t0 {t0} {time.monotonic() - t0}", flush=True)


def ingest_warm(address: str, corpus: Path, count: int) -> dict:
    files = sorted((corpus / "Maildir" / "cur").iterdir())[:count]
    raws = [f.read_bytes() for f in files]
    ingest.deliver(address=address, raw=raws[0])
    started = time.monotonic()
    octets = 0
    for raw in raws:
        ingest.deliver(address=address, raw=raw)
        octets += len(raw)
    seconds = time.monotonic() - started
    return {
        "messages": len(raws),
        "seconds": round(seconds, 3),
        "per_s": round(len(raws) / seconds, 1),
        "mb_per_s": round(octets / seconds / 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("setup")
    p.add_argument("--fresh", type=int, default=100)
    p = sub.add_parser("deliver-loop")
    p.add_argument("--to", default=READER)
    p = sub.add_parser("ingest-warm")
    p.add_argument("--to", default=INGEST)
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    if args.cmd == "setup":
        print(json.dumps(setup(args.fresh)))
    elif args.cmd == "deliver-loop":
        deliver_loop(args.to)
    else:
        print(json.dumps(ingest_warm(args.to, args.corpus, args.count)))


if __name__ == "__main__":
    main()
