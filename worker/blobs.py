"""A content-addressed local blob store, so attachments travel by reference, never inside messages.

A blob lives at ``root/ab/cd/<sha256>`` and is named ``blob://<sha256>``. Writes go to a temporary
file in the same store and are renamed into place, so a reader never sees half a blob, and the
same content always lands on the same key (putting it twice is harmless).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from worker.errors import TicketfusionError

BLOB_SCHEME = "blob"
_CHUNK = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class BlobError(TicketfusionError):
    """Base of the store's errors, so a caller can catch them all in one place."""


class AttachmentNotFound(BlobError, FileNotFoundError):
    """A local attachment file does not exist (or is not a regular file)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        super().__init__(f"attachment not found: {self.path}")


class AttachmentTooLarge(BlobError, ValueError):
    """A file is over the configured attachment limit; the message says by how much."""

    def __init__(self, path: Path | str, size: int, limit: int) -> None:
        self.path, self.size, self.limit = Path(path), size, limit
        super().__init__(f"attachment {self.path} is {size} bytes; the limit is {limit}")


class UnsupportedUriScheme(BlobError, ValueError):
    """A URI names a scheme the store cannot read (only blob://, file:// and plain paths)."""

    def __init__(self, uri: str, scheme: str) -> None:
        self.uri, self.scheme = uri, scheme
        super().__init__(
            f"unsupported URI scheme {scheme!r} in {uri!r}: use blob://, file:// or a path"
        )


class InvalidBlobUri(BlobError, ValueError):
    """A ``blob://`` URI whose key is not a lowercase hex sha256, or a path no file system can hold."""

    def __init__(self, uri: str, reason: str = "expected blob://<64 lowercase hex digits>") -> None:
        self.uri = uri
        super().__init__(f"invalid attachment URI {uri[:200]!r}: {reason}")


class BlobNotFound(BlobError, FileNotFoundError):
    """A well-formed ``blob://`` key that this store does not hold."""

    def __init__(self, uri: str, path: Path) -> None:
        self.uri, self.path = uri, path
        super().__init__(f"blob {uri} not found in the store (looked at {path})")


@dataclass(frozen=True)
class BlobRef:
    """Where a stored file now lives and what an ``Attachment`` needs to say about it."""

    uri: str
    sha256: str
    size_bytes: int
    path: Path


def scheme_of(uri: str) -> str | None:
    """The URI's scheme, or None for a path (only ``x://`` counts, so ``C:\\x`` is a path)."""
    match = _SCHEME.match(uri)
    return match.group(1).lower() if match else None


def local_path(uri: str, *, base: Path | None = None) -> Path | None:
    """The file a ``file://`` URI or a path names (relative to ``base``); None for a blob.

    Raises :class:`UnsupportedUriScheme` for any other scheme. Does not check that the file exists.
    """
    scheme = scheme_of(uri)
    if scheme == BLOB_SCHEME:
        return None
    if scheme == "file":
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise UnsupportedUriScheme(uri, f"file://{parts.netloc}")
        return Path(unquote(parts.path))
    if scheme is not None:
        raise UnsupportedUriScheme(uri, scheme)
    path = Path(uri).expanduser()
    return path if path.is_absolute() or base is None else base / path


class BlobStore:
    """Content-addressed files under ``root``; safe to share between producers and workers."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        """Where the blob with this digest lives (two fan-out levels keep folders small)."""
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, path: Path, *, max_bytes: int) -> BlobRef:
        """Copy ``path`` into the store, streaming, and return its ``blob://`` reference."""
        source = Path(path)
        if not source.is_file():
            raise AttachmentNotFound(source)
        size = source.stat().st_size
        if size > max_bytes:  # cheap refusal before reading anything
            raise AttachmentTooLarge(source, size, max_bytes)
        with source.open("rb") as src:
            return self.put_stream(src, max_bytes=max_bytes, name=str(source))

    def put_bytes(self, data: bytes, *, max_bytes: int, name: str = "attachment") -> BlobRef:
        """Store bytes already in memory (an e-mail part, an upload); ``name`` is for errors."""
        if len(data) > max_bytes:
            raise AttachmentTooLarge(name, len(data), max_bytes)
        return self.put_stream(io.BytesIO(data), max_bytes=max_bytes, name=name)

    def put_stream(self, src: BinaryIO, *, max_bytes: int, name: str = "attachment") -> BlobRef:
        """Copy a readable stream into the store, refusing it once it passes ``max_bytes``."""
        source = name
        tmp_dir = self.root / ".tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        written = 0
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="put-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:  # the file grew while we read it
                        raise AttachmentTooLarge(source, written, max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)  # workers may run as another user
            key = digest.hexdigest()
            target = self.path_for(key)
            if target.is_file() and target.stat().st_size == written:
                tmp.unlink()  # already stored: same content, same key
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return BlobRef(uri=f"{BLOB_SCHEME}://{key}", sha256=key, size_bytes=written, path=target)

    def resolve(self, uri: str, *, base: Path | None = None) -> Path:
        """The local file behind ``blob://``, ``file://`` or a path; a named error when absent."""
        try:
            path = local_path(uri, base=base)
        except BlobError:
            raise
        except (RuntimeError, ValueError, OSError) as exc:  # "~nosuchuser", "file://[::1", a name too long
            raise InvalidBlobUri(uri, f"not a usable path or file URI ({type(exc).__name__})") from None
        if path is None:
            key = uri[len(BLOB_SCHEME) + 3 :]
            if not _SHA256.match(key):
                raise InvalidBlobUri(uri)
            stored = self.path_for(key)
            if not stored.is_file():
                raise BlobNotFound(uri, stored)
            return stored
        try:
            found = path.is_file()
        except OSError as exc:  # a name too long for the file system
            raise InvalidBlobUri(uri, f"not a usable path ({exc.strerror or type(exc).__name__})") from None
        if not found:
            raise AttachmentNotFound(path)
        return path
