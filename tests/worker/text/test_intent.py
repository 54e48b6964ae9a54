"""The worker-side intent model: loading the built ONNX model, predictions, errors, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from worker.errors import ModelNotBuilt
from worker.runtime import CPU, UnknownDevice, choose_providers
from worker.text.intent import IntentModel, IntentPrediction, UnknownPrecision

REPO = Path(__file__).resolve().parents[3]

OBVIOUS = {
    "I lost my card": "lost_or_stolen_card",
    "My new card still hasn't arrived": "card_arrival",
    "How do I change my PIN?": "change_pin",
    "What exchange rate do you use?": "exchange_rate",
    "I was charged twice for the same purchase": "transaction_charged_twice",
    "How do I close my account?": "terminate_account",
}


@pytest.fixture(scope="module")
def models_dir() -> Path:
    """The project's models folder, built (idempotently) from the committed artifacts."""
    from worker.settings import get_settings
    from worker.training.export.build import build_models

    path = Path(get_settings().models_dir)
    build_models(path)
    return path


@pytest.fixture(scope="module")
def model(models_dir: Path) -> IntentModel:
    return IntentModel.load(models_dir, device="cpu", threads=2)


def test_predicts_obvious_intents(model: IntentModel) -> None:
    """Plain Banking77-style questions get their obvious intent, confidently."""
    predictions = model.predict(list(OBVIOUS))
    assert [p.label for p in predictions] == list(OBVIOUS.values())
    assert all(p.confidence > 0.5 for p in predictions)


def test_probabilities_sum_to_one(model: IntentModel) -> None:
    """With top_k = all labels, the calibrated probabilities sum to 1 and are sorted descending."""
    (prediction,) = model.predict(["Where is my money? The transfer has not arrived"], top_k=len(model.labels))
    probs = [p for _, p in prediction.top]
    assert len(probs) == len(model.labels) == 77
    assert sum(probs) == pytest.approx(1.0, abs=1e-6)
    assert probs == sorted(probs, reverse=True)
    assert {label for label, _ in prediction.top} == set(model.labels)


def test_confidence_is_top_probability(model: IntentModel) -> None:
    """label and confidence are the first of ``top``, which has top_k entries."""
    for prediction in model.predict(["I lost my card", "can I get a refund?"], top_k=3):
        assert isinstance(prediction, IntentPrediction)
        assert len(prediction.top) == 3
        assert (prediction.label, prediction.confidence) == prediction.top[0]
        assert prediction.vector.shape == (384,)
        assert np.linalg.norm(prediction.vector) == pytest.approx(1.0, abs=1e-5)


def test_temperature_is_applied(model: IntentModel, models_dir: Path) -> None:
    """The model uses the temperature from calibration.json (not 1)."""
    temperature = json.loads((models_dir / "intent" / "calibration.json").read_text())["temperature"]
    assert model.temperature == pytest.approx(temperature)
    assert model.temperature != 1.0


def test_batch_equals_single(model: IntentModel) -> None:
    """Predicting texts in one padded, length-sorted batch gives what predicting each alone gives."""
    texts = ["hi", "I lost my card", "Why is there a fee on my statement for using an ATM abroad last week?",
             "top up failed", "What documents do I need to verify my identity?"]
    batch = model.predict(texts)
    for text, together in zip(texts, batch):
        (alone,) = model.predict([text])
        assert alone.label == together.label
        assert alone.confidence == pytest.approx(together.confidence, abs=1e-4)
        np.testing.assert_allclose(alone.vector, together.vector, atol=1e-4)


def test_empty_input_gives_empty_output(model: IntentModel) -> None:
    """No texts, no predictions (and no error)."""
    assert model.predict([]) == []


def test_model_not_built_on_empty_dir(tmp_path: Path) -> None:
    """Loading from a folder without built models raises ModelNotBuilt telling to run the build command."""
    with pytest.raises(ModelNotBuilt) as info:
        IntentModel.load(tmp_path)
    assert "ticketfusion models build" in str(info.value)
    assert info.value.path.name == "model.onnx"


def test_unknown_precision_is_refused(models_dir: Path) -> None:
    """A precision other than fp32/int8 raises UnknownPrecision."""
    with pytest.raises(UnknownPrecision):
        IntentModel.load(models_dir, precision="fp8")


def test_int8_model_agrees_on_obvious_intents(models_dir: Path) -> None:
    """The int8 model loads and predicts the obvious intents too."""
    int8 = IntentModel.load(models_dir, precision="int8", device="cpu", threads=2)
    assert int8.precision == "int8"
    assert [p.label for p in int8.predict(list(OBVIOUS))] == list(OBVIOUS.values())


def test_version_and_provider(model: IntentModel, models_dir: Path) -> None:
    """The version comes from the manifest and the provider is the one the session runs on."""
    entry = json.loads((models_dir / "manifest.json").read_text())["models"]["intent"]
    expected = entry.get("version") or f"intent-{entry['files']['weights.safetensors'][:12]}"
    assert model.version == expected
    assert model.version.startswith("intent-") and len(model.version) == len("intent-") + 12
    assert model.provider == CPU


def test_choose_providers() -> None:
    """cpu gives the CPU provider only; auto ends with the CPU fallback; an unknown device is refused."""
    assert choose_providers("cpu") == [CPU]
    assert choose_providers("auto")[-1] == CPU
    with pytest.raises(UnknownDevice):
        choose_providers("tpu")


def test_worker_side_does_not_import_torch(models_dir: Path) -> None:
    """Loading and running the intent model in a fresh process never imports torch."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import worker.runtime, worker.text.intent as intent\n"
        f"m = intent.IntentModel.load(Path({str(models_dir)!r}), device='cpu', threads=1)\n"
        "m.predict(['I lost my card'])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert not any(k.startswith('worker.training') for k in sys.modules), 'training was imported'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
