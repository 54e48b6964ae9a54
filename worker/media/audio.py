"""Decode a voice message into 16 kHz mono float32 samples, recognising the format by its bytes.

A file's name says nothing we can trust, so the format comes from its first bytes. Every
duration limit is checked before the whole file is decoded: against the container's own
claim first (a WAV header, FLAC STREAMINFO, the MP3 frames, an MP4 track), then while decoding,
so that a file lying about its length still stops at the limit. Damage shows as
:class:`CorruptMedia`, never as a half-decoded clip.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np

from worker.errors import (
    AudioTooLong,
    CorruptMedia,
    EmptyAttachment,
    MediaError,
    MediaTooLarge,
    SilentAudio,
    UnsupportedMediaType,
)

SAMPLE_RATE = 16_000
FORMATS = ("wav", "flac", "ogg", "mp3", "m4a")
_SOUNDFILE_FORMATS = ("wav", "flac", "ogg")
_BLOCK_S = 10.0  # soundfile reads this many seconds at a time, checking the limit in between
_STREAMING_SIZES = (0, 0xFFFFFFFF, 0x7FFFFFFF)  # data sizes a streaming writer leaves unset
_STREAMING_FLOOR = 0x7FFF0000  # espeak-ng writes 0x7FFFF000: "as much as a 32-bit size allows"
MIN_RATE, MAX_RATE = 1_000, 768_000  # a header claiming another rate lies (10^9 Hz resamples to nothing)
_MAX_PEAK = 1_000.0  # full scale is 1.0; a float file a little over it is clipped audio, this far is garbage
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}


@dataclass(frozen=True)
class Audio:
    """Decoded audio: float32 mono samples at :data:`SAMPLE_RATE`."""

    samples: np.ndarray
    duration_s: float
    format: str


# -- sniffing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _MpegHeader:
    frame_bytes: int
    samples: int  # per frame
    sample_rate: int


_MPEG_BITRATES = {  # kbit/s for bitrate indices 1..14, by (MPEG-1?, layer)
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_header(data: bytes, pos: int) -> _MpegHeader | None:
    """The MPEG audio frame header at ``pos``, or None when those bytes are not one."""
    if pos + 4 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
        return None
    b1, b2 = data[pos + 1], data[pos + 2]
    version, layer_bits = (b1 >> 3) & 3, (b1 >> 1) & 3
    bitrate_index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
    if version == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None  # reserved values; free-format streams are not accepted either
    layer = 4 - layer_bits
    mpeg1 = version == 3
    bitrate = _MPEG_BITRATES[(mpeg1, layer)][bitrate_index - 1] * 1000
    rate = _MPEG_RATES[version][rate_index]
    if layer == 1:
        return _MpegHeader((12 * bitrate // rate + padding) * 4, 384, rate)
    if layer == 2 or mpeg1:
        return _MpegHeader(144 * bitrate // rate + padding, 1152, rate)
    return _MpegHeader(72 * bitrate // rate + padding, 576, rate)


def _id3_end(data: bytes) -> int:
    """Offset just past any leading ID3v2 tags (0 when there are none)."""
    pos = 0
    while data[pos : pos + 3] == b"ID3" and pos + 10 <= len(data):
        size = 0
        for byte in data[pos + 6 : pos + 10]:  # a "synchsafe" integer: 7 bits a byte
            size = (size << 7) | (byte & 0x7F)
        footer = 10 if data[pos + 5] & 0x10 else 0
        pos += 10 + size + footer
    return pos


def _looks_like_mpeg(data: bytes, pos: int) -> bool:
    """A frame header at ``pos`` whose successor (when the bytes reach it) is one too."""
    header = _mpeg_header(data, pos)
    if header is None:
        return False
    following = pos + header.frame_bytes
    return following >= len(data) - 4 or _mpeg_header(data, following) is not None


def sniff_audio_format(data: bytes) -> str | None:
    """The audio format these bytes hold (one of :data:`FORMATS`), or None; never by name."""
    head = data[:12]
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp":
        box_end = min(len(data), max(16, int.from_bytes(data[:4], "big")), 256)
        brands = {data[i : i + 4] for i in range(8, box_end - 3, 4)}
        return None if brands & _IMAGE_BRANDS else "m4a"
    if head[:3] == b"ID3":
        start = _id3_end(data)
        if data[start : start + 4] == b"fLaC":
            return "flac"
        return "mp3"
    if _looks_like_mpeg(data, 0):
        return "mp3"
    return None


def _describe(data: bytes) -> str:
    """What unrecognised bytes look like, so that the error message helps the sender."""
    known = (
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
        (b"\x1a\x45\xdf\xa3", "a Matroska/WebM file"),
        (b"#!AMR", "an AMR voice file"),
        (b"MThd", "a MIDI file"),
    )
    for magic, name in known:
        if data.startswith(magic):
            return name
    if data[4:8] == b"ftyp":
        return "an ISO-BMFF image (HEIC/AVIF)"
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0:
        return "a raw ADTS AAC stream (send it in an .m4a container)"
    sample = data[:512]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and all(c.isprintable() or c.isspace() for c in text):
        return "text"
    return f"unrecognised bytes starting {data[:8].hex(' ')}"


# -- decoding --------------------------------------------------------------------------------


def decode_audio(data: bytes, *, max_seconds: float) -> Audio:
    """Decode ``data`` to 16 kHz mono float32, refusing empty, unknown, damaged or long input."""
    if not data:
        raise EmptyAttachment("the audio attachment is empty (0 bytes)")
    fmt = sniff_audio_format(data)
    if fmt is None:
        raise UnsupportedMediaType(
            f"not an audio format we decode (WAV, FLAC, Ogg, MP3, M4A): the bytes look like {_describe(data)}"
        )
    decode = _decode_soundfile if fmt in _SOUNDFILE_FORMATS else _decode_av
    try:
        samples, rate = decode(data, fmt=fmt, max_seconds=max_seconds)
    except MediaError:
        raise
    except MemoryError as exc:
        raise MediaTooLarge(f"the {fmt.upper()} file needs more memory to decode than this worker has") from exc
    except Exception as exc:  # noqa: BLE001 - crafted bytes reach corners of a decoder; the bytes are at fault
        raise CorruptMedia(f"the {fmt.upper()} file is damaged: {type(exc).__name__}: {str(exc)[:200]}") from exc
    if samples.size == 0:
        raise SilentAudio(f"the {fmt.upper()} file holds no audio samples")
    if not np.isfinite(samples).all():
        raise CorruptMedia(f"the {fmt.upper()} file holds non-finite samples (NaN or infinity)")
    peak = float(np.abs(samples).max())
    if peak > _MAX_PEAK:  # float samples run -1..1; these would overflow to infinity when resampled
        raise CorruptMedia(f"the {fmt.upper()} file holds samples of {peak:.3g}, far outside -1..1")
    mono = _resample(samples, rate)
    if mono.size == 0:
        raise SilentAudio(f"the {fmt.upper()} file is too short to hold any speech ({samples.size} samples)")
    return Audio(samples=mono, duration_s=mono.size / SAMPLE_RATE, format=fmt)


def _check_rate(rate: int, fmt: str) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise CorruptMedia(f"the {fmt.upper()} file declares {rate} Hz; audio is sampled at {MIN_RATE}-{MAX_RATE} Hz")


def _too_long(duration_s: float, max_seconds: float, *, at_least: bool = False) -> AudioTooLong:
    if at_least:  # found while decoding: the rest was never read
        return AudioTooLong(
            f"the audio runs past the {max_seconds:g} s limit (decoding stopped at {duration_s:.2f} s)"
        )
    return AudioTooLong(f"the audio lasts {duration_s:.1f} s; the limit is {max_seconds:g} s")


def _resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mono float32 at :data:`SAMPLE_RATE` (``samples`` is already mono at ``rate``)."""
    if rate != SAMPLE_RATE:
        import soxr

        samples = soxr.resample(samples, rate, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(samples, dtype=np.float32)


# WAV, FLAC and Ogg through libsndfile ----------------------------------------------------


def _decode_soundfile(data: bytes, *, fmt: str, max_seconds: float) -> tuple[np.ndarray, int]:
    """Samples (mono) and their rate; container checks first, then a block-wise read."""
    import soundfile as sf

    streaming = False
    if fmt == "wav":
        streaming = _check_wav_header(data, max_seconds=max_seconds)
    elif fmt == "ogg":
        _check_ogg_pages(data)
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            # A streamed WAV's header size is a placeholder: only the samples present count.
            rate, declared = f.samplerate, 0 if streaming else f.frames
            if rate <= 0 or f.channels <= 0:
                raise CorruptMedia(f"the {fmt.upper()} header declares {rate} Hz, {f.channels} channels")
            _check_rate(rate, fmt)
            if 0 < declared < 2**62 and declared / rate > max_seconds:
                raise _too_long(declared / rate, max_seconds)
            blocks, total = [], 0
            block = max(1, int(_BLOCK_S * rate))
            while True:
                chunk = f.read(block, dtype="float32", always_2d=True)
                if not len(chunk):
                    break
                total += len(chunk)
                if total / rate > max_seconds:
                    raise _too_long(total / rate, max_seconds, at_least=True)
                blocks.append(chunk.mean(axis=1, dtype=np.float32))
    except MediaError:
        raise
    except sf.LibsndfileError as exc:
        raise CorruptMedia(f"the {fmt.upper()} file cannot be decoded: {exc.error_string}") from exc
    except (RuntimeError, ValueError, TypeError) as exc:  # soundfile's own checks
        raise CorruptMedia(f"the {fmt.upper()} file cannot be decoded: {exc}") from exc
    if 0 < declared < 2**62 and total < declared:
        raise CorruptMedia(
            f"the {fmt.upper()} file is truncated: {total} of {declared} declared samples present"
        )
    samples = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    return samples, rate


def _check_wav_header(data: bytes, *, max_seconds: float) -> bool:
    """Refuse a WAV whose data chunk claims too long a duration, or is cut short; True when the
    file was streamed (its data size a placeholder).

    libsndfile quietly shortens a truncated data chunk to what is present, so the claim is read
    here. A streaming writer (espeak-ng --stdout, ffmpeg to a pipe) leaves the size at 0, all
    ones or near 2**31, beyond the end of the file: those are left to the block-wise read.
    """
    if data[:4] != b"RIFF":
        return False  # RF64 keeps its sizes in a ds64 chunk: libsndfile reads those
    pos, rate, block_align = 12, 0, 0
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"fmt " and body + 16 <= len(data):
            _, _, rate, _, block_align = struct.unpack_from("<HHIIH", data, body)
        elif chunk_id == b"data":
            if size in _STREAMING_SIZES or (size >= _STREAMING_FLOOR and body + size > len(data)):
                return True
            if not rate or not block_align:
                return False
            duration = size / block_align / rate
            if duration > max_seconds:
                raise _too_long(duration, max_seconds)
            if body + size > len(data):
                raise CorruptMedia(
                    f"the WAV file is truncated: its data chunk declares {size} bytes, "
                    f"{len(data) - body} are present"
                )
            return False
        pos = body + size + (size & 1)
    raise CorruptMedia("the WAV file has no data chunk (truncated or damaged)")


def _check_ogg_pages(data: bytes) -> None:
    """Walk the Ogg pages: each must be whole, and the last must close the stream (EOS).

    libsndfile decodes an Opus stream cut mid-page without complaint, as a shorter clip.
    """
    pos, flags = 0, 0
    while pos < len(data):
        if data[pos : pos + 4] != b"OggS" or pos + 27 > len(data):
            raise CorruptMedia(f"the Ogg file is damaged or truncated at byte {pos}")
        flags, segments = data[pos + 5], data[pos + 26]
        table = data[pos + 27 : pos + 27 + segments]
        end = pos + 27 + segments + sum(table)
        if len(table) < segments or end > len(data):
            raise CorruptMedia(f"the Ogg file is truncated: its page at byte {pos} is incomplete")
        pos = end
    if not flags & 0x04:
        raise CorruptMedia("the Ogg file is truncated: its last page does not end the stream")


# MP3 and M4A through PyAV ---------------------------------------------------------------


def _check_mp3_frames(data: bytes, *, max_seconds: float) -> None:
    """Walk the MPEG frames: refuse a long stream before decoding it, and a cut-off last frame."""
    pos = _id3_end(data)
    if _mpeg_header(data, pos) is None:
        raise CorruptMedia("the MP3 file has no MPEG audio frame where its data should start")
    duration = 0.0
    while (header := _mpeg_header(data, pos)) is not None:
        if pos + header.frame_bytes > len(data):
            raise CorruptMedia(
                f"the MP3 file is truncated: its last frame needs {header.frame_bytes} bytes, "
                f"{len(data) - pos} are present"
            )
        duration += header.samples / header.sample_rate
        if duration > max_seconds:
            raise _too_long(duration, max_seconds, at_least=True)
        pos += header.frame_bytes
    # Anything after the last frame is a trailing tag (ID3v1, APE) or junk decoders skip.


def _decode_av(data: bytes, *, fmt: str, max_seconds: float) -> tuple[np.ndarray, int]:
    """Samples (mono) and their rate from MP3 or an MP4/M4A audio track, decoded in memory."""
    import av

    if fmt == "mp3":
        _check_mp3_frames(data, max_seconds=max_seconds)
    demuxer = "mp3" if fmt == "mp3" else "mov"  # never let FFmpeg probe for other demuxers
    try:
        with av.open(io.BytesIO(data), mode="r", format=demuxer) as container:
            if not container.streams.audio:
                raise UnsupportedMediaType(f"the {fmt.upper()} container has no audio track")
            stream = container.streams.audio[0]
            declared = _declared_seconds(container, stream)
            if declared > max_seconds:
                raise _too_long(declared, max_seconds)
            samples, rate = _decode_stream(container, stream, fmt=fmt, max_seconds=max_seconds)
    except MediaError:
        raise
    except (av.FFmpegError, ValueError) as exc:
        raise CorruptMedia(f"the {fmt.upper()} file cannot be decoded: {exc}") from exc
    decoded = samples.size / rate if rate else 0.0
    if fmt == "m4a" and declared and decoded < declared - max(0.1, 0.05 * declared):
        raise CorruptMedia(
            f"the M4A file is truncated: {decoded:.2f} s decoded of {declared:.2f} s declared"
        )
    return samples, rate


def _declared_seconds(container, stream) -> float:
    """The duration the container claims (0.0 when it claims none)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def _decode_stream(container, stream, *, fmt: str, max_seconds: float) -> tuple[np.ndarray, int]:
    """Decode one audio stream to mono float32, stopping as soon as it passes ``max_seconds``."""
    import av

    resampler: av.AudioResampler | None = None
    rate, total, pieces = 0, 0, []
    for frame in container.decode(stream):
        if resampler is None:
            rate = frame.sample_rate
            _check_rate(rate, fmt)
            # Planar float at the stream's first rate: FFmpeg converts any sample format.
            resampler = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=rate)
        for out in resampler.resample(frame):
            pieces.append(out.to_ndarray().mean(axis=0, dtype=np.float32))
            total += out.samples
        if rate and total / rate > max_seconds:
            raise _too_long(total / rate, max_seconds, at_least=True)
    if resampler is not None:
        for out in resampler.resample(None):
            pieces.append(out.to_ndarray().mean(axis=0, dtype=np.float32))
    if not pieces:
        raise CorruptMedia(f"the {fmt.upper()} file holds no decodable audio frames")
    return np.concatenate(pieces), rate
