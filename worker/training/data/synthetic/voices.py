"""Synthetic voice notes of a customer's request, spoken by espeak-ng and roughed up.

:func:`render_voice` speaks one text with an English espeak-ng voice (accent and ``+variant``),
speed and pitch, sometimes wrapped in a voicemail lead-in ("Hi, this is Sam.") and tail
("Thanks, bye."), pads it with silence, adds white, pink or babble noise at a chosen SNR,
sometimes squeezes it through an 8 kHz telephone band, and encodes it as WAV, FLAC, Ogg Vorbis,
MP3 or M4A (AAC) at 8, 16, 22.05 or 44.1 kHz. Every choice comes from the caller's
:class:`random.Random`; the text goes to espeak-ng as an argument list, never through a shell.
"""

from __future__ import annotations

import functools
import io
import random
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from worker.errors import TicketfusionError

ESPEAK = "espeak-ng"
ESPEAK_RATE = 22050  # what espeak-ng's --stdout WAV carries
BASE_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
               "en-029", "en-us-nyc")
# espeak-ng-data/voices/!v variants that sound like people (robots, croaks and whispers left out)
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "Alex", "Andy",
            "Annie", "adam", "anika", "aunty", "belinda", "benjamin", "david", "ed", "edward", "john",
            "linda", "max", "michel", "paul", "quincy", "rob", "robert", "steph", "travis", "victor",
            "grandma", "grandpa", "iven", "klatt", "norbert", "shelby")
NAMES = ("Sam", "Maria", "James", "Priya", "Chen", "Fatima", "Lukas", "Olivia", "Noah", "Aisha", "Tom",
         "Sofia", "Daniel", "Emma", "Grace", "Ivan", "Chloe", "Ben", "Hannah", "Diego", "Laura", "Omar")
LEAD_INS = ("Hi, this is {name}.", "Hello, my name is {name}.", "Hi, it's {name} here.",
            "Hello, this is {name} calling.", "Hi there, {name} speaking.")
TAILS = ("Thanks, bye.", "Thank you. Bye.", "Please call me back. Thanks.", "Thanks a lot.", "Cheers, bye.",
         "Thank you very much.")
BABBLE_SENTENCES = (
    "Did you see the game last night, it was quite something.",
    "I think we should leave at around six if the traffic is bad.",
    "She said the new place on the corner does a great lunch.",
    "Can you pass me that, no the other one, thanks.",
    "We are going to my parents for the weekend I think.",
    "The meeting ran long again so I missed the train.",
)
NOISES = ("none", "white", "pink", "babble")
NOISE_WEIGHTS = (0.3, 0.25, 0.25, 0.2)
CODECS = ("wav", "flac", "ogg", "mp3", "m4a")
CODEC_WEIGHTS = (0.2, 0.15, 0.2, 0.25, 0.2)
RATES = (16000, 8000, 22050, 44100)
RATE_WEIGHTS = (0.45, 0.15, 0.2, 0.2)
# espeak-ng reads "[[...]]" as phonemes and says symbols by name; keep letters, digits, basic punctuation
_UNSPOKEN = re.compile(r"[^A-Za-z0-9\s.,?!'\"\-:;()/$%&£€]")


class EspeakMissing(TicketfusionError, RuntimeError):
    """espeak-ng is not installed (apt-get install espeak-ng)."""


def espeak_path() -> str:
    """The espeak-ng executable, or :class:`EspeakMissing`."""
    path = shutil.which(ESPEAK)
    if path is None:
        raise EspeakMissing("espeak-ng is not installed: apt-get install espeak-ng")
    return path


