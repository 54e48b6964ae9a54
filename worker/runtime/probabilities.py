"""Probabilities from logits, written once for every model that serves a distribution."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` in float64, for stable probabilities."""
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def top_k(probs: np.ndarray, labels: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` most likely (label, probability) pairs of one distribution, most likely first
    (ties keep label order)."""
    best = np.argsort(-probs, kind="stable")[:k]
    return [(labels[j], float(probs[j])) for j in best]
