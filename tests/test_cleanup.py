"""A test run leaves no temporary folder behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_test_run_removes_its_data_folder(tmp_path: Path) -> None:
    env = dict(os.environ, TMPDIR=str(tmp_path), DJANGO_SETTINGS_MODULE="tests.settings")
    env.pop("MAILKITE_DATA_DIR", None)  # as a developer's shell: the run makes its own
    env.pop("STATIC_ROOT", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_config.py::test_defaults_need_no_environment",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list(tmp_path.glob("mailkite-test-*"))
