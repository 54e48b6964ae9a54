"""Small media files made on the fly for tests: a screenshot with text, speech, silence, bad files."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pytest

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def screenshot_png(lines: list[str], *, size: tuple[int, int] = (820, 360), fmt: str = "PNG") -> bytes:
    """Dark text on a light window, one line per entry, like a cropped chat screenshot."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", size, (248, 248, 250))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 24)
    for n, line in enumerate(lines):
        draw.text((30, 30 + n * 44), line, fill=(20, 20, 30), font=font)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def speech_wav(text: str, *, voice: str = "en-us", speed: int = 150) -> bytes:
    """``text`` spoken by espeak-ng (skips the test, saying why, where espeak-ng is absent)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make synth-tools)")
    return subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
        check=True, capture_output=True, timeout=60,
    ).stdout


def wav_bytes(samples: np.ndarray, rate: int = 16_000) -> bytes:
    """A 16-bit PCM WAV file of ``samples`` (floats in [-1, 1])."""
    import soundfile

    out = io.BytesIO()
    soundfile.write(out, samples.astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def silence_wav(seconds: float, rate: int = 16_000) -> bytes:
    """Digital silence with a faint hiss, as a phone records an empty voicemail."""
    rng = np.random.default_rng(0)
    return wav_bytes(rng.normal(0, 1e-4, int(seconds * rate)), rate)


def long_flac(seconds: float, rate: int = 8_000) -> bytes:
    """A real FLAC recording of ``seconds`` of near-silence: long, yet only kilobytes on disk."""
    import soundfile

    out = io.BytesIO()
    block = np.zeros(rate * 60, dtype=np.int16)
    block[::97] = 1
    with soundfile.SoundFile(out, "w", samplerate=rate, channels=1, format="FLAC", subtype="PCM_16") as sink:
        for _ in range(int(seconds // 60)):
            sink.write(block)
    return out.getvalue()


def png_bomb(side: int = 20_000) -> bytes:
    """A tiny PNG that would decode to ``side``² pixels: a decompression bomb."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, format="PNG", optimize=True)
    return out.getvalue()
