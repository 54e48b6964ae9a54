"""Named errors of the media stages; each carries the ``code`` that lands in a result's ``errors``.

A media stage raises one of these for input it cannot use; the pipeline turns it into an
``ErrorEntry`` for that attachment and triages the ticket on what remains.
"""

from __future__ import annotations


class MediaError(Exception):
    """Base of every media-stage error: ``code`` names the case, the message says what to fix."""

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


class MediaModelMissing(MediaError, RuntimeError):
    """A media model (OCR, speech, encoder) is not installed or not built."""

    code = "media_model_missing"
