"""`scripts/demo` run for real: a busy port is named with the variable that moves it, before the
previous demo app-password is revoked."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, MAILKITE_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="mailkite.settings")
    env.pop("DATABASE_URL", None)  # its own SQLite file in tmp_path, never the test database
    env.pop("STATIC_ROOT", None)
    env.update(extra)
    return env


def _manage(tmp_path: Path, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_env(tmp_path),
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout


def test_a_busy_port_is_named_and_the_previous_password_survives(tmp_path: Path) -> None:
    _manage(tmp_path, "migrate", "-v0")
    _manage(tmp_path, "demo")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            ["scripts/demo"],
            cwd=ROOT,
            env=_env(tmp_path, WEB_PORT=str(port)),
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 1
    assert f"port {port} is busy" in result.stderr
    assert f"choose another with WEB_PORT, e.g. WEB_PORT={port + 1} scripts/demo" in result.stderr
    listed = _manage(tmp_path, "apppassword", "list").splitlines()
    assert [line.split("\t")[4] for line in listed] == ["active"]  # not revoked by a demo that never ran
