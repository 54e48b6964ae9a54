"""The e-mail condition beside the clean one: the same requests, as help desks receive them.

Every Banking77 validation request (and every out-of-scope query of the pool) is wrapped in an
e-mail by :mod:`worker.training.data.synthetic.emails` with its validation parts only (greetings,
signatures, quoting styles and footers that no model was trained on), then triaged by the served
:class:`~worker.orchestrator.triager.Triager`, once with cleaning and once without, so the report
shows what the e-mail costs and what the cleaning wins back. Figures per condition: intent
accuracy, auto-send coverage and precision (alone and with the out-of-scope tickets in the pool),
out-of-scope false flags and AUROC, and the share of the text that cleaning removed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from worker.contract import TriageResult
from worker.training.data.synthetic.emails import EmailTicket, email_tickets
from worker.training.fitting.train_scope import auroc

log = logging.getLogger(__name__)

EMAIL_SEED = 29
BATCH = 64


def email_sets(in_scope: Sequence[str], out_of_scope: Sequence[str]) -> dict[str, list[EmailTicket]]:
    """The validation requests and the out-of-scope queries, each as a validation-part e-mail."""
    return {"in_scope": email_tickets(list(in_scope), seed=EMAIL_SEED, part="val"),
            "out_of_scope": email_tickets(list(out_of_scope), seed=EMAIL_SEED + 1, part="val")}


def triage_all(triager, tickets: Sequence[dict[str, Any]], *, name: str, progress: bool) -> list[TriageResult]:
    """Triage in batches, as a worker would."""
    out: list[TriageResult] = []
    for start in range(0, len(tickets), BATCH):
        out += triager.triage_batch(list(tickets[start:start + BATCH]))
        if progress:
            log.info("%s: %d/%d triaged", name, len(out), len(tickets))
    return out


def as_tickets(emails: Sequence[EmailTicket], *, prefix: str, created_at: str) -> list[dict[str, Any]]:
    return [{"ticket_id": f"{prefix}-{i}", "customer_id": "eval", "subject": e.subject, "body": e.body,
             "created_at": created_at} for i, e in enumerate(emails)]


def condition_figures(in_scope: Sequence[TriageResult], targets: Sequence[str],
                      out_of_scope: Sequence[TriageResult]) -> dict[str, Any]:
    """Accuracy, auto-send, out-of-scope and cleaning figures of one condition."""
    correct = np.array([r.intent is not None and r.intent.label == t for r, t in zip(in_scope, targets)])
    auto = np.array([r.reply is not None and r.reply.action.value == "auto_send" for r in in_scope])
    oos_auto = np.array([r.reply is not None and r.reply.action.value == "auto_send" for r in out_of_scope])
    scores_in = np.array([r.out_of_scope_score if r.out_of_scope_score is not None else 0.0 for r in in_scope])
    scores_out = np.array([r.out_of_scope_score if r.out_of_scope_score is not None else 0.0 for r in out_of_scope])
    sent = int(auto.sum()) + int(oos_auto.sum())
    removed = [r.cleaning.removed_share for r in in_scope if r.cleaning is not None]
    kinds: dict[str, int] = {}
    for r in in_scope:
        for part in (r.cleaning.removed if r.cleaning else []):
            kinds[part.kind] = kinds.get(part.kind, 0) + part.chars
    original = sum(r.cleaning.original_chars for r in in_scope if r.cleaning) or 1
    return {
        "n": len(in_scope), "n_out_of_scope": len(out_of_scope),
        "accuracy": round(float(correct.mean()), 4),
        "auto_send_coverage": round(float(auto.mean()), 4),
        "auto_send_precision": round(float(correct[auto].mean()), 4) if auto.any() else None,
        "auto_send_precision_with_out_of_scope": round(float(correct[auto].sum()) / sent, 4) if sent else None,
        "out_of_scope_auto_sent_per_1000": round(1000 * float(oos_auto.mean()), 1) if len(oos_auto) else None,
        "false_flag_rate": round(float(np.mean([r.out_of_scope for r in in_scope])), 4),
        "out_of_scope_flagged": round(float(np.mean([r.out_of_scope for r in out_of_scope])), 4) if out_of_scope else None,
        "auroc": round(auroc(scores_in, scores_out), 4) if len(scores_out) else None,
        "removed_share_mean": round(float(np.mean(removed)), 4) if removed else 0.0,
        "removed_share_by_kind": {k: round(v / original, 4) for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])},
    }


def by_part(emails: Sequence[EmailTicket], results: Sequence[TriageResult], targets: Sequence[str]) -> dict[str, Any]:
    """Accuracy of the e-mails that contain each kind of part (a quote, a disclaimer, HTML...)."""
    out: dict[str, Any] = {}
    kinds = sorted({kind for e in emails for kind in e.parts})
    for kind in kinds:
        rows = [i for i, e in enumerate(emails) if kind in e.parts]
        right = sum(results[i].intent is not None and results[i].intent.label == targets[i] for i in rows)
        out[kind] = {"n": len(rows), "accuracy": round(right / len(rows), 4)}
    return out


def email_figures(settings, *, in_scope: Sequence[str], targets: Sequence[str], out_of_scope: Sequence[str],
                  created_at: str, progress: bool = True) -> dict[str, Any]:
    """The e-mail condition, with and without cleaning (the clean condition is the caller's)."""
    from worker.orchestrator.triager import Triager

    sets = email_sets(in_scope, out_of_scope)
    tickets = {name: as_tickets(emails, prefix=f"email-{name}", created_at=created_at) for name, emails in sets.items()}
    figures: dict[str, Any] = {}
    for name, clean in (("email", True), ("email_uncleaned", False)):
        triager = Triager.load(settings.model_copy(update={"clean_text": clean}))
        results = {key: triage_all(triager, rows, name=f"{name} {key}", progress=progress) for key, rows in tickets.items()}
        figures[name] = condition_figures(results["in_scope"], targets, results["out_of_scope"])
        figures[name]["by_part"] = by_part(sets["in_scope"], results["in_scope"], targets)
    return figures


__all__ = ["condition_figures", "email_figures", "email_sets"]