@functools.lru_cache(maxsize=1)
def espeak_data_dir() -> Path | None:
    """espeak-ng's data folder (``Data at:`` in ``espeak-ng --version``)."""
    out = subprocess.run([espeak_path(), "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"Data at:\s*(\S.*)$", out.strip(), re.MULTILINE)
    return Path(match.group(1).strip()) if match else None


@functools.lru_cache(maxsize=1)
def available_voices() -> tuple[str, ...]:
    """English voices espeak-ng lists (its own, not MBROLA) plus each with every installed variant."""
    out = subprocess.run([espeak_path(), "--voices=en"], capture_output=True, text=True, check=False).stdout
    listed = set()
    for line in out.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5 and not fields[4].startswith("mb/"):
            listed.add(fields[1])
    bases = [voice for voice in BASE_VOICES if voice in listed]
    data = espeak_data_dir()
    variants = [v for v in VARIANTS if data is not None and (data / "voices" / "!v" / v).is_file()]
    return tuple(bases + [f"{base}+{variant}" for base in bases for variant in variants])


def speakable(text: str) -> str:
    """The text with what espeak-ng would say oddly removed, on one line, never starting with '-'."""
    text = _UNSPOKEN.sub(" ", text.replace("\xa0", " "))
    return " ".join(text.split()).lstrip("-").strip()


def espeak(text: str, *, voice: str, speed: int, pitch: int, gap: int = 0) -> np.ndarray:
    """Mono float32 samples at :data:`ESPEAK_RATE` of espeak-ng speaking ``text``."""
    import soundfile as sf

    command = [espeak_path(), "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch)), "-g", str(int(gap)),
               "-b", "1", "--stdout", "--", text]
    result = subprocess.run(command, capture_output=True, check=False, timeout=120)
    if result.returncode != 0 or len(result.stdout) <= 44:
        raise RuntimeError(f"espeak-ng failed for voice {voice!r}: {result.stderr.decode(errors='replace')[-300:]}")
    samples, rate = sf.read(io.BytesIO(result.stdout), dtype="float32", always_2d=False)
    if rate != ESPEAK_RATE:
        import soxr

        samples = soxr.resample(samples, rate, ESPEAK_RATE).astype(np.float32)
    return np.asarray(samples, np.float32).reshape(-1)


@functools.lru_cache(maxsize=64)
def _babble_source(sentence: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    return espeak(sentence, voice=voice, speed=speed, pitch=pitch)


def _pink(rng_np: np.random.Generator, n: int) -> np.ndarray:
    spectrum = np.fft.rfft(rng_np.standard_normal(n))
    freqs = np.arange(spectrum.size, dtype=np.float64)
    freqs[0] = 1.0
    pink = np.fft.irfft(spectrum / np.sqrt(freqs), n)
    return (pink / (np.std(pink) + 1e-12)).astype(np.float32)


def _babble(rng: random.Random, rng_np: np.random.Generator, n: int, voices: Sequence[str]) -> tuple[np.ndarray, int]:
    talkers = rng.randint(2, 4)
    mix = np.zeros(n, np.float32)
    for _ in range(talkers):
        source = _babble_source(rng.choice(BABBLE_SENTENCES), rng.choice(voices), rng.choice((140, 160, 180)),
                                rng.choice((35, 50, 65)))
        reps = int(np.ceil((n + source.size) / max(1, source.size))) + 1
        looped = np.tile(source, reps)
        start = rng.randrange(source.size)
        mix += looped[start:start + n]
    return mix / (np.std(mix) + 1e-12), talkers


def _telephone(x: np.ndarray, rate: int, mulaw: bool) -> np.ndarray:
    import soxr
    from scipy.signal import butter, sosfilt

    narrow = soxr.resample(x, rate, 8000)
    sos = butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos")
    narrow = sosfilt(sos, narrow).astype(np.float32)
    if mulaw:  # G.711-style 8-bit companding
        mu = 255.0
        peak = float(np.max(np.abs(narrow))) or 1.0
        y = np.sign(narrow / peak) * np.log1p(mu * np.abs(narrow / peak)) / np.log1p(mu)
        y = np.round(y * 127) / 127
        narrow = (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu * peak).astype(np.float32)
    return soxr.resample(narrow, 8000, rate).astype(np.float32)


def encode_audio(samples: np.ndarray, rate: int, codec: str, *, bitrate: int | None = None) -> bytes:
    """Mono float samples as a ``codec`` file (wav, flac, ogg, mp3, m4a)."""
    samples = np.clip(np.asarray(samples, np.float32), -1.0, 1.0)
    if codec == "m4a":
        return _encode_aac(samples, rate, bitrate or 64000)
    import soundfile as sf

    formats = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"),
               "mp3": ("MP3", "MPEG_LAYER_III")}
    if codec not in formats:
        raise ValueError(f"unknown codec {codec!r}; expected one of {', '.join(CODECS)}")
    fmt, subtype = formats[codec]
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _encode_aac(samples: np.ndarray, rate: int, bitrate: int) -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="ipod") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        stream.bit_rate = bitrate
        frame_size = 1024
        for start in range(0, samples.size, frame_size):
            chunk = samples[start:start + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def render_voice(text: str, rng: random.Random, *, voices: Sequence[str]) -> tuple[bytes, str, dict]:
    """One synthetic voice note of ``text``: the file bytes, its extension and the choices made."""
    import soxr

    if not voices:
        raise ValueError("no voices (is espeak-ng installed?)")
    spoken_request = speakable(text)
    if not spoken_request:
        raise ValueError(f"nothing speakable in {text!r}")
    voice = rng.choice(list(voices))
    speed, pitch = rng.randint(130, 200), rng.randint(30, 70)
    gap = rng.choice((0, 0, 0, 1, 2, 4))
    lead_in = rng.choice(LEAD_INS).format(name=rng.choice(NAMES)) if rng.random() < 0.3 else ""
    tail = rng.choice(TAILS) if rng.random() < 0.3 else ""
    spoken = " ".join(part for part in (lead_in, spoken_request, tail) if part)
    speech = espeak(spoken, voice=voice, speed=speed, pitch=pitch, gap=gap)
    rng_np = np.random.default_rng(rng.getrandbits(64))
    lead_s, trail_s = round(rng.uniform(0.2, 1.5), 3), round(rng.uniform(0.2, 1.5), 3)
    rate = ESPEAK_RATE
    x = np.concatenate([np.zeros(int(lead_s * rate), np.float32), speech, np.zeros(int(trail_s * rate), np.float32)])
    active = speech[np.abs(speech) > 1e-3]
    speech_power = float(np.mean(active**2)) if active.size else 1e-4

    noise_kind = rng.choices(NOISES, weights=NOISE_WEIGHTS)[0]
    snr = None
    talkers = 0
    if noise_kind != "none":
        snr = round(rng.uniform(5, 30), 1)
        if noise_kind == "white":
            noise = rng_np.standard_normal(x.size).astype(np.float32)
        elif noise_kind == "pink":
            noise = _pink(rng_np, x.size)
        else:
            noise, talkers = _babble(rng, rng_np, x.size, voices)
        noise *= np.sqrt(speech_power / 10 ** (snr / 10)) / (np.std(noise) + 1e-12)
        x = x + noise.astype(np.float32)
    else:  # a faint floor, so the padding is not digital silence
        x = x + rng_np.standard_normal(x.size).astype(np.float32) * 1e-4

    telephone = rng.random() < 0.2
    mulaw = telephone and rng.random() < 0.5
    if telephone:
        x = _telephone(x, rate, mulaw)
        out_rate = 8000 if rng.random() < 0.6 else 16000
    else:
        out_rate = rng.choices(RATES, weights=RATE_WEIGHTS)[0]
    if out_rate != rate:
        x = soxr.resample(x, rate, out_rate).astype(np.float32)
    peak_db = round(rng.uniform(-12, -1), 1)
    x *= 10 ** (peak_db / 20) / (float(np.max(np.abs(x))) + 1e-9)

    codec = rng.choices(CODECS, weights=CODEC_WEIGHTS)[0]
    bitrate = rng.choice((32000, 48000, 64000, 96000)) if codec == "m4a" else None
    data = encode_audio(x, out_rate, codec, bitrate=bitrate)
    params = {
        "voice": voice, "speed": speed, "pitch": pitch, "word_gap": gap, "lead_in": lead_in, "tail": tail,
        "spoken_text": spoken, "lead_silence_s": lead_s, "trail_silence_s": trail_s,
        "speech_s": round(speech.size / rate, 3), "noise": noise_kind, "noise_snr_db": snr,
        "babble_talkers": talkers, "telephone": telephone, "mulaw": mulaw, "sample_rate": out_rate,
        "peak_dbfs": peak_db, "codec": codec, "bitrate": bitrate, "duration_s": round(x.size / out_rate, 3),
    }
    return data, codec, params
