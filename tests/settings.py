"""Test settings: the real settings, with data (blobs, certificates) in a throwaway directory."""

import os
import tempfile

os.environ.setdefault("MAILKITE_DATA_DIR", tempfile.mkdtemp(prefix="mailkite-test-"))

from mailkite.settings import *  # noqa: F403

# Django users' own passwords only: a fast hasher keeps fixtures quick. App-passwords keep argon2id.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
