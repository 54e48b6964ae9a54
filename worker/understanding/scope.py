"""Out-of-scope detection: does any intent of the taxonomy cover this ticket at all?

The score is a logistic combination of how close the ticket is to the nearest known tickets
(cosine similarity to the Banking77 training texts under the base sentence encoder: the best and
the mean of the best five) and the intent model's calibrated confidence. The combination and both
thresholds (out of scope; auto-send) were fitted on validation data by
``python -m worker.training.fitting.train_scope`` and live in ``models_dir/scope/scope.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worker.contract import Entity
from worker.errors import ModelNotBuilt
from worker.runtime.tokens import SENTENCE_END

NEIGHBOURS = 5
#: What a known ticket says where a real one names someone: "I sent money to a friend".
#: Times, card digits and identifiers are dropped: known tickets rarely carry them.
GENERIC = {"person": "a friend", "company": "a shop", "amount": "money", "reference": "", "time": "",
           "card_last4": "", "email": "", "phone": "", "iban": "an account"}
MAX_SENTENCES = 8


def scope_texts(text: str, entities: Sequence[Entity]) -> list[str]:
    """The texts whose best score decides: the whole ticket, then each sentence of three words or more.

    Names, amounts and identifiers are replaced by the generic words known tickets use, and a
    ticket counts as in scope when any sentence is: "Hi team, hope you are well." is not a
    banking question, but the sentence after it may be.
    """
    for entity in sorted(entities, key=lambda e: -len(e.text)):
        if entity.type in GENERIC and entity.text.strip():  # whole words: "night" leaves "overnight" be
            generic = GENERIC[entity.type]
            text = re.sub(rf"(?<!\w){re.escape(entity.text)}(?!\w)", lambda _: generic, text)
    text = " ".join(text.split())
    sentences = [s.strip() for s in SENTENCE_END.split(text) if len(s.split()) >= 3]
    return [text, *[s for s in sentences[:MAX_SENTENCES] if s != text]]


@dataclass(frozen=True)
class ScopeScore:
    """The out-of-scope score in [0, 1] and the similarity to the nearest known ticket."""

    score: float
    nearest: float


def scope_features(bank: np.ndarray, vectors: np.ndarray, confidences: np.ndarray) -> np.ndarray:
    """[best similarity to ``bank``, mean of the best five, log confidence] per row of ``vectors``;
    the one definition that fitting (``train_scope``) and serving share."""
    sims = np.asarray(vectors, dtype=np.float32) @ bank.T
    best = -np.partition(-sims, NEIGHBOURS - 1, axis=1)[:, :NEIGHBOURS]
    confidences = np.clip(np.asarray(confidences, dtype=np.float64), 1e-9, 1.0)
    return np.c_[best.max(axis=1), best.mean(axis=1), np.log(confidences)]


class ScopeModel:
    """The bank of known-ticket vectors and the fitted combination; see :meth:`score`."""

    def __init__(self, bank: np.ndarray, config: dict) -> None:
        self._bank = bank
        self.config = config
        self._weights = np.asarray(config["weights"], dtype=np.float64)
        self._bias = float(config["bias"])
        self.out_of_scope_threshold = float(config["thresholds"]["out_of_scope"])
        self.auto_send_threshold = float(config["thresholds"]["auto_send"])

    @classmethod
    def load(cls, models_dir: Path) -> ScopeModel:
        """Open ``models_dir/scope``; raises :class:`ModelNotBuilt` when a file is missing."""
        folder = Path(models_dir) / "scope"
        for path in (folder / "bank.npy", folder / "scope.json"):
            if not path.is_file():
                raise ModelNotBuilt(path)
        config = json.loads((folder / "scope.json").read_text(encoding="utf-8"))
        bank = np.load(folder / "bank.npy").astype(np.float32)
        return cls(bank, config)

    def features(self, vectors: np.ndarray, confidences: np.ndarray) -> np.ndarray:
        """[best similarity, mean of the best five, log confidence] per row."""
        return scope_features(self._bank, vectors, confidences)

    def score(self, vectors: np.ndarray, confidences: np.ndarray) -> list[ScopeScore]:
        """One score per row of ``vectors`` (unit-length base-encoder vectors)."""
        if len(vectors) == 0:
            return []
        features = self.features(vectors, confidences)
        logits = features @ self._weights + self._bias
        probs = 1.0 / (1.0 + np.exp(-logits))
        return [ScopeScore(score=float(p), nearest=float(f[0])) for p, f in zip(probs, features)]
