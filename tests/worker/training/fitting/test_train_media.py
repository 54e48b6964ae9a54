"""Training and export of the media encoders: the command end to end, torch/ORT parity, padding."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image, ImageDraw

from worker.media import features as mf
from worker.media.encoders import AudioEncoder, EncoderFeatureMismatch, ImageEncoder
from worker.training.export.validate import ParityError
from worker.training.fitting import train_media as tm

REPO = Path(__file__).resolve().parents[4]
LABELS = json.loads((REPO / "onnx_models" / "intent" / "labels.json").read_text())


def _clip(seconds: float, *, seed: int, rate: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(110 + 25 * seed % 90 + 30 * np.sin(2 * np.pi * t)) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 10)) * (np.sin(2 * np.pi * 2.5 * t) ** 2)
    return (0.2 * voice + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def _screenshot(index: int) -> Image.Image:
    dark = index % 2 == 1
    size = [(390, 844), (1280, 800), (900, 700)][index % 3]
    image = Image.new("RGB", size, (20, 20, 24) if dark else (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, size[0], 50], fill=(200, 60, 60) if index % 3 else (0, 120, 255))
    draw.text((30, size[1] // 2), f"ticket number {index}", fill=(230, 230, 230) if dark else (10, 10, 10))
    return image


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synth folder: 10 screenshots (PNG/JPEG) and 10 voice notes (WAV/FLAC, 8-22 kHz)."""
    root = tmp_path_factory.mktemp("synth")
    (root / "screenshots").mkdir()
    (root / "voices").mkdir()
    rows = []
    for i in range(10):
        split = "val" if i in (0, 5) else "train"
        label = LABELS[i % 3]
        file = f"screenshots/s{i}.{'png' if i % 2 else 'jpg'}"
        _screenshot(i).save(root / file)
        rows.append({"id": f"s{i}", "split": split, "kind": "screenshot", "label": label, "text": "t",
                     "vague_text": "t", "file": file,
                     "params": {"layout": ["chat", "email", "paper"][i % 3], "dark": i % 2 == 1}})
        rate = [16000, 8000, 22050][i % 3]
        file = f"voices/v{i}.{'wav' if i % 2 else 'flac'}"
        sf.write(root / file, _clip(1.0 + 0.3 * i, seed=i, rate=rate), rate)
        rows.append({"id": f"v{i}", "split": split, "kind": "voice", "label": label, "text": "t", "vague_text": "t",
                     "file": file, "params": {"telephone": rate == 8000, "noise_snr_db": [None, 5, 25][i % 3],
                                              "speed": [0.8, 1.0, 1.25][i % 3], "voice": ["en-us+m1", "en-gb+f2"][i % 2]}})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(scope="module")
