"""Classification metrics and temperature scaling, shared by the intent, ensemble and fusion fits."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> float:
    """Unweighted mean of per-class F1 over the classes present in ``y_true`` or ``y_pred``."""
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", labels=np.arange(n_labels), zero_division=0))


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    """ECE with equal-width confidence bins: Σ |acc(bin) - conf(bin)| · |bin| / n."""
    confidence = probs.max(1)
    correct = (probs.argmax(1) == y_true).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            ece += abs(correct[in_bin].mean() - confidence[in_bin].mean()) * in_bin.mean()
    return float(ece)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def fit_temperature(logits: np.ndarray, y_true: np.ndarray) -> tuple[float, float, float]:
    """Temperature minimising the NLL of ``y_true``; returns (T, NLL at T=1, NLL at T)."""
    x = torch.tensor(logits, dtype=torch.float64)
    y = torch.tensor(y_true, dtype=torch.long)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(x / log_t.exp(), y)
        loss.backward()
        return loss

    optimiser.step(closure)
    t = float(log_t.detach().exp())
    with torch.no_grad():
        before = float(nn.functional.cross_entropy(x, y))
        after = float(nn.functional.cross_entropy(x / t, y))
    return t, before, after


def classification_metrics(logits: np.ndarray, y_true: np.ndarray, n_labels: int) -> dict:
    pred = logits.argmax(1)
    return {
        "accuracy": round(float((pred == y_true).mean()), 6),
        "macro_f1": round(macro_f1(y_true, pred, n_labels), 6),
    }
