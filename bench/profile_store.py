"""Profile the store-port and ingest paths behind the slow scenarios, outside the server.

    BENCH_SRC=... (the suite's environment) python bench/profile_store.py OUTDIR

Runs each path a bounded number of times under pyinstrument against the bench database that the
suite loaded, prints the wall time per call, and writes one text profile per path to OUTDIR.
Paths: SELECT's snapshot load, a sync batch of precomputed columns, a read's row + blob, a STORE of
a flag already set and of a new one, and ingest.store of corpus messages (MIME analysis, blob write,
transaction) into the ingest mailbox.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("BENCH_SRC") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailkite.settings")
import django  # noqa: E402

django.setup()

from pyinstrument import Profiler  # noqa: E402

from imapd import store  # noqa: E402
from mailkite.mail import blobstore, ingest, mime, services  # noqa: E402
from mailkite.mail.models import Folder  # noqa: E402


def timed(name: str, out: Path, fn, repeat: int) -> None:  # type: ignore[no-untyped-def]
    fn()  # warm
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    profiler.start()
    for _ in range(repeat):
        fn()
    profiler.stop()
    each = (time.perf_counter() - started) / repeat
    print(f"{name}: {each * 1000:.2f} ms per call ({repeat} calls)", flush=True)
    (out / (name.replace("/", "_").replace("\\", "").replace(" ", "_") + ".txt")).write_text(
        profiler.output_text(unicode=False, color=False, show_all=False)
    )


def main() -> None:
    out = Path(sys.argv[1])
    corpus = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    mailbox = services.find_mailbox("reader@bench.mailkite.test")
    inbox = Folder.objects.get(mailbox=mailbox, name="INBOX")
    _, states = store.snapshot(inbox.pk)
    uids = [s.uid for s in states]
    print(f"INBOX: {len(uids)} messages", flush=True)
    timed("snapshot (SELECT)", out, lambda: store.snapshot(inbox.pk), 10)
    cols = sorted(
        ["uid", "flags", "size", "internal_date", "internal_date_offset", "envelope", "bodystructure"]
    )
    timed("message_rows, sync batch of 200", out, lambda: store.message_rows(inbox.pk, uids[:200], cols), 20)
    body_cols = ["blob_id", "header_length", "parts", "size"]

    def read_one() -> None:
        row = store.message_rows(inbox.pk, [uids[len(uids) // 2]], body_cols)
        blobstore.get(next(iter(row.values()))["blob_id"])

    timed("read: row + blob", out, read_one, 200)
    target = uids[len(uids) // 3]
    store.store_flags(inbox.pk, [target], mode="add", bits=1, keywords=())
    timed(
        "STORE +FLAGS \\Seen, already set",
        out,
        lambda: store.store_flags(inbox.pk, [target], mode="add", bits=1, keywords=()),
        200,
    )
    flip = {"n": 0}

    def toggle() -> None:
        flip["n"] += 1
        store.store_flags(inbox.pk, [target], mode="add" if flip["n"] % 2 else "remove", bits=2, keywords=())

    timed("STORE +/-FLAGS \\Flagged, a change", out, toggle, 200)
    files = sorted((corpus / "Maildir" / "cur").iterdir())[:300]
    raws = [f.read_bytes() for f in files]
    timed(
        "mime.analyse", out, lambda: [mime.analyse(mime.normalise_line_endings(r)[0]) for r in raws[:100]], 1
    )
    ingest_box = services.find_mailbox("ingest@bench.mailkite.test")
    position = {"i": 0}

    def store_some() -> None:
        for _ in range(100):
            raw = raws[position["i"] % len(raws)] + b"X-Bench: %d\r\n" % position["i"]
            position["i"] += 1
            ingest.store(mailbox=ingest_box, raw=raw)

    timed("ingest.store x100", out, store_some, 2)


if __name__ == "__main__":
    main()
