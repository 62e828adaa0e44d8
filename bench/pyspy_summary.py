"""Summarise a py-spy raw (collapsed stacks) profile: where imapd's time goes.

    python bench/pyspy_summary.py bench/results/profiles/read-10.txt [--thread imapd-db]

Prints the share of samples per thread, then the functions with the largest inclusive and self
shares (file:function, with the project's own files first in each stack).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def short(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "python3.11/", "src-", "main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "src-":
                path = path.split("/", 1)[1]
            break
    return f"{path}:{match['func']}"


def summarise(path: Path, thread_filter: str | None = None, top: int = 25) -> str:
    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        threads[frames[0][:60]] += count
        if thread_filter and thread_filter not in stack:
            continue
        total += count
        names = [short(f) for f in frames[1:]] or [short(frames[0])]
        for name in set(names):
            inclusive[name] += count
        self_[names[-1]] += count
    out = [
        f"{path.name}: {total} samples"
        + (f" in stacks containing {thread_filter!r}" if thread_filter else "")
    ]
    out.append("threads: " + ", ".join(f"{t} {c}" for t, c in threads.most_common(6)))
    out.append("inclusive:")
    out += [f"  {c / total:6.1%}  {n}" for n, c in inclusive.most_common(top)] if total else []
    out.append("self:")
    out += [f"  {c / total:6.1%}  {n}" for n, c in self_.most_common(15)] if total else []
    return "\n".join(out)


if __name__ == "__main__":
    flt = sys.argv[sys.argv.index("--thread") + 1] if "--thread" in sys.argv else None
    print(summarise(Path(sys.argv[1]), flt))
