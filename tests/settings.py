"""Test settings: the real settings, with data (blobs, certificates) in a throwaway directory."""

import atexit
import os
import shutil
import tempfile

if "MAILKITE_DATA_DIR" not in os.environ:  # processes the tests start inherit the parent's folder
    os.environ["MAILKITE_DATA_DIR"] = tempfile.mkdtemp(prefix="mailkite-test-")
    # The run that made the folder removes it (blobs, certificates, the SQLite test database).
    atexit.register(shutil.rmtree, os.environ["MAILKITE_DATA_DIR"], ignore_errors=True)
os.environ.setdefault("STATIC_ROOT", os.path.join(os.environ["MAILKITE_DATA_DIR"], "static"))

from mailkite.settings import *  # noqa: F403

# A file, not SQLite's shared in-memory database, so `manage.py` subprocesses (deliver, imapd) that
# tests start can open the same test database.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(os.environ["MAILKITE_DATA_DIR"], "test.sqlite3")}  # noqa: F405

# Django users' own passwords only: a fast hasher keeps fixtures quick. App-passwords keep argon2id.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
