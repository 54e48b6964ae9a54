"""Input features of the learned media encoders, shared by training and the worker.

Training (``worker.training.fitting.train_media``) and the runtime (``worker.media.encoders``)
both call these functions, so the encoders see at serving time exactly the tensors they were
trained on. numpy, Pillow and librosa only: no torch here (the worker never loads it).

Images: greyscale, aspect-preserving resize so the longer side is ``IMAGE_SIZE``, centred on a
mid-grey square, scaled to [-1, 1] with a fixed (not per-image) scale so that dark mode stays
visible. Audio: 64-band log-mel (25 ms window, 10 ms hop) at 16 kHz, normalised by one scalar
mean and standard deviation per utterance, which removes the recording gain but keeps the
spectral envelope (telephone band, voice pitch region, noise floor) the encoder learns from.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

#: Side of the square image the encoder reads.
IMAGE_SIZE = 192
#: Grey level of the padding; it maps to exactly 0.0 after normalisation.
PAD_LEVEL = 128

SAMPLE_RATE = 16000
N_MELS = 64
WIN_LENGTH = 400  # 25 ms at 16 kHz
HOP_LENGTH = 160  # 10 ms at 16 kHz
FMIN = 20.0
FMAX = 8000.0
#: Log floor: bins more than this many dB under the utterance's loudest bin are clipped.
TOP_DB = 80.0
MAX_SECONDS = 30.0

#: Everything that shapes the features; stored in each encoder's ONNX metadata and checked on load,
#: so an encoder trained on other features is refused instead of silently fed the wrong input.
FEATURE_CONFIG: dict[str, dict[str, float | int | str]] = {
    "image": {"version": 1, "size": IMAGE_SIZE, "pad_level": PAD_LEVEL, "mode": "L", "resample": "bilinear"},
    "audio": {
        "version": 1, "sample_rate": SAMPLE_RATE, "n_mels": N_MELS, "win_length": WIN_LENGTH,
        "hop_length": HOP_LENGTH, "fmin": FMIN, "fmax": FMAX, "top_db": TOP_DB, "norm": "utterance-scalar",
    },
}


def image_pixels(image: Image.Image, *, size: int = IMAGE_SIZE) -> np.ndarray:
    """Greyscale ``size``x``size`` uint8 canvas holding the resized, centred image.

    Split from :func:`normalise_pixels` so that training can cache compact uint8 arrays.
    """
    grey = image.convert("L")
    width, height = grey.size
    scale = size / max(width, height)
    new_w = min(size, max(1, round(width * scale)))
    new_h = min(size, max(1, round(height * scale)))
    resized = grey.resize((new_w, new_h), resample=Image.Resampling.BILINEAR)
    canvas = Image.new("L", (size, size), PAD_LEVEL)
    canvas.paste(resized, ((size - new_w) // 2, (size - new_h) // 2))
    return np.asarray(canvas, dtype=np.uint8)


def normalise_pixels(pixels: np.ndarray) -> np.ndarray:
    """uint8 [..., H, W] → float32 [..., 1, H, W] in [-1, 1); the padding level becomes 0."""
    values = (pixels.astype(np.float32) - np.float32(PAD_LEVEL)) / np.float32(128.0)
    return np.expand_dims(values, axis=-3)


def image_input(image: Image.Image) -> np.ndarray:
    """The encoder's input for one image: float32 [1, IMAGE_SIZE, IMAGE_SIZE]."""
    return normalise_pixels(image_pixels(image))


@lru_cache(maxsize=4)
def _mel_basis(sample_rate: int) -> np.ndarray:
    """Mel filterbank [N_MELS, 1 + WIN_LENGTH // 2] (computed once)."""
    import librosa

    return librosa.filters.mel(
        sr=sample_rate, n_fft=WIN_LENGTH, n_mels=N_MELS, fmin=FMIN, fmax=min(FMAX, sample_rate / 2)
    ).astype(np.float32)


def _to_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Resample to 16 kHz: the filterbank and the encoder assume it."""
    if sample_rate == SAMPLE_RATE:
        return samples
    import soxr

    return soxr.resample(samples, sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32)


def log_mel(samples: np.ndarray, *, sample_rate: int = SAMPLE_RATE, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """Normalised log-mel features, float32 [T, 64], T = 1 + n_samples // 160 (after truncation).

    ``samples``: mono float audio (multi-channel input is averaged). A clip shorter than one
    window is zero-padded; an all-zero clip gives all-zero features rather than NaNs.
    """
    import librosa

    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim > 1:
        audio = audio.mean(axis=0 if audio.shape[0] < audio.shape[-1] else -1)
    audio = _to_16k(np.ascontiguousarray(audio.reshape(-1)), int(sample_rate))
    audio = audio[: int(round(max_seconds * SAMPLE_RATE))]
    if audio.size < WIN_LENGTH:
        audio = np.pad(audio, (0, WIN_LENGTH - audio.size))
    spectrum = librosa.stft(
        audio, n_fft=WIN_LENGTH, hop_length=HOP_LENGTH, win_length=WIN_LENGTH, window="hann",
        center=True, pad_mode="constant",
    )
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    mel = _mel_basis(SAMPLE_RATE) @ power  # [64, T]
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db = np.maximum(db, db.max() - TOP_DB)
    std = float(db.std())
    features = (db - db.mean()) / max(std, 1e-3)
    return np.ascontiguousarray(features.T, dtype=np.float32)