def trained(synth: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Models folder written by the real command (2 epochs, both kinds)."""
    out = tmp_path_factory.mktemp("models")
    done = subprocess.run(
        [sys.executable, "-m", "worker.training.fitting.train_media", "--synth", str(synth), "--kind", "both",
         "--epochs", "2", "--out", str(out), "--threads", "1", "--no-progress"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[voice] epoch 2/2" in done.stdout and "[screenshot] epoch 2/2" in done.stdout
    return out


def _random_bn(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Non-trivial BatchNorm statistics, so parity also covers the folded normalisation."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model.eval()


def test_command_writes_small_models_and_training_json(trained: Path, synth: Path) -> None:
    """The command exports both encoders (< 5 MB) with a training.json naming data, seed, figures, parity."""
    for folder, heads in (("image_encoder", {"layout", "dark", "paper"}), ("audio_encoder", {"telephone", "noise", "speed", "voice", "gender"})):
        model = trained / folder / "model.onnx"
        assert model.is_file() and model.stat().st_size < 5_000_000
        record = json.loads((trained / folder / "training.json").read_text())
        assert record["data"]["manifest_sha256"] == tm.sha256_file(synth / "manifest.jsonl")
        assert record["seed"] == tm.HyperParameters.seed and record["epochs"] == 2
        assert record["command"].startswith("python -m worker.training.fitting.train_media")
        assert set(record["validation"]["aux"]) == heads
        assert 0.0 <= record["validation"]["intent_accuracy"] <= 1.0
        assert max(record["parity"]["max_abs_diff"].values()) <= 1e-4
    assert json.loads((trained / "audio_encoder" / "training.json").read_text())["parity"]["batch_vs_single_max_abs_diff"] <= 1e-4


def test_features_are_cached(synth: Path, trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second load reads the .npz cache and decodes nothing."""
    monkeypatch.setattr(tm, "decode_item_image", lambda path: pytest.fail("decoded again"))
    items = tm.read_manifest(synth, "screenshot")
    feats = tm.load_features(synth, items, "screenshot", progress=False)
    assert feats.pixels.shape == (10, mf.IMAGE_SIZE, mf.IMAGE_SIZE) and feats.ids == [i.id for i in items]


def test_trained_encoders_load_at_runtime(trained: Path) -> None:
    """The command's output serves through the runtime classes."""
    image = ImageEncoder.load(trained, device="cpu").embed([_screenshot(3)])
    audio = AudioEncoder.load(trained, device="cpu").embed([_clip(1.5, seed=3)])
    assert image.shape == audio.shape == (1, 128)


def test_runtime_image_embedding_equals_torch(tmp_path: Path) -> None:
    """ImageEncoder (ONNX Runtime) embeds a screenshot as the torch module does."""
    torch.manual_seed(0)
    model = _random_bn(tm.ImageEncoderNet(len(LABELS), {"dark": 2}), 1)
    tm.export_encoder(model, "screenshot", tmp_path / "image_encoder" / "model.onnx",
                      metadata={"features": json.dumps(mf.FEATURE_CONFIG["image"], sort_keys=True)})
    images = [_screenshot(i) for i in range(3)]
    runtime = ImageEncoder.load(tmp_path, device="cpu").encode(images)
    with torch.no_grad():
        emb, logits = model(torch.from_numpy(np.stack([mf.image_input(im) for im in images])))
    assert np.max(np.abs(runtime.embedding - emb.numpy())) <= 1e-4
    assert np.max(np.abs(runtime.intent_logits - logits.numpy())) <= 1e-4


def test_runtime_audio_embedding_equals_torch_batched_and_alone(tmp_path: Path) -> None:
    """AudioEncoder (ORT, padded batch) matches torch run on each clip alone, at any input rate."""
    torch.manual_seed(0)
    model = _random_bn(tm.AudioEncoderNet(len(LABELS), {"telephone": 2}), 2)
    tm.export_encoder(model, "voice", tmp_path / "audio_encoder" / "model.onnx",
                      metadata={"features": json.dumps(mf.FEATURE_CONFIG["audio"], sort_keys=True)})
    clips = [_clip(s, seed=i) for i, s in enumerate((2.2, 0.3, 4.1))]
    runtime = AudioEncoder.load(tmp_path, device="cpu").embed(clips)
    with torch.no_grad():
        alone = np.concatenate([
            model(torch.from_numpy(f[None]), torch.tensor([len(f)]))[0].numpy()
            for f in (mf.log_mel(c) for c in clips)
        ])
    assert np.max(np.abs(runtime - alone)) <= 1e-4
    resampled = AudioEncoder.load(tmp_path, device="cpu").embed([_clip(2.2, seed=0, rate=8000)])
    assert resampled.shape == (1, 128)


def test_torch_audio_model_ignores_padding() -> None:
    """In torch too, a clip padded with junk frames embeds exactly as it does alone."""
    torch.manual_seed(0)
    model = _random_bn(tm.AudioEncoderNet(len(LABELS), {}), 3)
    frames = torch.randn(1, 37, mf.N_MELS)
    padded = torch.cat([frames, torch.randn(1, 20, mf.N_MELS) * 5], dim=1)
    with torch.no_grad():
        alone = model.embed(frames, torch.tensor([37]))
        with_junk = model.embed(padded, torch.tensor([37]))
    assert torch.allclose(alone, with_junk, atol=1e-6)


def test_reverse_valid_reverses_within_each_length() -> None:
    """Each row is reversed over its own length; padding stays at the end."""
    x = torch.arange(10, dtype=torch.float32).reshape(2, 5, 1)
    out = tm.reverse_valid(x, torch.tensor([5, 3]))[..., 0]
    assert out.tolist() == [[4, 3, 2, 1, 0], [7, 6, 5, 8, 9]]


def test_parity_check_raises_on_a_different_graph(tmp_path: Path) -> None:
    """check_media_parity raises ParityError when the ONNX graph is not the torch module's."""
    torch.manual_seed(0)
    exported = _random_bn(tm.ImageEncoderNet(len(LABELS), {}), 1)
    other = _random_bn(tm.ImageEncoderNet(len(LABELS), {}), 2)
    path = tm.export_encoder(exported, "screenshot", tmp_path / "m.onnx", metadata={})
    inputs = {"image": mf.image_input(_screenshot(0))[None]}
    assert max(tm.check_media_parity("same", exported, path, inputs).values()) <= 1e-4
    with pytest.raises(ParityError):
        tm.check_media_parity("other", other, path, inputs)


def test_model_trained_on_other_features_is_refused(tmp_path: Path) -> None:
    """A model whose stored feature config differs from media_features raises EncoderFeatureMismatch."""
    config = dict(mf.FEATURE_CONFIG["image"], size=224)
    tm.export_encoder(tm.ImageEncoderNet(len(LABELS), {}), "screenshot", tmp_path / "image_encoder" / "model.onnx",
                      metadata={"features": json.dumps(config)})
    with pytest.raises(EncoderFeatureMismatch, match="rebuild"):
        ImageEncoder.load(tmp_path, device="cpu")


def test_voice_heads_read_the_espeak_variant() -> None:
    """Gender and variant come from the voice's ``+variant``; a bare voice is the male default."""
    assert tm.aux_gender({"voice": "en-gb+f3"}) == "female" and tm.aux_gender({"voice": "en-us+Annie"}) == "female"
    assert tm.aux_gender({"voice": "en-us+m2"}) == "male" and tm.aux_voice({"voice": "en-us"}) == "default"
    assert tm.aux_speed({"speed": 140}) == "slow" and tm.aux_speed({"speed": 190}) == "fast"
    heard = {"speed": 200, "spoken_text": "one two three four five six", "speech_s": 3.0}  # 120 words/min
    assert tm.aux_speed(heard) == "slow"


def test_aux_targets_bucket_params() -> None:
    """Auxiliary targets come from params: SNR and speed buckets, unseen or absent values ignored."""
    def item(i: int, split: str, params: dict) -> tm.Item:
        return tm.Item(str(i), split, "voice", LABELS[0], "x.wav", params)

    items = [item(0, "train", {"noise_snr_db": None, "speed": 0.8, "telephone": True}),
             item(1, "train", {"noise_snr_db": 5.0, "speed": 1.3, "telephone": False}),
             item(2, "val", {"noise_snr_db": 25.0, "speed": 1.0}),
             item(3, "val", {})]
    vocab, targets = tm.aux_targets(items, "voice")
    assert vocab["noise"] == ["clean", "snr<10"] and vocab["speed"] == ["fast", "slow"]
    assert "voice" not in vocab and "gender" not in vocab  # no voice param at all: heads dropped
    assert targets["noise"].tolist() == [0, 1, -100, -100]  # snr>=20 unseen in train
    assert vocab["telephone"] == ["telephone", "wideband"]
    assert targets["telephone"].tolist() == [0, 1, -100, -100]
