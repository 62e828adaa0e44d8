"""Test settings: the real settings, with data (blobs, certificates) in a throwaway directory."""

import os
import tempfile

os.environ.setdefault("MAILKITE_DATA_DIR", tempfile.mkdtemp(prefix="mailkite-test-"))
os.environ.setdefault("STATIC_ROOT", os.path.join(os.environ["MAILKITE_DATA_DIR"], "static"))

from mailkite.settings import *  # noqa: F403

# A file, not SQLite's shared in-memory database, so `manage.py` subprocesses (deliver, imapd) that
# tests start can open the same test database.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(os.environ["MAILKITE_DATA_DIR"], "test.sqlite3")}  # noqa: F405

# Django users' own passwords only: a fast hasher keeps fixtures quick. App-passwords keep argon2id.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
