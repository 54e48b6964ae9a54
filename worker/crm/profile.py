"""A customer's profile computed from their history: a pure function, so tests can pin every figure.

Time windows count tickets by ``created_at`` relative to ``now``. An *issue* is an intent of an
in-scope ticket; it is *open* while a ticket of that intent is newer than its latest resolution
(resolving a ticket closes it and every earlier ticket of the same intent) and at most 90 days
old. An intent is *repeated* when two of its tickets came within ``repeat_days`` of each other;
its count is the run of tickets, each within ``repeat_days`` of the one before, that ends with the
newest. The profile also says when it next changes by time alone (``valid_until``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from worker.crm.risk import escalation_risk

__all__ = ["Fact", "WINDOWS", "build_profile"]

WINDOWS = {"7d": 7, "30d": 30, "90d": 90}
OPEN_FOR_DAYS = 90
TREND_POINTS = 10
TOP_INTENTS = 5


@dataclass(frozen=True)
class Fact:
    """One ticket of the history as the profile reads it."""

    ticket_id: str
    customer_id: str
    created_at: datetime
    channel: str
    intent: str | None = None
    out_of_scope: bool = False
    sentiment: float | None = None
    sentiment_label: str | None = None
    priority: str | None = None
    action: str | None = None
    modalities: tuple[str, ...] = field(default_factory=tuple)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _slope(values: Sequence[float]) -> float | None:
    """Least-squares slope per contact; None for fewer than two points."""
    n = len(values)
    if n < 2:
        return None
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    numerator = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    denominator = sum((i - mean_x) ** 2 for i in range(n))
    return round(numerator / denominator, 4)


def _runs(moments: list[datetime], days: int) -> int:
    """Length of the run ending at the newest moment, each within ``days`` of the one before."""
    count = 1
    for later, earlier in zip(reversed(moments), list(reversed(moments))[1:]):
        if later - earlier > timedelta(days=days):
            break
        count += 1
    return count


def build_profile(
    facts: Iterable[Fact],
    *,
    now: datetime,
    resolved: dict[str, datetime] | None = None,
    repeat_days: int = 14,
    very_negative_at: float = -0.6,
    linked: Sequence[dict[str, Any]] = (),
) -> tuple[dict[str, Any], datetime | None]:
    """The profile of the customer whose (linked) history is ``facts``, and when time alone will
    next change it. ``resolved`` maps resolved ticket ids to when they were resolved."""
    history = sorted(facts, key=lambda fact: (fact.created_at, fact.ticket_id))
    resolved = resolved or {}
    horizon: list[datetime] = []

    def since(days: int) -> list[Fact]:
        start = now - timedelta(days=days)
        horizon.extend(f.created_at + timedelta(days=days) for f in history if f.created_at > start)
        return [f for f in history if start < f.created_at <= now]

    contacts = {name: len(since(days)) for name, days in WINDOWS.items()}
    issues = [f for f in history if f.intent and not f.out_of_scope]
    closed_until: dict[str, datetime] = {}
    for fact in issues:
        if fact.ticket_id in resolved:
            closed_until[fact.intent] = max(closed_until.get(fact.intent, fact.created_at), fact.created_at)  # type: ignore[index]
    open_issues = []
    recent = since(OPEN_FOR_DAYS)
    for intent in sorted({f.intent for f in issues}):  # type: ignore[type-var]
        pending = [f for f in recent if f.intent == intent and not f.out_of_scope
                   and (intent not in closed_until or f.created_at > closed_until[intent])]
        if pending:
            open_issues.append({"intent": intent, "tickets": len(pending), "since": _iso(pending[0].created_at),
                                "last": _iso(pending[-1].created_at), "ticket_ids": [f.ticket_id for f in pending]})
    repeated_issues = []
    for intent in sorted({f.intent for f in recent if f.intent and not f.out_of_scope}):  # type: ignore[type-var]
        moments = [f.created_at for f in recent if f.intent == intent and not f.out_of_scope]
        run = _runs(moments, repeat_days)
        if run >= 2:
            repeated_issues.append({"intent": intent, "count": run, "first": _iso(moments[-run]),
                                    "last": _iso(moments[-1]), "within_days": repeat_days})
    scored = [f for f in history if f.sentiment is not None][-TREND_POINTS:]
    trend = {
        "last": scored[-1].sentiment if scored else None,
        "last_label": scored[-1].sentiment_label if scored else None,
        "slope": _slope([f.sentiment for f in scored]),  # type: ignore[misc]
        "points": len(scored),
    }
    escalations = [f for f in since(30) if f.action == "escalate" or f.priority == "urgent"]
    modalities: Counter[str] = Counter()
    for fact in history:
        modalities.update(fact.modalities or ("text",))
    profile: dict[str, Any] = {
        "tickets": len(history),
        "contacts": contacts,
        "open_issues": open_issues,
        "repeated_issues": repeated_issues,
        "top_intents": [{"intent": intent, "count": count} for intent, count in
                        sorted(Counter(f.intent for f in issues).items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_INTENTS]],
        "sentiment_trend": trend,
        "channels": dict(sorted(Counter(f.channel for f in history).items())),
        "modalities": dict(sorted(modalities.items())),
        "last_contact": _iso(history[-1].created_at) if history else None,
        "first_contact": _iso(history[0].created_at) if history else None,
        "escalations_30d": len(escalations),
        "resolved_tickets": sorted(resolved.keys() & {f.ticket_id for f in history}),
        "linked_customers": list(linked),
    }
    profile["risk"] = escalation_risk(profile, very_negative_at=very_negative_at)
    future = [moment for moment in horizon if moment > now]
    return profile, min(future) if future else None
