"""SEARCH with n ANDed FROM keys: how its time grows with n (issue 10, "A few valid SEARCHes").

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/mailkite_search_bench \
        .venv/bin/python bench/search_keys.py [--messages 2000] [--keys 20,50,100,200,400]
    DATABASE_URL=sqlite:////tmp/search_bench.sqlite3 .venv/bin/python bench/search_keys.py

Fills one INBOX with `--messages` small messages (once; a second run reuses them), then times the
store call imapd makes for `UID SEARCH FROM "0" FROM "1" ... FROM "n-1"`: the key tree compiled by
imapd.searchq and run by imapd.store.search_rows, without the network or the command budget (so a
slow compile shows as time, not as NO [LIMIT]), nor the key caps. Prints
seconds and the number of UIDs found (checked against a plain Python filter) and, on a local
PostgreSQL, the backend's peak memory so far.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailkite.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--keys", default="20,50,100,200,400")
    parser.add_argument("--cap", type=float, default=60.0, help="skip larger n once one took longer")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from imapd import command as c
    from imapd import searchq, store
    from mailkite.mail import ingest, services
    from mailkite.mail.models import Folder, Mailbox, Message

    mailbox = Mailbox.objects.filter(local_part="bench").first()
    if mailbox is None:
        owner = get_user_model().objects.create_user(username="bench", email="b@bench.test", password="x")
        domain = services.create_domain(name="bench.test", owner=owner, mx_verified=True, retention="retain")
        mailbox = services.create_mailbox(domain=domain, local_part="bench")
    folder = Folder.objects.get(mailbox=mailbox, name="INBOX")
    have = Message.objects.filter(folder=folder).count()
    for i in range(have, args.messages):
        raw = (
            f"From: Sender {i * 7919 % 100003} <s{i}@example.com>\r\nTo: bench@bench.test\r\n"
            f"Subject: message {i}\r\nMessage-ID: <{i}@bench.test>\r\n"
            f"Date: Mon, 1 Jun 2026 12:00:00 +0000\r\n\r\nbody {i}\r\n"
        ).encode()
        ingest.store(mailbox=mailbox, raw=raw)
    folder.refresh_from_db()
    froms = dict(Message.objects.filter(folder=folder).values_list("uid", "text__from_text"))
    print(f"{connection_vendor()}: {len(froms)} messages in INBOX")
    for n in [int(x) for x in args.keys.split(",")]:
        words = [str(k) for k in range(n)]
        key = c.SearchAnd(tuple(c.SearchHeader("FROM", w) for w in words))
        started = time.perf_counter()
        query = searchq.compile_key(key, None)  # type: ignore[arg-type]  # FROM keys need no view
        uids = [row[0] for row in store.search_rows(folder.pk, query, folder.uidnext, ())]
        took = time.perf_counter() - started
        expected = sorted(u for u, text in froms.items() if all(w in text.lower() for w in words))
        check = "ok" if uids == expected else f"WRONG (expected {len(expected)})"
        print(f"n={n:4d}  {took:7.3f} s  {len(uids)} UIDs  {check}{backend_peak()}", flush=True)
        if took > args.cap:
            break


def backend_peak() -> str:
    """On a local PostgreSQL, the backend's peak resident memory so far (/proc VmHWM)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return ""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        with open(f"/proc/{pid}/status") as status:
            peak = next(line.split()[1] for line in status if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return ""
    return f"  backend peak {int(peak) // 1024} MiB"


def connection_vendor() -> str:
    from django.db import connection

    return connection.vendor


if __name__ == "__main__":
    main()
