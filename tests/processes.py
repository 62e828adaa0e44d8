"""Processes a test starts: `manage.py imapd` as a real server on a free port."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import IO

from tests.conftest import Certs

ROOT = Path(__file__).resolve().parents[1]


def start_imapd(
    certs: Certs, env: dict[str, str], *, stdin: int | IO[str] | None = None
) -> tuple[subprocess.Popen[str], int]:
    """`manage.py imapd` as a real process on a free port, once it says it is listening;
    (process, port). Its stdout stays a pipe for the caller; stderr is dropped."""
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "imapd",
            "--port",
            "0",
            "--cert",
            str(certs.cert),
            "--key",
            str(certs.key),
        ],
        cwd=ROOT,
        env=env,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "listening on" in line, line
    return process, int(line.split(":")[-1].split()[0])
