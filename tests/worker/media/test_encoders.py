"""The worker-side media encoders and their input features: shapes, determinism, padding, no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from worker.errors import MediaModelMissing
from worker.media import features as mf
from worker.media.encoders import AudioEncoder, EncoderFeatureMismatch, ImageEncoder

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "onnx_models"


def _screenshot(*, dark: bool = False, size: tuple[int, int] = (390, 844)) -> Image.Image:
    bg, fg = ((18, 18, 20), (235, 235, 235)) if dark else ((250, 250, 250), (20, 20, 20))
    image = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle([20, size[1] // 2, size[0] - 20, size[1] // 2 + 60], 12, fill=(0, 120, 255))
    draw.text((30, size[1] // 2 + 20), "my card has not arrived", fill=fg)
    return image


def _clip(seconds: float, *, seed: int = 0, rate: int = mf.SAMPLE_RATE) -> np.ndarray:
    """A voiced-sounding test clip: harmonics of a gliding pitch with a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.7 * t) + 30 * seed
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    return (0.2 * voice + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _encoder(cls, folder: str):
    if not (MODELS / folder / "model.onnx").is_file():
        pytest.skip(f"{folder} not built (python -m worker.training.fitting.train_media)")
    return cls.load(MODELS, device="cpu", threads=1)


# --------------------------------------------------------------------------- features
def test_image_input_shape_and_range() -> None:
    """A screenshot becomes float32 [1,192,192] in [-1,1], padding exactly 0."""
    x = mf.image_input(_screenshot())
    assert x.shape == (1, mf.IMAGE_SIZE, mf.IMAGE_SIZE) and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() < 1.0
    assert np.all(x[0, :, :5] == 0.0)  # a tall image is padded left and right


def test_image_input_keeps_aspect_ratio() -> None:
    """A wide image fills the width and is padded above and below."""
    x = mf.image_input(_screenshot(size=(1280, 640)))[0]
    assert np.all(x[:40] == 0.0) and np.all(x[-40:] == 0.0)
    assert np.any(x[mf.IMAGE_SIZE // 2] != 0.0)


def test_image_input_is_deterministic_and_sees_dark_mode() -> None:
    """Same image → identical features; dark mode is not normalised away."""
    a, b = mf.image_input(_screenshot()), mf.image_input(_screenshot())
    assert np.array_equal(a, b)
    assert mf.image_input(_screenshot(dark=True)).mean() < a.mean() - 0.5


def test_log_mel_shape_and_normalisation() -> None:
    """2 s at 16 kHz → [201, 64], zero mean and unit variance over the utterance."""
    x = mf.log_mel(_clip(2.0))
    assert x.shape == (1 + 32000 // mf.HOP_LENGTH, mf.N_MELS) and x.dtype == np.float32
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1.0) < 1e-3


def test_log_mel_is_deterministic() -> None:
    """Same samples → bit-identical features."""
    assert np.array_equal(mf.log_mel(_clip(1.3)), mf.log_mel(_clip(1.3)))


def test_log_mel_truncates_to_max_seconds() -> None:
    """A 40 s clip is cut to 30 s (3001 frames); a custom limit is honoured."""
    long = np.tile(_clip(1.0), 40)
    assert mf.log_mel(long).shape[0] == 1 + 30 * mf.SAMPLE_RATE // mf.HOP_LENGTH
    assert mf.log_mel(long, max_seconds=5.0).shape[0] == 501


def test_log_mel_resamples_other_rates() -> None:
    """An 8 kHz clip gives the frame count of the same duration at 16 kHz."""
    x = mf.log_mel(_clip(2.0, rate=8000), sample_rate=8000)
    assert x.shape == (201, mf.N_MELS) and np.isfinite(x).all()


def test_log_mel_of_silence_and_tiny_clips_is_finite() -> None:
    """Digital silence and a clip shorter than one window give finite features, not NaNs."""
    assert np.array_equal(mf.log_mel(np.zeros(16000, np.float32)), np.zeros((101, mf.N_MELS), np.float32))
    tiny = mf.log_mel(_clip(0.01))
    assert tiny.shape == (3, mf.N_MELS) and np.isfinite(tiny).all()


# --------------------------------------------------------------------------- encoders
def test_missing_models_raise_media_model_missing(tmp_path: Path) -> None:
    """An empty models folder → MediaModelMissing naming the build command."""
    with pytest.raises(MediaModelMissing, match="train_media"):
        ImageEncoder.load(tmp_path)
    with pytest.raises(MediaModelMissing, match="train_media"):
        AudioEncoder.load(tmp_path)


def test_damaged_model_raises_media_model_missing(tmp_path: Path) -> None:
    """A truncated model file → MediaModelMissing, not ORT's own untyped error."""
    (tmp_path / "audio_encoder").mkdir()
    (tmp_path / "audio_encoder" / "model.onnx").write_bytes(b"\x08\x07garbage")
    with pytest.raises(MediaModelMissing, match="cannot be loaded"):
        AudioEncoder.load(tmp_path, device="cpu")


def test_feature_mismatch_is_a_missing_model() -> None:
    """A model trained on other features is reported like a missing one (the media stage skips it)."""
    assert issubclass(EncoderFeatureMismatch, MediaModelMissing)


def test_image_encoder_embeds_unit_vectors_in_order() -> None:
    """Committed image encoder: [n,128] unit vectors, batch = one at a time, provider reported."""
    encoder = _encoder(ImageEncoder, "image_encoder")
    images = [_screenshot(), _screenshot(dark=True), _screenshot(size=(1280, 800))]
    batch = encoder.embed(images)
    assert batch.shape == (3, 128) and batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    for row, image in enumerate(images):
        assert np.allclose(encoder.embed([image])[0], batch[row], atol=1e-5)
    assert encoder.provider == "CPUExecutionProvider"
    assert encoder.encode(images).intent_logits.shape == (3, 77)
    assert encoder.embed([]).shape == (0, 128)


def test_audio_encoder_batch_equals_single_for_different_lengths() -> None:
    """Committed audio encoder: clips of 0.4-7 s give the same vectors batched (padded) as alone."""
    encoder = _encoder(AudioEncoder, "audio_encoder")
    clips = [_clip(s, seed=i) for i, s in enumerate((3.0, 0.4, 7.0, 1.7))]
    batch = encoder.embed(clips)
    assert batch.shape == (4, 128) and batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    singles = np.stack([encoder.embed([c])[0] for c in clips])
    assert np.max(np.abs(batch - singles)) < 1e-4
    assert not np.allclose(batch[0], batch[2], atol=1e-3)  # different clips, different vectors
    assert encoder.encode(clips).intent_logits.shape == (4, 77)


def test_pipeline_modules_do_not_import_torch() -> None:
    """Importing and using the runtime encoders leaves torch unloaded (the worker never loads it)."""
    code = (
        "import sys, numpy as np\n"
        "import worker.media.encoders as m, worker.media.features as f\n"
        "f.log_mel(np.zeros(1600, np.float32))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
