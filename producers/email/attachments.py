"""Decide what each attachment is, store screenshots and voice notes, list the rest.

Only images and audio that the worker can read (README: PNG, JPEG, WebP, GIF, BMP, TIFF; WAV,
FLAC, OGG, MP3, M4A) go to the blob store; the kind is read from the bytes first, as the worker
does, because mail clients label files ``application/octet-stream`` or worse. Everything else, and
anything over the count or size limits, is listed with its reason and left out: one oversized
attachment never costs the message.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from producers.email.headers import one_line
from producers.email.mimetree import Leaf
from producers.email.textparts import payload_bytes
from worker.blobs import BlobStore
from worker.contract import Attachment, AttachmentKind, Limits

TRACKING_PIXEL_BYTES = 256  # smaller images are spacers and beacons, not screenshots
MAX_LISTED = 50

_DECLARED: dict[str, AttachmentKind] = {
    **dict.fromkeys(
        ["image/png", "image/jpeg", "image/jpg", "image/pjpeg", "image/webp", "image/gif", "image/bmp",
         "image/x-bmp", "image/x-ms-bmp", "image/tiff", "image/tif"],
        AttachmentKind.image,
    ),
    **dict.fromkeys(
        ["audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/flac", "audio/x-flac",
         "audio/ogg", "application/ogg", "audio/mpeg", "audio/mp3", "audio/x-mpeg", "audio/mpeg3",
         "audio/mp4", "audio/m4a", "audio/x-m4a"],
        AttachmentKind.audio,
    ),
}
_EXTENSIONS = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
    ".gif": "image/gif", ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff",
    ".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg",
    ".mp3": "audio/mpeg", ".m4a": "audio/mp4",
}
_BMP_HEADERS = {12, 40, 52, 56, 64, 108, 124}


def sniff(data: bytes) -> str | None:
    """The media type the bytes show, for the formats the worker reads; None otherwise."""
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:2] == b"BM" and len(data) > 18 and int.from_bytes(data[14:18], "little") in _BMP_HEADERS:
        return "image/bmp"
    if head[:4] == b"fLaC":
        return "audio/flac"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] in (0xFB, 0xF3, 0xF2, 0xFA)):
        return "audio/mpeg"
    if head[4:8] == b"ftyp" and head[8:12] in (b"M4A ", b"M4B "):
        return "audio/mp4"
    return None


def filename_of(part: Message) -> str | None:
    """The part's file name (RFC 2231 and 2047 decoded), reduced to a safe base name."""
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001
        name = None
    if not name:
        return None
    name = one_line(str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    return name[:200] or None


def _declared_type(ctype: str, filename: str | None) -> str:
    if ctype in ("application/octet-stream", "application/x-download", "binary/octet-stream") and filename:
        lower = filename.lower()
        for extension, guessed in _EXTENSIONS.items():
            if lower.endswith(extension):
                return guessed
        return mimetypes.guess_type(lower)[0] or ctype
    return ctype


@dataclass
class Stored:
    """The stored attachments and the listed ones (with the reason each was left out)."""

    attachments: list[Attachment] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def _skip(stored: Stored, name: str | None, ctype: str, size: int, reason: str) -> None:
    stored.skipped.append(
        {"filename": name, "content_type": one_line(ctype)[:100], "size_bytes": size, "reason": reason}
    )


def store_attachments(leaves: list[Leaf], *, blobs: BlobStore, limits: Limits) -> Stored:
    """Store readable images and audio by content (blob://sha256); list every other part."""
    stored = Stored()
    seen: set[str] = set()
    for leaf in leaves:
        name = filename_of(leaf.part)
        data = payload_bytes(leaf.part)
        size = len(data)
        declared = _declared_type(leaf.content_type, name)
        media_type = sniff(data) or (declared if declared in _DECLARED else None)
        kind = _DECLARED.get(media_type or "")
        if kind is None:
            _skip(stored, name, declared, size, "unsupported_type")
        elif size == 0:
            _skip(stored, name, declared, size, "empty")
        elif kind is AttachmentKind.image and size < TRACKING_PIXEL_BYTES:
            _skip(stored, name, declared, size, "too_small")
        elif size > limits.max_attachment_bytes:
            _skip(stored, name, declared, size, f"too_large: the limit is {limits.max_attachment_bytes} bytes")
        elif (digest := hashlib.sha256(data).hexdigest()) in seen:
            _skip(stored, name, declared, size, "duplicate")
        elif len(stored.attachments) >= limits.max_attachments:
            _skip(stored, name, declared, size, f"too_many: the limit is {limits.max_attachments} attachments")
        else:
            ref = blobs.put_bytes(data, max_bytes=limits.max_attachment_bytes, name=name or "e-mail attachment")
            seen.add(digest)
            fields = {"kind": kind, "uri": ref.uri, "content_type": media_type, "size_bytes": ref.size_bytes,
                      "sha256": ref.sha256}
            stored.attachments.append(Attachment.model_validate(fields, context={"limits": limits}))
    return stored
