"""The one error tree: every error ticketfusion raises on purpose is a :class:`TicketfusionError`.

Each carries a ``code`` (what lands in a result's ``errors``) and a message that says what to fix.
A caller that wants every failure of ours catches ``TicketfusionError``; one that wants to tell a
missing model from bad input catches :class:`ModelNotBuilt` or :class:`MediaError`. The errors
named here are shared by several rooms; an error only one module raises lives beside it and
derives from a class here.
"""

from __future__ import annotations

from pathlib import Path

BUILD_HINT = "Run `ticketfusion models build` first."


class TicketfusionError(Exception):
    """Base of every named ticketfusion error; ``code`` names the case for results and logs."""

    code = "error"


class ModelNotBuilt(TicketfusionError, FileNotFoundError):
    """A model's files are missing or unreadable; the message names the file and the command
    that builds it."""

    code = "model_not_built"

    def __init__(self, path: Path | str | None = None, *, what: str = "model file", message: str | None = None,
                 fix: str = BUILD_HINT) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(message or f"{what} missing: {self.path}. {fix}")


class UnknownDevice(TicketfusionError, ValueError):
    """``device`` is none of auto, cuda, cpu."""

    code = "unknown_device"

    def __init__(self, device: str) -> None:
        self.device = device
        super().__init__(f"unknown device {device!r}: use auto, cuda or cpu (TICKETFUSION_DEVICE)")


class MediaError(TicketfusionError):
    """An attachment a media stage cannot use: the ticket is triaged on what remains."""

    code = "media_error"


class EmptyAttachment(MediaError, ValueError):
    """A zero-byte file: nothing to decode."""

    code = "empty_attachment"


class UnsupportedMediaType(MediaError, ValueError):
    """The bytes are not one of the formats this stage decodes (checked by content, not name)."""

    code = "unsupported_media_type"


class CorruptMedia(MediaError, ValueError):
    """The format is recognised but the file is truncated or damaged."""

    code = "corrupt_media"


class MediaTooLarge(MediaError, ValueError):
    """Over a size limit: bytes, pixels (a decompression bomb) or duration."""

    code = "media_too_large"


class ImageTooLarge(MediaTooLarge):
    """More pixels than the limit allows, as a decompression bomb would have."""

    code = "image_too_large"


class AudioTooLong(MediaTooLarge):
    """Longer than the configured duration limit."""

    code = "audio_too_long"


class SilentAudio(MediaError, ValueError):
    """Decoded fine, but voice activity detection found no speech."""

    code = "silent_audio"


class MediaModelMissing(ModelNotBuilt, MediaError):
    """A media model (OCR, speech, encoder, fusion) is not installed or not built: a
    :class:`ModelNotBuilt` that costs one attachment, not the ticket."""

    code = "media_model_missing"

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        super().__init__(path, message=message)
