"""Content-addressed blob storage through Django's storage API.

A blob is named by the SHA-256 of its bytes. Writes go to a temporary file in the same
directory, are fsynced, then renamed into place, so a crash never leaves a half-written blob
under a real name; an existing name is never renamed or overwritten (same name, same bytes).
Reads verify the hash, so silent corruption is an error rather than wrong mail.

`put_many` writes a batch under the same rules but fsyncs each directory it touched once, after
all its renames, instead of once per blob: a directory fsync makes every rename in it durable.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
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
        touched = _make_parents(full)
        _write_new(full, content.chunks())
        for directory in touched:
            _fsync_dir(directory)
        return name


def _make_parents(full: Path) -> list[Path]:
    """Create `full`'s missing parent folders; return the folders whose entries this will change.

    That is the blob's own folder (the rename) and the parent of every folder created here: a new
    folder is itself only durable once the folder holding it is fsynced.
    """
    touched = [full.parent]
    missing = []
    folder = full.parent
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    full.parent.mkdir(parents=True, exist_ok=True)
    touched += [created.parent for created in missing]
    return touched


def _write_new(full: Path, chunks: Iterable[bytes]) -> None:
    """Write to a temporary file beside `full`, fsync it, rename it to `full`. No directory fsync."""
    tmp = _write_temporary(full, chunks)
    try:
        _fsync_path(tmp)
        os.replace(tmp, full)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_dir(directory: Path) -> None:
    _fsync_path(directory)  # makes the renames (and folder creations) in it durable


def _storage() -> Any:
    return storages["blobs"]


def put(data: bytes) -> str:
    """Store `data` durably and return its SHA-256 (hex)."""
    return put_many([data])[0]


def get(sha256: str) -> bytes:
    """Read a blob back, verifying its hash."""
    with _storage().open(blob_name(sha256), "rb") as handle:
        data: bytes = handle.read()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise BlobCorrupt(f"blob {sha256} does not match its hash")
    return data


def missing(shas: Sequence[str]) -> list[str]:
    """Those of `shas` whose file is not in the store."""
    storage = _storage()
    if isinstance(storage, ContentAddressedStorage):  # a stat, without Django's name checks
        return [sha for sha in shas if not os.path.exists(storage.path(blob_name(sha)))]
    return [sha for sha in shas if not storage.exists(blob_name(sha))]


def remove(sha256: str) -> int | None:
    """Delete a blob's file; returns the bytes it held, None when it was not there.

    Only the collector (mail.blobgc) calls this, holding the blob's row lock: see its protocol.
    """
    return remove_file(blob_name(sha256))


TEMPORARY_PREFIX = ".incoming-"


@dataclass(frozen=True)
class StoredFile:
    name: str  # the storage name: a blob_name(), or a temporary file's
    size: int
    modified: datetime

    @property
    def sha256(self) -> str | None:
        """The blob this file is, or None for anything else (a temporary file, a stray)."""
        base = self.name.rsplit("/", 1)[-1]
        if len(base) == 64 and all(ch in "0123456789abcdef" for ch in base) and self.name == blob_name(base):
            return base
        return None

    @property
    def temporary(self) -> bool:
        return self.name.rsplit("/", 1)[-1].startswith(TEMPORARY_PREFIX)


def stored_files(folder: str = "") -> Iterator[StoredFile]:
    """Every file in the store, blobs and temporaries alike, depth first."""
    storage = _storage()
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:  # the store is empty, or a collector emptied this folder meanwhile
        return
    for name in files:
        full = f"{folder}/{name}" if folder else name
        try:
            yield StoredFile(full, storage.size(full), storage.get_modified_time(full))
        except FileNotFoundError:
            continue
    for sub in folders:
        yield from stored_files(f"{folder}/{sub}" if folder else sub)


def remove_file(name: str) -> int | None:
    """Delete any file of the store by its storage name; returns the bytes it held, None when it
    was not there."""
    storage = _storage()
    try:
        size: int = storage.size(name)
        storage.delete(name)
    except FileNotFoundError:
        return None
    return size


def put_many(blobs: Sequence[bytes]) -> list[str]:
    """Store each of `blobs` durably; return their SHA-256s (hex), in order.

    Each new blob goes the way `put` writes it — temporary file, fsync, rename, never over an
    existing name — but a step at a time for the whole batch, so the fsyncs can run side by side:
    a journalling filesystem commits concurrent fsyncs together, where one after another each waits
    for its own commit. Each folder touched is fsynced once at the end, before this returns, so
    every blob is durable before the transaction that references it commits.
    """
    shas = [hashlib.sha256(data).hexdigest() for data in blobs]
    storage = _storage()
    if not isinstance(storage, ContentAddressedStorage):  # another backend: its own atomic save
        for sha, data in zip(shas, blobs, strict=True):
            if not storage.exists(blob_name(sha)):
                storage.save(blob_name(sha), ContentFile(data))
        return shas
    touched: set[Path] = set()
    staged: dict[Path, Path] = {}  # final name -> temporary file, fsynced before it is renamed
    try:
        for sha, data in zip(shas, blobs, strict=True):
            full = Path(storage.path(blob_name(sha)))
            if full in staged or full.exists():  # same name, same bytes: stored already
                continue
            touched.update(_make_parents(full))
            staged[full] = _write_temporary(full, [data])
        _fsync_all(list(staged.values()))
        for full in list(staged):
            if not full.exists():  # another writer may have stored the same bytes meanwhile
                os.replace(staged[full], full)
            staged.pop(full).unlink(missing_ok=True)
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
    # Deepest first, so a new folder's own entries are durable before its entry in its parent is.
    _fsync_all(sorted(touched, key=lambda path: len(path.parts), reverse=True))
    return shas


def _write_temporary(full: Path, chunks: Iterable[bytes]) -> Path:
    """A new temporary file beside `full` holding `chunks`, not yet fsynced."""
    fd, tmp = tempfile.mkstemp(dir=full.parent, prefix=TEMPORARY_PREFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


FSYNC_THREADS = 16  # enough to fill a journal commit; fsync waits on the disk, not the CPU


def _fsync_all(paths: list[Path]) -> None:
    """fsync each file or folder in `paths`, side by side when there are several."""
    if len(paths) <= 1:
        for path in paths:
            _fsync_path(path)
        return
    with ThreadPoolExecutor(max_workers=min(FSYNC_THREADS, len(paths))) as threads:
        list(threads.map(_fsync_path, paths))  # list() re-raises the first OSError


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
