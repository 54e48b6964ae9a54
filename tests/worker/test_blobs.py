"""The content-addressed blob store: keys, idempotence, limits and URI resolution."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from worker.blobs import (
    AttachmentNotFound,
    AttachmentTooLarge,
    BlobNotFound,
    BlobStore,
    InvalidBlobUri,
    UnsupportedUriScheme,
)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_names_the_blob_by_its_sha256(tmp_path: Path) -> None:
    """put stores the bytes at root/ab/cd/<sha256> and returns blob://<sha256> with the size."""
    data = b"\x89PNG a screenshot of the error"
    digest = hashlib.sha256(data).hexdigest()
    store = BlobStore(tmp_path / "store")
    ref = store.put(_write(tmp_path / "shot.png", data), max_bytes=1024)
    assert ref.uri == f"blob://{digest}"
    assert (ref.sha256, ref.size_bytes) == (digest, len(data))
    assert ref.path == tmp_path / "store" / digest[:2] / digest[2:4] / digest
    assert ref.path.read_bytes() == data


def test_put_streams_files_larger_than_one_chunk(tmp_path: Path) -> None:
    """A multi-chunk file is copied whole and hashed over every chunk."""
    data = bytes(range(256)) * (3 * 4096 + 7)  # about 3 MiB, not a multiple of the chunk size
    ref = BlobStore(tmp_path / "store").put(_write(tmp_path / "big.wav", data), max_bytes=len(data))
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.path.read_bytes() == data


def test_put_is_idempotent_for_the_same_content(tmp_path: Path) -> None:
    """Two files with the same bytes share one key and one stored file; no temp file is left."""
    store = BlobStore(tmp_path / "store")
    first = store.put(_write(tmp_path / "a.png", b"same bytes"), max_bytes=100)
    second = store.put(_write(tmp_path / "copy/b.png", b"same bytes"), max_bytes=100)
    again = store.put(tmp_path / "a.png", max_bytes=100)
    assert first == second == again
    assert _stored_files(tmp_path / "store") == [first.path]


def test_different_content_gets_different_keys(tmp_path: Path) -> None:
    """Changing one byte changes the key."""
    store = BlobStore(tmp_path / "store")
    one = store.put(_write(tmp_path / "a.png", b"version 1"), max_bytes=100)
    two = store.put(_write(tmp_path / "b.png", b"version 2"), max_bytes=100)
    assert one.uri != two.uri
    assert len(_stored_files(tmp_path / "store")) == 2


def test_put_refuses_a_file_over_the_limit(tmp_path: Path) -> None:
    """An over-size file raises AttachmentTooLarge naming path, size, limit; stores nothing."""
    source = _write(tmp_path / "huge.png", b"x" * 101)
    store = BlobStore(tmp_path / "store")
    with pytest.raises(AttachmentTooLarge) as caught:
        store.put(source, max_bytes=100)
    assert (caught.value.path, caught.value.size, caught.value.limit) == (source, 101, 100)
    assert "101 bytes" in str(caught.value) and "100" in str(caught.value)
    assert _stored_files(tmp_path / "store") == []


def test_put_accepts_a_file_exactly_at_the_limit(tmp_path: Path) -> None:
    """The limit is inclusive."""
    ref = BlobStore(tmp_path / "store").put(
        _write(tmp_path / "edge.png", b"x" * 100), max_bytes=100
    )
    assert ref.size_bytes == 100


def test_put_refuses_a_missing_file(tmp_path: Path) -> None:
    """A missing path, or a folder, raises AttachmentNotFound naming the path."""
    store = BlobStore(tmp_path / "store")
    with pytest.raises(AttachmentNotFound) as caught:
        store.put(tmp_path / "gone.png", max_bytes=100)
    assert caught.value.path == tmp_path / "gone.png"
    with pytest.raises(AttachmentNotFound):
        store.put(tmp_path, max_bytes=100)


def test_resolve_blob_uri_gives_the_stored_file(tmp_path: Path) -> None:
    """resolve(blob://key) returns the file put stored."""
    store = BlobStore(tmp_path / "store")
    ref = store.put(_write(tmp_path / "a.png", b"pixels"), max_bytes=100)
    assert store.resolve(ref.uri) == ref.path


def test_resolve_file_uri_and_plain_paths(tmp_path: Path) -> None:
    """file:// URIs (percent-decoded), absolute paths and paths relative to base all resolve."""
    source = _write(tmp_path / "my files" / "voice note.wav", b"RIFF")
    store = BlobStore(tmp_path / "store")
    assert store.resolve("file://" + str(source).replace(" ", "%20")) == source
    assert store.resolve("file://localhost" + str(source)) == source
    assert store.resolve(str(source)) == source
    assert store.resolve("my files/voice note.wav", base=tmp_path) == source


def test_resolve_refuses_unknown_schemes(tmp_path: Path) -> None:
    """http(s)://, s3:// and file://otherhost raise UnsupportedUriScheme naming the scheme."""
    store = BlobStore(tmp_path / "store")
    for uri, scheme in [("https://example.com/a.png", "https"), ("s3://bucket/a.png", "s3")]:
        with pytest.raises(UnsupportedUriScheme) as caught:
            store.resolve(uri)
        assert caught.value.scheme == scheme
    with pytest.raises(UnsupportedUriScheme):
        store.resolve("file://fileserver/share/a.png")


def test_resolve_reports_missing_and_malformed_references(tmp_path: Path) -> None:
    """An unknown blob key, a malformed key and a missing file each raise their own named error."""
    store = BlobStore(tmp_path / "store")
    with pytest.raises(BlobNotFound):
        store.resolve("blob://" + "0" * 64)
    with pytest.raises(InvalidBlobUri):
        store.resolve("blob://not-a-digest")
    with pytest.raises(AttachmentNotFound):
        store.resolve(str(tmp_path / "missing.png"))
