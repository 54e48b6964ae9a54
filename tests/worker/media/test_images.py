"""Safe image decoding: formats told by content, bombs refused before decoding, corrupt files named."""

from __future__ import annotations

import inspect
import io
import os
import struct
import time
import zlib

import pytest
from PIL import Image, ImageFile

from worker.errors import (
    CorruptMedia,
    EmptyAttachment,
    ImageTooLarge,
    MediaError,
    UnsupportedMediaType,
)
from worker.media.images import decode_image, sniff_image_format

LIMIT = 40_000_000
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def two_halves(size: tuple[int, int] = (64, 32)) -> Image.Image:
    """Left half red, right half blue: orientation and colours can be checked after decoding."""
    img = Image.new("RGB", size, BLUE)
    img.paste(RED, (0, 0, size[0] // 2, size[1]))
    return img


def noise(size: tuple[int, int]) -> Image.Image:
    """Incompressible pixels, so that cutting the file in half cuts pixel data, not padding."""
    return Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(side: int = 20000) -> bytes:
    """A real one-colour 1-bit PNG of side x side pixels: ~50 KB compressed, 400 MB once decoded."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row * 1000) for _ in range(side // 1000)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_each_format_decodes_to_rgb(fmt: str) -> None:
    """Every supported format is recognised by its bytes and decodes to an RGB image of its size."""
    data = encode(two_halves(), fmt)
    assert sniff_image_format(data) == fmt
    img = decode_image(data, max_pixels=LIMIT)
    assert img.mode == "RGB"
    assert img.size == (64, 32)
    r, g, b = img.getpixel((5, 16))
    assert r > 200 and b < 60, (fmt, (r, g, b))


def test_format_comes_from_content_not_a_declared_name() -> None:
    """A JPEG that its uploader called a PNG is decoded as JPEG: no name or type is even accepted."""
    data = encode(two_halves(), "JPEG")
    assert set(inspect.signature(decode_image).parameters) == {"data", "max_pixels"}
    assert sniff_image_format(data) == "JPEG"
    assert decode_image(data, max_pixels=LIMIT).size == (64, 32)


def test_exif_orientation_is_applied() -> None:
    """EXIF orientation 6 (rotate 90 degrees clockwise to display) turns the image upright."""
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(two_halves((64, 32)), "JPEG", exif=exif.tobytes(), quality=95)
    img = decode_image(data, max_pixels=LIMIT)
    assert img.size == (32, 64)
    top, bottom = img.getpixel((16, 5)), img.getpixel((16, 58))
    assert top[0] > 200 and top[2] < 60  # the stored left (red) half is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_animated_gif_gives_first_frame() -> None:
    """An animated GIF decodes to its first frame only."""
    frames = [Image.new("RGB", (16, 16), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    img = decode_image(data, max_pixels=LIMIT)
    assert img.getpixel((8, 8)) == RED


def test_zero_bytes_is_empty_attachment() -> None:
    """Zero bytes is its own error, not 'unsupported' nor 'corrupt'."""
    with pytest.raises(EmptyAttachment, match="0 bytes") as info:
        decode_image(b"", max_pixels=LIMIT)
    assert info.value.code == "empty_attachment"


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        (b"PK\x03\x04\x14\x00\x00\x00", "ZIP"),
        (b"Hello, my card does not work. Please help.\n", "text"),
        (bytes(range(0x90, 0xA0)) * 4, "unknown, starts with 0x9091929394959697"),
    ],
)
def test_non_images_are_named(data: bytes, looks_like: str) -> None:
    """Bytes of another kind are refused as unsupported, saying what they look like."""
    assert sniff_image_format(data) is None
    with pytest.raises(UnsupportedMediaType, match=looks_like) as info:
        decode_image(data, max_pixels=LIMIT)
    assert info.value.code == "unsupported_media_type"


def test_random_bytes_are_unsupported() -> None:
    """Random bytes that happen not to start with an image signature are unsupported."""
    data = b"\x00\x01" + os.urandom(4096)
    with pytest.raises(UnsupportedMediaType, match="unknown"):
        decode_image(data, max_pixels=LIMIT)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_is_corrupt(fmt: str) -> None:
    """Half a PNG or JPEG is CorruptMedia, never an image padded with grey."""
    data = encode(noise((256, 256)), fmt)
    with pytest.raises(CorruptMedia, match=fmt) as info:
        decode_image(data[: len(data) // 2], max_pixels=LIMIT)
    assert info.value.code == "corrupt_media"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_damaged_header_is_corrupt() -> None:
    """A PNG signature followed by garbage is corrupt (recognised format, unreadable header)."""
    with pytest.raises(CorruptMedia):
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 8, max_pixels=LIMIT)


def test_png_bomb_refused_from_header_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 20000x20000 PNG of a few KB is refused from its header, fast, without loading pixels."""
    data = png_bomb()
    assert len(data) < 100_000

    def no_load(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_load)
    start = time.perf_counter()
    with pytest.raises(ImageTooLarge, match=r"20000x20000 = 400,000,000 pixels.*40,000,000") as info:
        decode_image(data, max_pixels=LIMIT)
    assert time.perf_counter() - start < 0.5
    assert info.value.code == "image_too_large"


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height and holds no pixel data at all."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IEND", b"")


def test_pillow_bomb_guard_still_applies_above_our_limit() -> None:
    """With a generous max_pixels, Pillow's own bomb warning becomes an ImageTooLarge error."""
    data = png_header_only(10_000, 10_000)  # 100 M pixels: over Pillow's 89 M warning threshold
    with pytest.raises(ImageTooLarge, match="Pillow's own limit"):
        decode_image(data, max_pixels=10**12)


@pytest.mark.parametrize("side", [7_000, 10_000, 100_000])
def test_too_large_names_dimensions_whichever_guard_fires(side: int) -> None:
    """Under, between and over Pillow's thresholds, the error states the dimensions and our limit."""
    with pytest.raises(ImageTooLarge, match=rf"{side}x{side} = .* pixels, over the limit of 40,000,000"):
        decode_image(png_header_only(side, side), max_pixels=LIMIT)


def test_pixel_limit_is_the_callers() -> None:
    """The limit comes from the keyword: the same image passes at 2048 pixels and fails at 2047."""
    data = encode(two_halves((64, 32)), "PNG")
    assert decode_image(data, max_pixels=64 * 32).size == (64, 32)
    with pytest.raises(ImageTooLarge, match="64x32"):
        decode_image(data, max_pixels=64 * 32 - 1)


def test_rgba_composited_on_white() -> None:
    """Transparent pixels become white and opaque ones keep their colour."""
    img = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    img.paste((255, 0, 0, 255), (0, 0, 10, 10))
    out = decode_image(encode(img, "PNG"), max_pixels=LIMIT)
    assert out.mode == "RGB"
    assert out.getpixel((2, 5)) == RED
    assert out.getpixel((15, 5)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("mode", "fmt"), [("P", "PNG"), ("LA", "PNG"), ("1", "PNG"), ("CMYK", "TIFF"), ("CMYK", "JPEG")]
)
def test_other_modes_become_rgb(mode: str, fmt: str) -> None:
    """Palette, grey+alpha, bilevel and CMYK images all come out as RGB."""
    img = two_halves().convert(mode)
    out = decode_image(encode(img, fmt), max_pixels=LIMIT)
    assert out.mode == "RGB"
    assert out.size == (64, 32)


def test_16_bit_grey_is_scaled_not_clipped() -> None:
    """A mid-grey 16-bit PNG stays mid-grey (a plain convert would clip it to white)."""
    img = Image.new("I;16", (8, 8), 32768)
    out = decode_image(encode(img, "PNG"), max_pixels=LIMIT)
    assert out.mode == "RGB"
    assert 120 <= out.getpixel((4, 4))[0] <= 135


def test_errors_are_media_errors() -> None:
    """Every refusal is a MediaError, so that the pipeline turns it into an ErrorEntry."""
    for data in (b"", b"%PDF-1.4", b"\x89PNG\r\n\x1a\n\x00"):
        with pytest.raises(MediaError):
            decode_image(data, max_pixels=LIMIT)
