"""CI's log never shows the database password (scripts/test, which .ci/run ends in)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_scripts_test_masks_the_database_password() -> None:
    # A server that is never reached: only the pytest banner and collection run.
    url = "postgresql://ci:s3cret-Pa55@127.0.0.1:1/mailkite"
    env = dict(os.environ, DATABASE_URL=url)
    result = subprocess.run(
        ["scripts/test", "--collect-only", "-q", "tests/test_config.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "== pytest (postgresql://ci:***@127.0.0.1:1/mailkite)" in result.stderr
    assert "s3cret-Pa55" not in result.stdout + result.stderr
