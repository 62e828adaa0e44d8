"""The content-addressed blob store on a real directory: round trip, naming, corruption, temp files."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from mailkite.mail import blobstore


@pytest.fixture
def blob_dir(settings, tmp_path: Path) -> Path:
    location = tmp_path / "blobs"
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "mailkite.mail.blobstore.ContentAddressedStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    return location


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_put_then_get_round_trips(blob_dir: Path):
    data = b"From: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n"
    sha = blobstore.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert blobstore.get(sha) == data
    assert files_under(blob_dir) == [blob_dir / sha[:2] / sha[2:4] / sha]
    assert blobstore.blob_name(sha) == f"{sha[:2]}/{sha[2:4]}/{sha}"


def test_binary_and_empty_blobs_round_trip(blob_dir: Path):
    for data in (b"", bytes(range(256)) * 1000, b"\x00\r\n\xff"):
        assert blobstore.get(blobstore.put(data)) == data


def test_same_content_same_name_written_once(blob_dir: Path):
    data = b"the same bytes"
    first = blobstore.put(data)
    path = blob_dir / blobstore.blob_name(first)
    before = path.stat()
    second = blobstore.put(data)
    assert first == second
    assert files_under(blob_dir) == [path]
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_saving_over_an_existing_name_neither_renames_nor_overwrites(blob_dir: Path):
    sha = blobstore.put(b"original")
    storage = blobstore._storage()
    name = blobstore.blob_name(sha)
    assert storage.save(name, ContentFile(b"something else")) == name
    assert files_under(blob_dir) == [blob_dir / name]
    assert blobstore.get(sha) == b"original"


def test_a_tampered_blob_raises_blob_corrupt(blob_dir: Path):
    sha = blobstore.put(b"honest bytes")
    (blob_dir / blobstore.blob_name(sha)).write_bytes(b"honest bytez")
    with pytest.raises(blobstore.BlobCorrupt, match=sha):
        blobstore.get(sha)


def test_a_truncated_blob_raises_blob_corrupt(blob_dir: Path):
    sha = blobstore.put(b"a longer message body")
    (blob_dir / blobstore.blob_name(sha)).write_bytes(b"a longer")
    with pytest.raises(blobstore.BlobCorrupt):
        blobstore.get(sha)


def test_a_missing_blob_is_an_os_error(blob_dir: Path):
    with pytest.raises(FileNotFoundError):
        blobstore.get("0" * 64)


def test_no_temporary_files_are_left_behind(blob_dir: Path):
    for index in range(20):
        blobstore.put(f"message {index}".encode() * 1000)
    names = [p.name for p in files_under(blob_dir)]
    assert len(names) == 20
    assert not [n for n in names if n.startswith(".incoming-")]
    assert all(len(n) == 64 for n in names)


class FailingContent(ContentFile):
    """Content whose second chunk fails to arrive, as a reader dying mid-write would."""

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        yield b"first half"
        raise OSError("the source went away")


def test_a_failed_write_leaves_neither_a_blob_nor_a_temporary_file(blob_dir: Path):
    storage = blobstore._storage()
    name = blobstore.blob_name(hashlib.sha256(b"never written").hexdigest())
    with pytest.raises(OSError, match="went away"):
        storage.save(name, FailingContent(b"never written"))
    assert files_under(blob_dir) == []
    assert not storage.exists(name)


# ---------------------------------------------------------------------------------------------------
# put_many: a batch


def test_put_many_round_trips_in_order_and_writes_each_name_once(blob_dir: Path):
    existing = blobstore.put(b"stored before")
    before = (blob_dir / blobstore.blob_name(existing)).stat()
    batch = [b"one", b"two", b"one", b"stored before", b"", bytes(range(256)) * 100]
    shas = blobstore.put_many(batch)
    assert shas == [hashlib.sha256(data).hexdigest() for data in batch]
    for sha, data in zip(shas, batch, strict=True):
        assert blobstore.get(sha) == data
    assert len(files_under(blob_dir)) == 5  # "one" twice in the batch, one file
    after = (blob_dir / blobstore.blob_name(existing)).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # never rewritten
    assert not [p for p in files_under(blob_dir) if p.name.startswith(".incoming-")]


def test_put_many_that_cannot_write_leaves_no_temporary_files(blob_dir: Path):
    blob_dir.mkdir()
    blocked = hashlib.sha256(b"blocked").hexdigest()
    (blob_dir / blocked[:2]).write_bytes(b"a file where a folder must go")
    with pytest.raises(OSError):
        blobstore.put_many([b"fine", b"blocked"])
    names = [p.name for p in files_under(blob_dir)]
    assert not [n for n in names if n.startswith(".incoming-")]
    assert blocked not in names
