"""Safe decoding of image attachments into RGB for OCR and the image encoder.

An attachment is untrusted bytes: its format is told from its content (never a file name or a
declared content type), its pixel count is checked from the header before any pixel is decoded
(a 20000x20000 one-colour PNG is a few KB on the wire and gigabytes in memory), and a truncated
file is an error rather than an image silently padded with grey.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from worker.errors import (
    CorruptMedia,
    EmptyAttachment,
    ImageTooLarge,
    MediaError,
    UnsupportedMediaType,
)

# Format name -> the Pillow plugin allowed to open it (Image.open(formats=...)), so that bytes
# sniffed as PNG can never be handed to some other, less hardened, decoder.
PIL_FORMATS = {
    "PNG": "PNG",
    "JPEG": "JPEG",
    "WEBP": "WEBP",
    "GIF": "GIF",
    "BMP": "BMP",
    "TIFF": "TIFF",
}

# Pillow raises these for truncated or damaged data while reading headers or pixels.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError)

_OTHER_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "PDF"),
    (b"PK\x03\x04", "ZIP (or an Office document)"),
    (b"PK\x05\x06", "ZIP (empty)"),
    (b"\x1f\x8b", "gzip"),
    (b"Rar!\x1a\x07", "RAR"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy Office document (OLE2)"),
    (b"OggS", "Ogg audio/video"),
    (b"ID3", "MP3 audio"),
    (b"fLaC", "FLAC audio"),
    (b"\x1a\x45\xdf\xa3", "Matroska/WebM video"),
    (b"MZ", "Windows executable"),
    (b"\x7fELF", "ELF executable"),
    (b"\x00\x00\x01\x00", "ICO icon"),
    (b"8BPS", "Photoshop PSD"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
)


def sniff_image_format(data: bytes) -> str | None:
    """The decodable image format the bytes start with (PNG, JPEG, WEBP, GIF, BMP, TIFF), or None.

    Magic numbers only: a name or declared type is chosen by the sender and proves nothing.
    """
    head = bytes(data[:16])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:2] == b"BM" and len(head) >= 14:
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    return None


def describe_bytes(data: bytes) -> str:
    """What non-image bytes look like, for an error message a user can act on."""
    head = bytes(data[:16])
    for signature, name in _OTHER_SIGNATURES:
        if head.startswith(signature):
            return name
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("latin-1")
        if brand in ("heic", "heix", "hevc", "mif1", "msf1"):
            return "HEIC/HEIF image (not supported: export it as PNG or JPEG)"
        if brand in ("avif", "avis"):
            return "AVIF image (not supported: export it as PNG or JPEG)"
        return f"MP4/QuickTime media (brand {brand!r})"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "WAV audio"
    sample = bytes(data[:2048])
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and sum(ch.isprintable() or ch.isspace() for ch in text) >= 0.95 * len(text):
        lowered = text.lstrip().lower()
        if lowered.startswith("<svg") or ("<svg" in lowered and lowered.startswith("<?xml")):
            return "SVG (vector image, not supported: export it as PNG)"
        if lowered.startswith(("<!doctype html", "<html")):
            return "HTML"
        return "text"
    return f"unknown, starts with 0x{head[:8].hex()}"


def decode_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Decode an attachment's bytes into an upright RGB image, refusing bombs and broken files.

    Raises EmptyAttachment, UnsupportedMediaType, ImageTooLarge or CorruptMedia.
    """
    if not data:
        raise EmptyAttachment("the image attachment is empty (0 bytes): nothing to decode")
    fmt = sniff_image_format(data)
    if fmt is None:
        raise UnsupportedMediaType(
            f"not an image this stage decodes: the bytes look like {describe_bytes(data)}; "
            f"send PNG, JPEG, WebP, GIF, BMP or TIFF"
        )
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Something in the process switched it on; a truncated upload would pass as an image.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True: refusing to decode")
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb guard (its global MAX_IMAGE_PIXELS) only warns below 2x the limit.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[PIL_FORMATS[fmt]])
            _check_pixels(img, fmt=fmt, max_pixels=max_pixels)
            if fmt == "PNG":
                _check_png_data(data)
            img.load()  # first frame only for GIF/WebP/TIFF
            img = ImageOps.exif_transpose(img)
            return to_rgb(img)
    except MediaError:
        raise  # ours (ImageTooLarge, CorruptMedia) are ValueErrors too: keep them as they are
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's guard fires inside Image.open, before our check could word it with the size.
        size = _declared_size(data, fmt)
        if size is not None and size[0] * size[1] > max_pixels:
            raise _too_large(fmt, size, max_pixels) from exc
        raise ImageTooLarge(
            f"{fmt} image refused as a decompression bomb by Pillow's own limit: {exc}"
        ) from exc
    except UnidentifiedImageError as exc:
        raise CorruptMedia(
            f"the bytes start like {fmt} but the header is damaged: cannot read the image"
        ) from exc
    except _DECODE_ERRORS as exc:
        raise CorruptMedia(f"{fmt} image is truncated or damaged ({exc}); send the file again") from exc
    except MemoryError as exc:
        raise ImageTooLarge(f"{fmt} image needs more memory to decode than this worker has") from exc
    except Exception as exc:  # noqa: BLE001 - crafted bytes reach corners of a decoder; the bytes are at fault
        raise CorruptMedia(
            f"{fmt} image is damaged: the decoder failed ({type(exc).__name__}: {str(exc)[:200]})"
        ) from exc


