"""Valid media files made on the fly (Pillow, soundfile, PyAV), and a decoder run in a child process
with a time and memory bound, so that a hang or a runaway allocation fails one example instead of
the test run."""

from __future__ import annotations

import io
import multiprocessing
import resource
import signal
import struct
import zlib
from functools import lru_cache

import numpy as np

IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
AUDIO_FORMATS = ("wav", "flac", "ogg", "mp3", "m4a")
MAX_PIXELS = 4_000_000
MAX_SECONDS = 30.0
MEMORY_BYTES = 3 * 1024**3  # address space of the decoding child: a bomb must be refused, not tried
CALL_SECONDS = 20  # one decode; the slowest valid one here takes well under a second


@lru_cache(maxsize=None)
def image_bytes(fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    """A small valid image in ``fmt`` with some structure (gradient and a block)."""
    from PIL import Image

    width, height = size
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    rgb = np.stack([x, x[::-1, ::-1], np.full_like(x, 90)], axis=-1)
    rgb[height // 4 : height // 2, width // 4 : width // 2] = (250, 10, 10)
    image = Image.fromarray(rgb, "RGB").convert(mode)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def _tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(np.float32)


@lru_cache(maxsize=None)
def audio_bytes(fmt: str, seconds: float = 0.5, rate: int = 16_000) -> bytes:
    """A short valid voice-note-like tone in ``fmt`` (WAV, FLAC, Ogg Vorbis through libsndfile;
    MP3 and M4A/AAC through PyAV's bundled FFmpeg)."""
    samples = _tone(seconds, rate)
    if fmt in ("wav", "flac", "ogg"):
        import soundfile

        out = io.BytesIO()
        subtype = {"wav": "PCM_16", "flac": "PCM_16", "ogg": "VORBIS"}[fmt]
        soundfile.write(out, samples, rate, format=fmt.upper(), subtype=subtype)
        return out.getvalue()
    import av

    out = io.BytesIO()
    container_format, codec, out_rate = ("mp3", "libmp3lame", 22050) if fmt == "mp3" else ("ipod", "aac", rate)
    with av.open(out, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=out_rate, layout="mono")
        if out_rate != rate:
            import soxr

            samples = soxr.resample(samples, rate, out_rate).astype(np.float32)
        frame_size = stream.codec_context.frame_size or 1152
        for start in range(0, len(samples), frame_size):
            piece = samples[start : start + frame_size][None, :]
            frame = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
            frame.sample_rate = out_rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


# -- decoding in a bounded child ------------------------------------------------------------


def _child(connection) -> None:
    """Decode what the parent sends; answer the outcome's class name, or the stray exception."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    from worker.errors import MediaError
    from worker.media.audio import decode_audio
    from worker.media.images import decode_image

    while True:
        try:
            kind, data = connection.recv()
        except EOFError:
            return
        signal.alarm(CALL_SECONDS)
        try:
            if kind == "allocate":  # proves the cap: asks for ``len(data)`` GiB
                answer = ("ok", str(len(bytearray(len(data) * 1024**3))))
            elif kind == "image":
                image = decode_image(data, max_pixels=MAX_PIXELS)
                answer = ("ok", f"{image.mode} {image.size}")
            else:
                audio = decode_audio(data, max_seconds=MAX_SECONDS)
                assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
                assert np.isfinite(audio.samples).all()
                answer = ("ok", f"{audio.format} {audio.duration_s:.2f}s")
        except MediaError as exc:
            answer = ("media_error", f"{type(exc).__name__}({exc.code}): {str(exc)[:200]}")
        except BaseException as exc:  # noqa: BLE001 - exactly what the test looks for
            answer = ("stray", f"{type(exc).__name__}: {str(exc)[:300]}")
        finally:
            signal.alarm(0)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        connection.send((*answer, peak))


class BoundedDecoder:
    """A child process that decodes one attachment at a time under a time and memory bound."""

    def __init__(self) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._start()

    def _start(self) -> None:
        self._parent, child = self._ctx.Pipe()
        self._process = self._ctx.Process(target=_child, args=(child,), daemon=True)
        self._process.start()
        child.close()

    def decode(self, kind: str, data: bytes) -> tuple[str, str, int]:
        """(outcome, detail, peak RSS bytes): outcome is ok, media_error, stray, hang or crash."""
        self._parent.send((kind, bytes(data)))
        if not self._parent.poll(CALL_SECONDS + 10):
            self.close()
            self._start()
            return "hang", f"no answer in {CALL_SECONDS + 10} s", 0
        try:
            return self._parent.recv()
        except EOFError:
            code = self._process.exitcode
            self.close()
            self._start()
            return "crash", f"the decoding process died (exit code {code})", 0

    def close(self) -> None:
        self._parent.close()
        self._process.join(timeout=2)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


@lru_cache(maxsize=None)
def variants() -> tuple[tuple[str, str, bytes], ...]:
    """(kind, name, bytes): each format in several encodings (interlaced, progressive, CMYK, EXIF
    rotation, animation, multi-page, TIFF compressions; PCM 8/16/24-bit, float, u-law, ADPCM,
    stereo, FLAC 24-bit, Vorbis, Opus, MP3, AAC), so that mutations reach many decoder paths."""
    from PIL import Image

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    base = Image.fromarray(pixels)
    out: list[tuple[str, str, bytes]] = []

    def image(img, fmt: str, name: str = "", **options) -> None:
        buffer = io.BytesIO()
        img.save(buffer, format=fmt, **options)
        out.append(("image", f"{fmt} {name}".strip(), buffer.getvalue()))

    exif = base.getexif()
    exif[0x0112] = 6  # rotated 90 degrees
    frames = [base.convert("P")] + [Image.fromarray(np.roll(pixels, i, 0)).convert("P") for i in range(1, 4)]
    image(base, "PNG")
    image(base, "PNG", "interlaced", interlace=1)
    image(base.convert("RGBA"), "PNG", "RGBA")
    image(base.convert("P"), "PNG", "palette", transparency=0)
    image(Image.fromarray(pixels[..., 0].astype(np.uint16) * 200), "PNG", "16-bit")
    image(base, "JPEG")
    image(base, "JPEG", "progressive", progressive=True)
    image(base.convert("CMYK"), "JPEG", "CMYK")
    image(base, "JPEG", "EXIF rotation", exif=exif.tobytes())
    image(base, "WEBP")
    image(base, "WEBP", "lossless", lossless=True)
    image(frames[0], "GIF", "animated", save_all=True, append_images=frames[1:])
    image(frames[0], "WEBP", "animated", save_all=True, append_images=frames[1:])
    image(base, "BMP")
    image(base.convert("1"), "BMP", "1-bit")
    for compression in ("raw", "tiff_lzw", "tiff_deflate", "jpeg", "packbits"):
        image(base, "TIFF", compression, compression=compression)
    image(frames[0], "TIFF", "multi-page", save_all=True, append_images=frames[1:])
    image(base.convert("1"), "TIFF", "group4", compression="group4")
    image(Image.fromarray(pixels[..., 0].astype(np.float32)), "TIFF", "float")

    import soundfile

    tone = _tone(0.4, 16_000)
    for fmt, subtype, channels, rate in [
        ("WAV", "PCM_16", 1, 16_000), ("WAV", "PCM_U8", 2, 8_000), ("WAV", "FLOAT", 1, 44_100),
        ("WAV", "PCM_24", 2, 48_000), ("WAV", "ULAW", 1, 8_000), ("WAV", "IMA_ADPCM", 1, 16_000),
        ("FLAC", "PCM_24", 2, 44_100), ("FLAC", "PCM_16", 1, 8_000), ("OGG", "VORBIS", 2, 44_100),
        ("OGG", "OPUS", 1, 48_000), ("MP3", "MPEG_LAYER_III", 1, 22_050),
    ]:
        buffer = io.BytesIO()
        soundfile.write(buffer, np.stack([tone] * channels, 1) if channels > 1 else tone, rate, format=fmt,
                        subtype=subtype)
        out.append(("audio", f"{fmt} {subtype} {channels}ch {rate} Hz", buffer.getvalue()))
    out += [("audio", "M4A AAC", audio_bytes("m4a")), ("audio", "MP3 lame", audio_bytes("mp3"))]
    return tuple(out)


# -- mutations ---------------------------------------------------------------------------------

EXTREMES = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x10000, 44100, 0xFFFFFFFE]


def mutate(data: bytes, steps: list[tuple[str, int, int]]) -> bytes:
    """``data`` after each (operation, position, argument) step: cut, a flipped bit, an extreme byte,
    a 4-byte header field set to an extreme value, a deleted or a repeated slice."""
    out = bytearray(data)
    for op, a, b in steps:
        if not out:
            break
        pos = a % len(out)
        if op == "truncate":
            del out[pos:]
        elif op == "flip":
            out[pos] ^= 1 << (b % 8)
        elif op == "byte":
            out[pos] = EXTREMES[b % len(EXTREMES)] & 0xFF
        elif op == "int32":  # a header field that lies: a size, a rate, a dimension
            header = a % min(len(out), 96)
            value = EXTREMES[b % len(EXTREMES)]
            out[header : header + 4] = struct.pack("<I" if b & 16 else ">I", value)
        elif op == "delete":
            del out[pos : pos + 1 + b % 64]
        elif op == "repeat":
            out[pos:pos] = out[pos : pos + 1 + b % 512] * (1 + b % 8)
    return bytes(out)


# -- a catalogue of hostile files, each with the codes it may get --------------------------------

def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int) -> bytes:
    """A few dozen bytes whose header declares ``width`` x ``height`` pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _png_chunk(b"IEND", b""))


def _sized(fmt: str, offset: int, packing: str, width: int, height: int) -> bytes:
    data = bytearray(image_bytes(fmt))
    if fmt == "JPEG":
        offset = data.find(b"\xff\xc0") + 5
    data[offset : offset + struct.calcsize(packing)] = struct.pack(packing, height, width) if fmt == "JPEG" else \
        struct.pack(packing, width, height)
    return bytes(data)


def wav_declaring(rate: int, channels: int, bits: int, data_size: int, payload: bytes = b"\x01" * 2000,
                  tag: int = 1) -> bytes:
    """A WAV header saying what we like about the samples that follow."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate & 0xFFFFFFFF, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    return (b"RIFF" + struct.pack("<I", (36 + data_size) & 0xFFFFFFFF) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", data_size & 0xFFFFFFFF) + payload)


def _big_image(fmt: str, side: int = 5_000) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L" if fmt != "GIF" else "P", (side, side)).save(out, format=fmt)
    return out.getvalue()


def _long_flac(seconds: int = 120) -> bytes:
    import soundfile

    out = io.BytesIO()
    soundfile.write(out, np.zeros(8_000 * seconds, np.float32), 8_000, format="FLAC")
    return out.getvalue()


@lru_cache(maxsize=None)
def cases() -> dict[str, tuple[str, bytes, frozenset[str]]]:
    """name -> (declared kind, bytes, the codes the decoders may give them): bombs, mislabelled and
    empty files, lying headers."""
    return {name: (kind, data, frozenset(codes)) for name, (kind, data, codes) in {
        # decompression bombs: huge declared dimensions, tiny files
        "png 100000x100000": ("image", png_declaring(100_000, 100_000), {"image_too_large"}),
        "png 2^31-1 x 1": ("image", png_declaring(2**31 - 1, 1), {"image_too_large"}),
        "png 0x0": ("image", png_declaring(0, 0), {"corrupt_media"}),
        "png 1 x 3M, no pixels": ("image", png_declaring(1, 3_000_000), {"corrupt_media"}),
        "jpeg 65500x65500": ("image", _sized("JPEG", 0, ">HH", 65_500, 65_500), {"image_too_large"}),
        "gif 65535x65535": ("image", _sized("GIF", 6, "<HH", 65_535, 65_535), {"image_too_large"}),
        "bmp 100000x100000": ("image", _sized("BMP", 18, "<ii", 100_000, 100_000), {"image_too_large"}),
        "bmp -2^31 height": ("image", _sized("BMP", 18, "<ii", 10, -(2**31)), {"image_too_large", "corrupt_media"}),
        "bmp 1999x1999, 64x48 of pixels": ("image", _sized("BMP", 18, "<ii", 1_999, 1_999), {"corrupt_media"}),
        **{f"{fmt.lower()} 5000x5000 real": ("image", _big_image(fmt), {"image_too_large"})
           for fmt in ("PNG", "WEBP", "GIF", "TIFF")},
        # mislabelled and empty
        **{f"{fmt.lower()} declared audio": ("audio", image_bytes(fmt), {"unsupported_media_type"}) for fmt in IMAGE_FORMATS},
        **{f"{fmt} declared image": ("image", audio_bytes(fmt), {"unsupported_media_type"}) for fmt in AUDIO_FORMATS},
        "zero-length image": ("image", b"", {"empty_attachment"}),
        "zero-length audio": ("audio", b"", {"empty_attachment"}),
        "pdf as image": ("image", b"%PDF-1.7\n" + b"0" * 100, {"unsupported_media_type"}),
        "svg as image": ("image", b"<svg xmlns='http://www.w3.org/2000/svg'/>", {"unsupported_media_type"}),
        # lying audio headers
        "wav declaring 5 hours": ("audio", wav_declaring(16_000, 1, 16, 16_000 * 2 * 3600 * 5), {"audio_too_long"}),
        "wav at 1 Hz": ("audio", wav_declaring(1, 1, 16, 2_000), {"audio_too_long", "corrupt_media"}),
        "wav at 8 Hz": ("audio", wav_declaring(8, 1, 16, 200, b"\x01" * 200), {"corrupt_media"}),
        "wav of one sample": ("audio", wav_declaring(48_000, 1, 16, 2, b"\x01\x00"), {"silent_audio"}),
        "wav at 2^31 Hz": ("audio", wav_declaring(2**31, 1, 16, 2_000), {"corrupt_media"}),
        "wav at 10^9 Hz": ("audio", wav_declaring(10**9, 1, 8, 1_000, b"\x80" * 1_000), {"corrupt_media"}),
        "wav at 0 Hz": ("audio", wav_declaring(0, 1, 16, 2_000), {"corrupt_media"}),
        "wav with 0 channels": ("audio", wav_declaring(16_000, 0, 16, 2_000), {"corrupt_media"}),
        "wav with 65535 channels": ("audio", wav_declaring(16_000, 65_535, 16, 2_000), {"corrupt_media"}),
        "wav with 0-bit samples": ("audio", wav_declaring(16_000, 1, 0, 2_000), {"corrupt_media"}),
        "wav of NaN floats": ("audio", wav_declaring(16_000, 1, 32, 4_000, np.full(1_000, np.nan, "<f4").tobytes(), 3),
                              {"corrupt_media"}),
        "wav of 3e38 floats at 44.1 kHz": ("audio", wav_declaring(44_100, 1, 32, 4_000, np.full(1_000, 3e38, "<f4").tobytes(),
                                                                   3), {"corrupt_media"}),
        "wav data past the end": ("audio", wav_declaring(16_000, 1, 16, 20_000, b"\x01" * 100), {"corrupt_media"}),
        "wav header only": ("audio", wav_declaring(16_000, 1, 16, 0, b""), {"silent_audio", "corrupt_media"}),
        "riff, no chunks": ("audio", b"RIFF\x00\x00\x00\x00WAVE", {"corrupt_media"}),
        "flac of 2 minutes": ("audio", _long_flac(), {"audio_too_long"}),
        "mp3 frames repeated for minutes": ("audio", audio_bytes("mp3") * 400, {"audio_too_long"}),
        "id3 tag declaring 256 MB": ("audio", b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f", {"corrupt_media"}),
        "ftyp box alone": ("audio", b"\x00\x00\x00\x14ftypM4A \x00\x00\x00\x00M4A ", {"corrupt_media"}),
        "heic declared audio": ("audio", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", {"unsupported_media_type"}),
    }.items()}
