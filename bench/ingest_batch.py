"""Time `manage.py import_mail` of the bench corpus into PostgreSQL: the `ingest` figure, alone.

    .venv/bin/python bench/ingest_batch.py --messages 10000                 # this working tree
    .venv/bin/python bench/ingest_batch.py --src before=/path/to/old/tree --src after=.

For each source tree: a fresh database, `migrate`, the bench account (`ourside.py setup`), then the
corpus's INBOX and Sent through `import_mail`, timed from outside as suite.py times it. The corpus
is the suite's (corpus.py, same seed and cache directory under bench/work/), so the figures compare
with bench/RESULTS.md. Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust); no Redis, no
Dovecot, no root. Prints one JSON line per tree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus as corpus_mod
from servers import tls_files

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
DB_NAME = "mailkite_ingest_bench"


def env_for(src: Path, data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mailkite.settings",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}",
        "DEBUG": "false",  # DEBUG keeps every query in memory: not what production runs
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
        "ALLOWED_HOSTS": "localhost",
        "TLS_CERT": tls_files()["cert"],  # settings refuse production mode with the dev certificate
        "TLS_KEY": tls_files()["key"],
        "MAILKITE_DATA_DIR": str(data),
        "BLOB_DIR": str(data / "blobs"),
        "LOG_LEVEL": "WARNING",
        "BENCH_SRC": str(src),
    }


def run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=7200)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv[:3])} failed: {done.stdout[-1000:]} {done.stderr[-3000:]}")
    return done


def measure(label: str, src: Path, corpus_dir: Path, manifest: dict) -> dict:
    data = WORK / f"ingest-batch-{label}"
    shutil.rmtree(data, ignore_errors=True)
    for argv in (["dropdb", "--if-exists", "--force"], ["createdb"]):
        subprocess.run([*argv, "-h", "127.0.0.1", "-U", "postgres", DB_NAME], check=True)
    env = env_for(src, data)
    python = sys.executable
    run([python, "manage.py", "migrate", "--noinput"], env, src)
    account = json.loads(
        run([python, str(ROOT / "bench" / "ourside.py"), "setup", "--fresh", "0"], env, src)
        .stdout.strip()
        .splitlines()[-1]
    )
    result: dict = {"label": label, "src": str(src)}
    total_messages, total_seconds = 0, 0.0
    for folder, path in (("INBOX", corpus_dir / "Maildir"), ("Sent", corpus_dir / "Maildir" / ".Sent")):
        count = manifest["folders"][folder]["messages"]
        started = time.monotonic()
        done = run(
            [python, "manage.py", "import_mail", "--to", account["address"], "--folder", folder, str(path)],
            env,
            src,
        )
        seconds = time.monotonic() - started
        result[folder] = {
            "messages": count,
            "seconds": round(seconds, 1),
            "per_s": round(count / seconds, 1),
            "output": done.stdout.strip()[-200:],
        }
        total_messages += count
        total_seconds += seconds
    result["per_s"] = round(total_messages / total_seconds, 1)
    shutil.rmtree(data, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--attachment-share", type=float, default=0.005)
    parser.add_argument(
        "--src", action="append", metavar="LABEL=DIR", help="a project tree to measure (default: this one)"
    )
    args = parser.parse_args()
    corpus_dir = WORK / f"corpus-{args.messages}-s{args.seed}-a{args.attachment_share}"
    manifest = corpus_mod.generate(corpus_dir, args.messages, args.seed, args.attachment_share)
    trees = [s.split("=", 1) for s in (args.src or [f"tree={ROOT}"])]
    for label, src in trees:
        print(json.dumps(measure(label, Path(src).resolve(), corpus_dir, manifest)), flush=True)


if __name__ == "__main__":
    main()
