"""Decoding voice messages: formats by content, resampling, and every way a file can be refused."""

from __future__ import annotations

import io
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from worker.errors import (
    AudioTooLong,
    CorruptMedia,
    EmptyAttachment,
    SilentAudio,
    UnsupportedMediaType,
)
from worker.media.audio import SAMPLE_RATE, Audio, decode_audio, sniff_audio_format

FORMATS = ("wav", "flac", "ogg", "mp3", "m4a")


def tone(seconds: float = 1.0, *, rate: int = SAMPLE_RATE, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def encode(samples: np.ndarray, fmt: str, *, rate: int = SAMPLE_RATE) -> bytes:
    """Bytes of ``samples`` (frames or frames x channels) in ``fmt``, made in memory."""
    if fmt == "m4a":
        return _encode_m4a(samples, rate=rate)
    import soundfile as sf

    container, subtype = {
        "wav": ("WAV", "PCM_16"),
        "flac": ("FLAC", "PCM_16"),
        "ogg": ("OGG", "VORBIS"),
        "opus": ("OGG", "OPUS"),
        "mp3": ("MP3", "MPEG_LAYER_III"),
    }[fmt]
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=container, subtype=subtype)
    return buffer.getvalue()


def _encode_m4a(samples: np.ndarray, *, rate: int) -> bytes:
    import av

    planar = np.atleast_2d(samples.T if samples.ndim == 2 else samples).astype(np.float32)
    layout = "stereo" if planar.shape[0] == 2 else "mono"
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = layout
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar), format="fltp", layout=layout)
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buffer.getvalue()


def peak_hz(audio: Audio) -> float:
    spectrum = np.abs(np.fft.rfft(audio.samples))
    return float(np.argmax(spectrum) * SAMPLE_RATE / audio.samples.size)


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    """One second of a 440 Hz tone in each format (Opus too, in Ogg)."""
    samples = tone(1.0)
    return {fmt: encode(samples, fmt) for fmt in (*FORMATS, "opus")}


@pytest.mark.parametrize("fmt", [*FORMATS, "opus"])
def test_each_format_decodes(files: dict[str, bytes], fmt: str) -> None:
    """Every supported container decodes to 16 kHz mono float32 that still sounds like the tone."""
    audio = decode_audio(files[fmt], max_seconds=10)
    assert audio.format == ("ogg" if fmt == "opus" else fmt)
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.duration_s == pytest.approx(audio.samples.size / SAMPLE_RATE)
    assert 0.95 <= audio.duration_s <= 1.2  # AAC and MP3 add an encoder delay
    assert np.abs(audio.samples).max() == pytest.approx(0.3, abs=0.08)
    assert peak_hz(audio) == pytest.approx(440, abs=5)


@pytest.mark.parametrize("fmt", [*FORMATS, "opus"])
def test_sniffing_names_the_format(files: dict[str, bytes], fmt: str) -> None:
    """The format is recognised from the first bytes alone."""
    assert sniff_audio_format(files[fmt]) == ("ogg" if fmt == "opus" else fmt)


@pytest.mark.parametrize("fmt", ["wav", "flac", "m4a"])
def test_8khz_stereo_becomes_16khz_mono(fmt: str) -> None:
    """Stereo at 8 kHz is averaged to mono and resampled to 16 kHz."""
    left = tone(1.0, rate=8000, freq=300, amp=0.4)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)  # one silent channel halves the level
    audio = decode_audio(encode(stereo, fmt, rate=8000), max_seconds=10)
    assert audio.samples.ndim == 1
    assert 0.99 <= audio.duration_s <= 1.2
    assert np.abs(audio.samples).max() == pytest.approx(0.2, abs=0.04)
    assert peak_hz(audio) == pytest.approx(300, abs=5)


def test_zero_bytes_are_an_empty_attachment() -> None:
    """A 0-byte file is refused as empty, with its own code."""
    with pytest.raises(EmptyAttachment) as caught:
        decode_audio(b"", max_seconds=10)
    assert caught.value.code == "empty_attachment"


