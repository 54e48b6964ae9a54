"""The fusion classifier: one intent from whatever modalities a ticket has.

Each modality arrives as a vector with a presence flag: the ticket text, the screenshots' OCR
text and the voice notes' transcripts go through the intent model (its calibrated
log-probabilities), screenshots through the CNN image encoder and voice notes through
the log-mel audio encoder. The classifier was trained with modality dropout, so any subset works.
Training (``worker.training.fitting.train_fusion``) and serving share :func:`assemble`, so the features
cannot drift apart.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worker.errors import MediaModelMissing, TicketfusionError
from worker.runtime import make_session, softmax
from worker.text.intent import IntentPrediction

log = logging.getLogger(__name__)

MODALITIES = ("text", "ocr", "transcript", "image", "audio")
TEXT_MODALITIES = ("text", "ocr", "transcript")
MEDIA_MODALITIES = ("image", "audio")
FUSION_METHODS = ("add", "mul", "concat", "gmu", "attention")
LOGPROB_FLOOR = 1e-6


class UnknownFusionMethod(TicketfusionError, ValueError):
    """A fusion method that was not trained (see ``onnx_models/fusion/fusion.json``)."""

    def __init__(self, method: str, available: Sequence[str]) -> None:
        self.method = method
        super().__init__(
            f"unknown fusion method {method!r}: use one of {', '.join(available)} or auto "
            "(TICKETFUSION_FUSION_METHOD)"
        )


@dataclass
class ModalityInputs:
    """What one ticket offers the classifier; ``None`` marks an absent modality."""

    text: IntentPrediction | None = None
    ocr: IntentPrediction | None = None
    transcript: IntentPrediction | None = None
    image: np.ndarray | None = None
    audio: np.ndarray | None = None

    def present(self) -> list[str]:
        """Names of the modalities this ticket has, in :data:`MODALITIES` order."""
        return [name for name in MODALITIES if getattr(self, name) is not None]


def text_features(prediction: IntentPrediction) -> np.ndarray:
    """A text's vector for the fusion: the intent model's calibrated log-probabilities.

    Not its sentence vector: the fusion is trained on synthetic items made from the intent
    model's own training texts, whose fine-tuned vectors it has memorised; a classifier re-learnt
    on them did worse on new tickets than the intent model itself (voice 62 % against 69 %).
    """
    return np.log(np.clip(prediction.probs.astype(np.float32), LOGPROB_FLOOR, 1.0))


def assemble(batch: Sequence[ModalityInputs], *, text_dim: int, media_dim: int) -> dict[str, np.ndarray]:
    """The classifier's named inputs for a batch: zeros where a modality is absent, and a mask."""
    n = len(batch)
    arrays = {name: np.zeros((n, text_dim), dtype=np.float32) for name in TEXT_MODALITIES}
    arrays.update({name: np.zeros((n, media_dim), dtype=np.float32) for name in MEDIA_MODALITIES})
    mask = np.zeros((n, len(MODALITIES)), dtype=np.float32)
    for row, item in enumerate(batch):
        for column, name in enumerate(MODALITIES):
            value = getattr(item, name)
            if value is None:
                continue
            vector = text_features(value) if name in TEXT_MODALITIES else np.asarray(value, np.float32)
            if vector.shape != (arrays[name].shape[1],):
                raise ValueError(
                    f"{name} vector has shape {vector.shape}; the fusion model expects "
                    f"({arrays[name].shape[1]},)"
                )
            arrays[name][row] = vector
            mask[row, column] = 1.0
    arrays["mask"] = mask
    return arrays


class FusionModel:
    """A loaded fusion classifier; create with :meth:`load`, then call :meth:`predict`."""

    def __init__(self, session, *, method: str, labels: list[str], temperature: float,
                 text_dim: int, media_dim: int, provider: str, version: str) -> None:
        self._session = session
        self.method = method
        self.labels = labels
        self.temperature = temperature
        self.text_dim = text_dim
        self.media_dim = media_dim
        self.provider = provider
        self.version = version

    @classmethod
    def load(cls, models_dir: Path, *, method: str = "auto", device: str = "auto", threads: int = 1) -> FusionModel:
        """Open ``models_dir/fusion/<method>.onnx``; ``auto`` takes the method chosen on validation."""
        folder = Path(models_dir) / "fusion"
        card_path = folder / "fusion.json"
        if not card_path.is_file():
            raise MediaModelMissing(
                f"no fusion model at {folder}: run `python -m worker.training.fitting.train_fusion` "
                "(see docs/models.md)"
            )
        card = json.loads(card_path.read_text(encoding="utf-8"))
        methods = card["methods"]
        chosen = card["default"] if method == "auto" else method
        if chosen not in methods:
            raise UnknownFusionMethod(chosen, sorted(methods))
        model_path = folder / methods[chosen]["file"]
        if not model_path.is_file():
            raise MediaModelMissing(f"fusion model file missing: {model_path}")
        opened = make_session(model_path, device=device, threads=threads)
        return cls(
            opened.session,
            method=chosen,
            labels=list(card["labels"]),
            temperature=float(methods[chosen]["temperature"]),
            text_dim=int(card["text_dim"]),
            media_dim=int(card["media_dim"]),
            provider=opened.provider,
            version=f"fusion-{chosen}-{methods[chosen]['sha256'][:12]}",
        )

    def predict(self, batch: Sequence[ModalityInputs]) -> np.ndarray:
        """Calibrated probabilities over :attr:`labels`, one row per ticket."""
        if not batch:
            return np.zeros((0, len(self.labels)))
        inputs = assemble(batch, text_dim=self.text_dim, media_dim=self.media_dim)
        (logits,) = self._session.run(["logits"], inputs)
        return softmax(logits, self.temperature)
