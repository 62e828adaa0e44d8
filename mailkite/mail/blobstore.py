"""Content-addressed blob storage through Django's storage API.

A blob is named by the SHA-256 of its bytes. Writes go to a temporary file in the same
directory, are fsynced, then renamed into place, so a crash never leaves a half-written blob
under a real name; an existing name is never renamed or overwritten (same name, same bytes).
Reads verify the hash, so silent corruption is an error rather than wrong mail.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages


class BlobCorrupt(Exception):
    """The bytes read back do not hash to their name."""


def blob_name(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class ContentAddressedStorage(FileSystemStorage):
    """FileSystemStorage that writes atomically and never renames on a clash."""

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return name  # the name is the content: a clash is the same bytes

    def _save(self, name: str, content: Any) -> str:
        full = Path(self.path(name))
        if full.exists():
            return name
        full.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=full.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in content.chunks():
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, full)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(full.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)
        return name


def _storage() -> Any:
    return storages["blobs"]


def put(data: bytes) -> str:
    """Store `data` durably and return its SHA-256 (hex)."""
    sha = hashlib.sha256(data).hexdigest()
    storage = _storage()
    name = blob_name(sha)
    if not storage.exists(name):
        storage.save(name, ContentFile(data))
    return sha


def get(sha256: str) -> bytes:
    """Read a blob back, verifying its hash."""
    with _storage().open(blob_name(sha256), "rb") as handle:
        data: bytes = handle.read()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise BlobCorrupt(f"blob {sha256} does not match its hash")
    return data