def _check_pixels(img: Image.Image, *, fmt: str, max_pixels: int) -> None:
    """Refuse from the header's dimensions, before a single pixel is allocated."""
    width, height = img.size
    if width <= 0 or height <= 0:
        raise CorruptMedia(f"{fmt} header declares an empty image ({width}x{height})")
    if width * height > max_pixels:
        raise _too_large(fmt, img.size, max_pixels)


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _png_raw_bytes(width: int, height: int, depth: int, colour: int, interlaced: bool) -> int:
    """How many bytes the header's image inflates to: each row is a filter byte and its pixels."""
    bits = depth * _PNG_CHANNELS.get(colour, 4)
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    total = 0
    for x0, y0, dx, dy in passes:
        cols, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if cols > 0 and rows > 0:
            total += rows * (1 + -(-cols * bits // 8))
    return total


def _check_png_data(data: bytes) -> None:
    """Refuse a PNG whose pixel data ends before the rows its header declares.

    Pillow pads such an image with black when its zlib stream ends cleanly (a file cut and closed
    again, or a header that lies about the height), so the data is inflated here, counted and
    dropped chunk by chunk. A damaged chunk structure is left to Pillow to report."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        return
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    expected = _png_raw_bytes(width, height, depth, colour, bool(interlace))
    inflater, produced, pos = zlib.decompressobj(), 0, 8
    while pos + 8 <= len(data) and produced < expected and not inflater.eof:
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IEND":
            break
        if kind == b"IDAT":
            pending = data[pos + 8 : pos + 8 + length]
            try:
                while produced < expected:  # an empty ``pending`` still drains output zlib holds back
                    piece = inflater.decompress(pending, 1 << 20)
                    produced, pending = produced + len(piece), inflater.unconsumed_tail
                    if not piece and not pending:
                        break
            except zlib.error:
                return
        pos += 12 + length
    if produced < expected:
        raise CorruptMedia(
            f"PNG image is truncated: its pixel data holds {produced:,} of the {expected:,} bytes "
            f"its {width}x{height} header declares; send the file again"
        )


def _too_large(fmt: str, size: tuple[int, int], max_pixels: int) -> ImageTooLarge:
    width, height = size
    return ImageTooLarge(
        f"{fmt} image is {width}x{height} = {width * height:,} pixels, over the limit of "
        f"{max_pixels:,} (max_image_pixels); send a smaller screenshot"
    )


def _declared_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """The header's dimensions, read by the format's plugin without Pillow's bomb check.

    Only to word the error about an image already refused; nothing is decoded.
    """
    try:
        factory, _accept = Image.OPEN[PIL_FORMATS[fmt]]
        return factory(io.BytesIO(data)).size
    except Exception:  # noqa: BLE001 - best effort: the refusal stands either way
        return None


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB with transparency composited on white: text on a transparent PNG stays readable."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(img)), mode="L").convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return img.convert("RGB")
    except ValueError as exc:
        raise UnsupportedMediaType(f"image colour mode {mode} cannot be converted to RGB") from exc


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Scale 16-bit, 32-bit or float greyscale to 0..255 (a plain convert would clip to white)."""
    values = arr.astype(np.float64)
    top = float(values.max()) if values.size else 0.0
    if arr.dtype.kind == "f" and top <= 1.0:
        scale = 255.0
    elif top <= 255.0 and arr.dtype.kind == "f":
        scale = 1.0
    elif top <= 65535.0:
        scale = 255.0 / 65535.0
    else:
        scale = 255.0 / top
    return np.clip(values * scale, 0, 255).astype(np.uint8)
