"""The five fusion methods: training with modality dropout, ONNX export parity, the runtime model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from worker.errors import MediaModelMissing
from worker.fusion.model import (
    FUSION_METHODS,
    MODALITIES,
    FusionModel,
    ModalityInputs,
    UnknownFusionMethod,
    assemble,
)
from worker.text.intent import IntentPrediction
from worker.training.fitting.train_fusion import (
    export_fusion,
    logits_of,
    modality_dropout,
    train_method,
)

TEXT_DIM, MEDIA_DIM, LABELS = 4, 6, 4


def _prediction(rng: np.random.Generator, concentration: float = 50.0) -> IntentPrediction:
    probs = rng.dirichlet(np.full(LABELS, concentration)).astype(np.float32)
    return IntentPrediction(label="a", confidence=float(probs.max()), top=[], vector=np.zeros(2, np.float32), probs=probs)


def _toy_data(n: int = 400, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Labels written into the image vector only: a method must learn to read that modality."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, LABELS, n)
    batch = []
    for label in y:
        item = ModalityInputs(text=_prediction(rng), ocr=_prediction(rng), image=rng.normal(size=MEDIA_DIM))
        item.image[label] += 6.0
        batch.append(item)
    return assemble(batch, text_dim=TEXT_DIM, media_dim=MEDIA_DIM), y


@pytest.mark.parametrize("method", FUSION_METHODS)
def test_each_method_learns_and_exports_with_parity(method: str, tmp_path: Path) -> None:
    """Each method learns a signal carried by one modality, and its ONNX export matches torch."""
    torch.set_num_threads(1)
    data, y = _toy_data()
    net = train_method(method, data, y, text_dim=TEXT_DIM, media_dim=MEDIA_DIM, n_labels=LABELS, epochs=25)
    assert (logits_of(net, data).argmax(1) == y).mean() > 0.9
    sha = export_fusion(net, tmp_path / f"{method}.onnx", data)
    assert len(sha) == 64 and (tmp_path / f"{method}.onnx").is_file()


@pytest.mark.parametrize("method", FUSION_METHODS)
def test_untrained_fusion_is_a_product_of_the_text_experts(method: str) -> None:
    """Before training, every method answers the sum of the present texts' log-probabilities."""
    from worker.training.models.fusion_net import FusionNet

    rng = np.random.default_rng(3)
    batch = [ModalityInputs(text=_prediction(rng, 0.5), transcript=_prediction(rng, 0.5), audio=np.ones(MEDIA_DIM)),
             ModalityInputs(ocr=_prediction(rng, 0.5))]
    data = assemble(batch, text_dim=TEXT_DIM, media_dim=MEDIA_DIM)
    net = FusionNet(method, text_dim=TEXT_DIM, media_dim=MEDIA_DIM, n_labels=LABELS).eval()
    expected = np.stack([
        np.log(np.clip(batch[0].text.probs, 1e-6, 1)) + np.log(np.clip(batch[0].transcript.probs, 1e-6, 1)),
        np.log(np.clip(batch[1].ocr.probs, 1e-6, 1)),
    ])
    assert np.allclose(logits_of(net, data), expected, atol=1e-5)


def test_modality_dropout_keeps_one_modality_per_row() -> None:
    """Dropout never hides every modality of a ticket, and never adds an absent one."""
    mask = torch.tensor([[1, 0, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 1, 0, 1]], dtype=torch.float32).repeat(200, 1)
    dropped = modality_dropout(mask, 0.9, torch.Generator().manual_seed(0))
    assert torch.all(dropped.sum(dim=1) >= 1)
    assert torch.all(dropped <= mask)
    assert dropped.sum() < mask.sum()


def test_assemble_marks_absent_modalities() -> None:
    """Absent modalities are zeros with a zero mask; present ones carry their vectors."""
    rng = np.random.default_rng(1)
    arrays = assemble([ModalityInputs(ocr=_prediction(rng)), ModalityInputs(audio=np.ones(MEDIA_DIM))],
                      text_dim=TEXT_DIM, media_dim=MEDIA_DIM)
    assert arrays["mask"].tolist() == [[0, 1, 0, 0, 0], [0, 0, 0, 0, 1]]
    assert not arrays["text"].any() and arrays["ocr"][0].any() and arrays["audio"][1].all()


def test_assemble_refuses_a_vector_of_the_wrong_size() -> None:
    """A vector from another encoder is refused with the shapes named, not silently padded."""
    with pytest.raises(ValueError, match="image vector has shape"):
        assemble([ModalityInputs(image=np.ones(3))], text_dim=TEXT_DIM, media_dim=MEDIA_DIM)


def test_missing_fusion_model_is_named(tmp_path: Path) -> None:
    """Loading from a folder without a fusion model says how to build it."""
    with pytest.raises(MediaModelMissing, match="train_fusion"):
        FusionModel.load(tmp_path)


def test_committed_fusion_model_serves_any_subset_of_modalities() -> None:
    """The committed default model gives a distribution for every non-empty subset of modalities."""
    from worker.settings import get_settings

    models_dir = Path(get_settings().models_dir)
    card_path = models_dir / "fusion" / "fusion.json"
    if not card_path.is_file():
        pytest.skip("no fusion model trained yet (python -m worker.training.fitting.train_fusion)")
    card = json.loads(card_path.read_text())
    model = FusionModel.load(models_dir)
    assert model.method == card["default"]
    rng = np.random.default_rng(2)
    text_probs = len(card["labels"])

    def prediction() -> IntentPrediction:
        probs = rng.dirichlet(np.ones(text_probs)).astype(np.float32)
        return IntentPrediction("x", 0.0, [], np.zeros(2, np.float32), probs)

    batch = []
    for bits in range(1, 2 ** len(MODALITIES)):
        item = ModalityInputs()
        for k, name in enumerate(MODALITIES):
            if bits >> k & 1:
                value = prediction() if k < 3 else rng.normal(size=card["media_dim"]).astype(np.float32)
                setattr(item, name, value)
        batch.append(item)
    probs = model.predict(batch)
    assert probs.shape == (31, len(card["labels"]))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_unknown_method_is_refused() -> None:
    """A method that was not trained is refused, listing the ones that were."""
    from worker.settings import get_settings

    models_dir = Path(get_settings().models_dir)
    if not (models_dir / "fusion" / "fusion.json").is_file():
        pytest.skip("no fusion model trained yet")
    with pytest.raises(UnknownFusionMethod, match="use one of"):
        FusionModel.load(models_dir, method="average")
