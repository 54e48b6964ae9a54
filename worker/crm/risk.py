"""Escalation risk in [0, 1] from a customer's profile, with the reasons that make it up.

A noisy-OR of named signals: each signal alone is a chance that this customer's next contact needs
a person (its weight), and independent signals combine as ``1 - prod(1 - w)``. So the score is
bounded, grows with every signal present, and each reason says exactly how much it adds. No
escalation outcomes reach this project to fit the weights on; docs/profiles.md justifies each one,
and :data:`WEIGHTS` is the one place to refit them from a help desk's own outcomes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["WEIGHTS", "escalation_risk"]

#: The chance each signal alone stands for (see docs/profiles.md, "Escalation risk").
WEIGHTS: dict[str, float] = {
    "repeated_open_issue": 0.30,   # the same problem raised again within the repeat window, not resolved
    "third_contact_same_issue": 0.20,  # added on top once the same open problem reaches three contacts
    "frequent_contact": 0.25,      # three or more contacts in seven days, whatever about
    "very_negative": 0.30,         # the last ticket's sentiment at or below the escalation line
    "negative": 0.12,              # the last ticket negative, above that line
    "sentiment_falling": 0.20,     # sentiment falling over the last contacts
    "escalated_before": 0.20,      # a ticket of the last 30 days was escalated or urgent
    "several_open_issues": 0.10,   # two or more problems open at once
}
FALLING_SLOPE = -0.15  # VADER compound per contact, over at least three contacts
FREQUENT_7D = 3


def escalation_risk(profile: dict[str, Any], *, very_negative_at: float = -0.6) -> dict[str, Any]:
    """``{"score", "reasons"}`` for a profile built by :func:`worker.crm.profile.build_profile`."""
    reasons: list[dict[str, Any]] = []

    def add(code: str, detail: str) -> None:
        reasons.append({"reason": code, "weight": WEIGHTS[code], "detail": detail})

    open_intents = {issue["intent"] for issue in profile["open_issues"]}
    repeated = [issue for issue in profile["repeated_issues"] if issue["intent"] in open_intents]
    if repeated:
        worst = max(repeated, key=lambda issue: issue["count"])
        add("repeated_open_issue", f"{worst['count']} contacts about {worst['intent']} within "
                                   f"{worst['within_days']} days, not resolved")
        if worst["count"] >= 3:
            add("third_contact_same_issue", f"contact number {worst['count']} about {worst['intent']}")
    if profile["contacts"]["7d"] >= FREQUENT_7D:
        add("frequent_contact", f"{profile['contacts']['7d']} contacts in the last 7 days")
    trend = profile["sentiment_trend"]
    if trend["last"] is not None and trend["last"] <= very_negative_at:
        add("very_negative", f"last sentiment {trend['last']:.2f}")
    elif trend["last_label"] == "negative":
        add("negative", f"last sentiment {trend['last']:.2f}")
    if trend["slope"] is not None and trend["points"] >= 3 and trend["slope"] <= FALLING_SLOPE:
        add("sentiment_falling", f"sentiment falling {trend['slope']:.2f} per contact over {trend['points']}")
    if profile["escalations_30d"]:
        add("escalated_before", f"{profile['escalations_30d']} escalated or urgent ticket(s) in 30 days")
    if len(profile["open_issues"]) >= 2:
        add("several_open_issues", f"{len(profile['open_issues'])} issues open")
    keep = 1.0
    for reason in reasons:
        keep *= 1.0 - reason["weight"]
    return {"score": round(1.0 - keep, 4), "reasons": reasons}
