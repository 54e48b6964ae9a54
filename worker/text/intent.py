"""Intent classification with the built ONNX model (Banking77's 77 intents).

Loads ``<models_dir>/intent/model.onnx`` (or ``model.int8.onnx``), ``tokenizer.json``,
``labels.json`` and ``calibration.json`` (the temperature fitted on the validation split).
No torch: ONNX Runtime and the ``tokenizers`` library only.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from worker.errors import ModelNotBuilt, TicketfusionError
from worker.runtime import (
    MAX_TOKENS,
    WINDOW_STRIDE,
    combine_windows,
    load_tokenizer,
    make_session,
    pad_ids,
    softmax,
    windows,
)
from worker.runtime import top_k as most_likely

log = logging.getLogger(__name__)

MODEL_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
BATCH_SIZE = 32


class UnknownPrecision(TicketfusionError, ValueError):
    """``precision`` is neither fp32 nor int8."""

    def __init__(self, precision: str) -> None:
        self.precision = precision
        super().__init__(f"unknown intent precision {precision!r}: use fp32 or int8 (TICKETFUSION_INTENT_PRECISION)")


@dataclass(frozen=True)
class IntentPrediction:
    """The most likely intent, its calibrated probability, the ``top_k`` (label, probability)
    pairs in descending order, and for the fusion stage the sentence vector (unit length) and the
    whole calibrated distribution over ``IntentModel.labels``."""

    label: str
    confidence: float
    top: list[tuple[str, float]]
    vector: np.ndarray = field(repr=False, compare=False)
    probs: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.zeros(0))


class IntentModel:
    """A loaded intent model; create with :meth:`load`, then call :meth:`predict`."""

    def __init__(self, session, tokenizer, labels: list[str], temperature: float, *,
                 provider: str, version: str, precision: str) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self.labels = labels
        self.temperature = float(temperature)
        self.provider = provider
        self.version = version
        self.precision = precision

    @classmethod
    def load(cls, models_dir: Path, *, precision: str = "fp32", device: str = "auto", threads: int = 0) -> IntentModel:
        """Open the built model under ``models_dir/intent``; raises :class:`ModelNotBuilt` when absent."""
        if precision not in MODEL_FILES:
            raise UnknownPrecision(precision)
        folder = Path(models_dir) / "intent"
        model_path = folder / MODEL_FILES[precision]
        for path in (model_path, folder / "tokenizer.json", folder / "labels.json"):
            if not path.is_file():
                raise ModelNotBuilt(path)
        labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
        calibration = folder / "calibration.json"
        temperature = json.loads(calibration.read_text())["temperature"] if calibration.is_file() else 1.0
        opened = make_session(model_path, device=device, threads=threads)
        n_out = opened.session.get_outputs()[0].shape[-1]
        if isinstance(n_out, int) and n_out != len(labels):
            raise ValueError(f"{model_path} has {n_out} outputs but labels.json lists {len(labels)} labels")
        tokenizer = load_tokenizer(folder / "tokenizer.json", max_tokens=MAX_TOKENS, stride=WINDOW_STRIDE)
        return cls(opened.session, tokenizer, labels,
                   temperature, provider=opened.provider, version=_version(Path(models_dir), folder),
                   precision=precision)

    def predict(self, texts: list[str], *, top_k: int = 5, batch_size: int = BATCH_SIZE) -> list[IntentPrediction]:
        """Predict each text's intent (order kept; batches are grouped by length internally).

        A text longer than the encoder's window is read in full, as overlapping windows whose
        distributions are combined (:func:`~worker.runtime.combine_windows`)."""
        texts = list(texts)
        if not texts:
            return []
        top_k = max(1, min(top_k, len(self.labels)))
        rows, owners = windows(self._tokenizer, texts)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        window_probs = np.zeros((len(rows), len(self.labels)), dtype=np.float64)
        window_vectors = np.zeros((len(rows), 0), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            ids, mask = pad_ids([rows[i] for i in idx])
            logits, vecs = self._session.run(["logits", "sentence_vector"], {"input_ids": ids, "attention_mask": mask})
            if window_vectors.shape[1] == 0:
                window_vectors = np.zeros((len(rows), vecs.shape[1]), dtype=np.float32)
            window_probs[idx] = softmax(logits, self.temperature)
            window_vectors[idx] = vecs
        probs, vectors = _per_text(window_probs, window_vectors, np.asarray(owners), len(texts))
        results = []
        for row, vector in zip(probs, vectors):
            top = most_likely(row, self.labels, top_k)
            results.append(
                IntentPrediction(
                    label=top[0][0], confidence=top[0][1], top=top, vector=vector,
                    probs=row.astype(np.float32),
                )
            )
        return results


def _per_text(window_probs: np.ndarray, window_vectors: np.ndarray, owners: np.ndarray,
              n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each text's distribution and unit sentence vector from its windows' (one window: as is)."""
    if len(owners) == n:
        return window_probs, window_vectors
    probs = np.zeros((n, window_probs.shape[1]), dtype=np.float64)
    vectors = np.zeros((n, window_vectors.shape[1]), dtype=np.float32)
    for index in range(n):
        rows = np.flatnonzero(owners == index)
        probs[index] = combine_windows(window_probs[rows])
        vector = window_vectors[rows].mean(axis=0)
        vectors[index] = vector / max(float(np.linalg.norm(vector)), 1e-12)
    return probs, vectors


def _version(models_dir: Path, folder: Path) -> str:
    """``intent-<12 hex>``: the manifest's ``version`` (an ensemble's: a hash of its members'
    weights), else the weights' SHA-256 from the manifest (else of the labels)."""
    manifest = models_dir / "manifest.json"
    try:
        entry = json.loads(manifest.read_text())["models"]["intent"]
        if isinstance(entry.get("version"), str) and entry["version"]:
            return entry["version"]
        sha = entry["files"]["weights.safetensors"]
        return f"intent-{sha[:12]}"
    except (OSError, ValueError, KeyError, TypeError):
        digest = hashlib.sha256((folder / "labels.json").read_bytes())
        return f"intent-{digest.hexdigest()[:12]}"
