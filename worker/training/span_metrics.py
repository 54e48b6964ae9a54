"""Span metrics for the entity tagger: per-type precision/recall/F1 with overlap or exact matching."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from worker.text.tagger import TYPES, TaggedSpan
from worker.training.data.nlupp import Span


def match_spans(gold: Sequence[Span], predicted: Sequence[TaggedSpan | Span], *, exact: bool) -> int:
    """Number of one-to-one matches: same type and overlapping (``exact``: same offsets)."""
    used: set[int] = set()
    for p in predicted:
        for k, g in enumerate(gold):
            if k in used or g.type != p.type:
                continue
            if (g.start == p.start and g.end == p.end) if exact else (p.start < g.end and g.start < p.end):
                used.add(k)
                break
    return len(used)


def span_metrics(gold: Sequence[Sequence[Span]], predicted: Sequence[Sequence[TaggedSpan | Span]], *,
                 exact: bool = False) -> dict:
    """Per-type precision/recall/F1 (+ counts), their macro mean and the micro figures."""
    counts = {t: [0, 0, 0] for t in TYPES}  # matched, predicted, gold
    for g_spans, p_spans in zip(gold, predicted):
        for t in TYPES:
            g = [s for s in g_spans if s.type == t]
            p = [s for s in p_spans if s.type == t]
            counts[t][0] += match_spans(g, p, exact=exact)
            counts[t][1] += len(p)
            counts[t][2] += len(g)

    def prf(matched: int, n_pred: int, n_gold: int) -> dict:
        precision = matched / n_pred if n_pred else 0.0
        recall = matched / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                "matched": matched, "predicted": n_pred, "gold": n_gold}

    per_type = {t: prf(*c) for t, c in counts.items()}
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    return {"per_type": per_type, "macro_f1": round(statistics.mean(m["f1"] for m in per_type.values()), 4),
            "micro": prf(*total)}


def format_metrics(name: str, metrics: dict) -> str:
    """A small table: type, P, R, F1, gold count."""
    lines = [f"{name}: macro F1 {metrics['macro_f1']:.3f}, micro F1 {metrics['micro']['f1']:.3f}",
             f"  {'type':<11}{'P':>7}{'R':>7}{'F1':>7}{'gold':>6}"]
    for t, m in metrics["per_type"].items():
        lines.append(f"  {t:<11}{m['precision']:>7.3f}{m['recall']:>7.3f}{m['f1']:>7.3f}{m['gold']:>6}")
    return "\n".join(lines)
