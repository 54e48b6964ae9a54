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


#: How sharply the surest window wins: confidence 0.97 weighs 0.78, confidence 0.6 weighs 0.02.
WINDOW_SHARPNESS = 8


def combine_windows(probs: np.ndarray) -> np.ndarray:
    """One distribution for a text read in several windows: their mean, each weighted by its
    confidence to the power :data:`WINDOW_SHARPNESS`, so the window that holds the request
    outweighs the context around it, and the text is never surer than its surest window."""
    probs = np.asarray(probs, dtype=np.float64)
    if len(probs) == 1:
        return probs[0]
    weights = probs.max(axis=1) ** WINDOW_SHARPNESS
    combined = (weights[:, None] * probs).sum(axis=0) / weights.sum()
    return combined / combined.sum()