def test_random_bytes_are_unsupported() -> None:
    """Noise bytes are no audio format; the message says what they look like."""
    data = np.random.default_rng(7).bytes(4096)
    assert sniff_audio_format(data) is None
    with pytest.raises(UnsupportedMediaType, match="look like unrecognised bytes starting"):
        decode_audio(data, max_seconds=10)


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "PNG image"),
        (b"%PDF-1.7\n" + bytes(64), "PDF"),
        ("Hello, my card was declined\n".encode(), "text"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
    ],
)
def test_unsupported_message_names_what_it_is(data: bytes, looks_like: str) -> None:
    """An image, a PDF or text sent as a voice note is named in the refusal."""
    with pytest.raises(UnsupportedMediaType, match=looks_like):
        decode_audio(data, max_seconds=10)


@pytest.mark.parametrize("fmt", [*FORMATS, "opus"])
@pytest.mark.parametrize("keep", [0.6, 0.95])
def test_truncated_files_are_corrupt(files: dict[str, bytes], fmt: str, keep: float) -> None:
    """A file cut short is refused as corrupt, never decoded as a shorter clip."""
    data = files[fmt]
    with pytest.raises(CorruptMedia) as caught:
        decode_audio(data[: int(len(data) * keep)], max_seconds=10)
    assert caught.value.code == "corrupt_media"


def test_wav_header_claiming_ten_hours_is_refused_quickly() -> None:
    """A header declaring 10 h is refused from the header alone, saying duration and limit."""
    rate, seconds = 16_000, 10 * 3600
    size = seconds * rate * 2
    header = b"RIFF" + struct.pack("<I", 36 + size) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    header += b"data" + struct.pack("<I", size)
    started = time.perf_counter()
    with pytest.raises(AudioTooLong, match=r"36000\.0 s; the limit is 180 s"):
        decode_audio(header + bytes(32_000), max_seconds=180)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("fmt", FORMATS)
def test_over_long_audio_is_refused(fmt: str) -> None:
    """Three seconds of audio against a two-second limit is refused in every format."""
    with pytest.raises(AudioTooLong) as caught:
        decode_audio(encode(tone(3.0), fmt), max_seconds=2)
    assert caught.value.code == "audio_too_long"
    assert "2 s" in str(caught.value)


def test_wav_named_mp3_is_decoded_by_content(tmp_path: Path) -> None:
    """The name a sender gives a file does not matter: a WAV called .mp3 decodes as WAV."""
    path = tmp_path / "voice-note.mp3"
    path.write_bytes(encode(tone(1.0), "wav"))
    audio = decode_audio(path.read_bytes(), max_seconds=10)
    assert audio.format == "wav"
    assert audio.duration_s == pytest.approx(1.0)


def test_non_finite_samples_are_corrupt() -> None:
    """A float WAV carrying NaN is refused as corrupt rather than fed to the models."""
    import soundfile as sf

    samples = tone(0.5)
    samples[100] = np.nan
    buffer = io.BytesIO()
    sf.write(buffer, samples, SAMPLE_RATE, format="WAV", subtype="FLOAT")
    with pytest.raises(CorruptMedia, match="non-finite"):
        decode_audio(buffer.getvalue(), max_seconds=10)


def test_wav_without_samples_is_silent() -> None:
    """A well-formed WAV with an empty data chunk has nothing to hear."""
    with pytest.raises(SilentAudio):
        decode_audio(encode(np.zeros(0, np.float32), "wav"), max_seconds=10)


def test_id3_tagged_mp3_is_recognised(files: dict[str, bytes]) -> None:
    """An MP3 behind an ID3v2 tag is sniffed and decoded as MP3."""
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 0, 20]) + bytes(20)
    audio = decode_audio(tag + files["mp3"], max_seconds=10)
    assert audio.format == "mp3"
    assert peak_hz(audio) == pytest.approx(440, abs=5)
