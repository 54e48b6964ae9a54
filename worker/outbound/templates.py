"""What a subscription receives: a payload built from the redacted result, never from the raw ticket.

``generic``: the result as the CRM stores it, in an envelope::

    {"event": "ticket.triaged", "ticket_id": ..., "customer_id": ..., "result": {...}, "sent_at": ...}

``zendesk``: a help-desk write-back in the shape of Zendesk's ticket update (``PUT
/api/v2/tickets/{id}``): tags ``intent__<label>``, ``priority__<level>`` and ``escalated``, the
priority, and an internal (non-public) note holding the draft reply, plus the help desk's own
ticket id when the ticket's metadata carries it. The ticket's subject and body never enter a
payload; the result is redacted again here, whatever the caller did (redaction is idempotent).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from worker.contract import ReplyAction, Ticket, TriageResult
from worker.pii.redaction import redact_result, redact_text

__all__ = ["HELPDESK_ID_KEYS", "TEMPLATES", "generic", "render", "sent_now", "zendesk"]

EVENT = "ticket.triaged"
#: Ticket metadata keys that may hold the help desk's own id of a ticket, first found wins.
HELPDESK_ID_KEYS = ("zendesk_ticket_id", "zendesk_id", "helpdesk_ticket_id", "source_ticket_id", "source_id",
                    "external_id")
#: Our priority levels as Zendesk names them (the same four words).
ZENDESK_PRIORITY = {"low": "low", "normal": "normal", "high": "high", "urgent": "urgent"}
_TAG_UNSAFE = re.compile(r"[^a-z0-9_]+")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def generic(result: TriageResult, ticket: Ticket, *, now: datetime | None = None) -> dict[str, Any]:
    """The redacted result in the ``ticket.triaged`` envelope."""
    redacted = redact_result(result)
    return {
        "event": EVENT,
        "ticket_id": ticket.ticket_id,
        "customer_id": ticket.customer_id,
        "result": redacted.model_dump(mode="json"),
        "sent_at": _iso(now or datetime.now(timezone.utc)),
    }


def sent_now(payload: dict[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """``payload`` with ``sent_at`` set to the moment of sending (generic payloads carry one)."""
    if "sent_at" not in payload:
        return payload
    return {**payload, "sent_at": _iso(now or datetime.now(timezone.utc))}


def _tag(prefix: str, value: str) -> str:
    return prefix + (_TAG_UNSAFE.sub("_", value.lower()).strip("_") or "unknown")


def _helpdesk_id(ticket: Ticket) -> int | str | None:
    for key in HELPDESK_ID_KEYS:
        value = ticket.metadata.get(key)
        if isinstance(value, bool) or value in (None, ""):
            continue
        text = redact_text(str(value).strip())  # a card number in a help-desk id field is still a card
        return int(text) if text.isdigit() else text
    return None


def _note(result: TriageResult) -> str:
    """The internal note: what ticketfusion concluded, then the reply to review."""
    lines = ["ticketfusion triage" + (f" ({result.model_version})" if result.model_version else "")]
    if result.intent is not None:
        lines.append(f"Intent: {result.intent.label} (confidence {result.intent.confidence:.2f})")
    if result.out_of_scope:
        score = f" (score {result.out_of_scope_score:.2f})" if result.out_of_scope_score is not None else ""
        lines.append(f"Out of scope for the intent taxonomy{score}")
    if result.priority is not None:
        reasons = f": {', '.join(result.priority.reasons)}" if result.priority.reasons else ""
        lines.append(f"Priority: {result.priority.level}{reasons}")
    if result.sentiment is not None:
        lines.append(f"Sentiment: {result.sentiment.label} ({result.sentiment.score:+.2f})")
    reply = result.reply
    if reply is not None:
        reasons = f" ({', '.join(reply.reasons)})" if reply.reasons else ""
        heading = {
            ReplyAction.auto_send: "Reply sent to the customer automatically",
            ReplyAction.draft: "Draft reply for an agent to review",
            ReplyAction.escalate: "Escalated to an agent",
        }[reply.action]
        lines += ["", heading + reasons + (":" if reply.text else "")]
        if reply.text:
            lines.append(reply.text)
        if reply.articles:
            lines += ["", "Suggested articles: " + "; ".join(article.title for article in reply.articles)]
    if result.errors:
        lines += ["", "Not read: " + ", ".join(f"{error.where} ({error.code})" for error in result.errors)]
    return "\n".join(lines)


def zendesk(result: TriageResult, ticket: Ticket, *, now: datetime | None = None) -> dict[str, Any]:
    """A Zendesk-style ticket update: tags, priority and an internal note (``now`` is unused)."""
    redacted = redact_result(result)
    tags = []
    if redacted.intent is not None:
        tags.append(_tag("intent__", redacted.intent.label))
    if redacted.priority is not None:
        tags.append(_tag("priority__", redacted.priority.level))
    if redacted.reply is not None and redacted.reply.action is ReplyAction.escalate:
        tags.append("escalated")
    if redacted.out_of_scope:
        tags.append("out_of_scope")
    update: dict[str, Any] = {"tags": tags, "comment": {"body": _note(redacted), "public": False}}
    if redacted.priority is not None:
        update["priority"] = ZENDESK_PRIORITY[redacted.priority.level]
    helpdesk_id = _helpdesk_id(ticket)
    if helpdesk_id is not None:
        update["id"] = helpdesk_id
    return {"ticket": update}


TEMPLATES: dict[str, Callable[..., dict[str, Any]]] = {"generic": generic, "zendesk": zendesk}


def render(template: str, result: TriageResult, ticket: Ticket, *, now: datetime | None = None) -> dict[str, Any]:
    """The payload of ``template`` (generic or zendesk) for one triaged ticket."""
    try:
        build = TEMPLATES[template]
    except KeyError:
        raise ValueError(f"unknown webhook template {template!r}: use one of {', '.join(TEMPLATES)}") from None
    return build(result, ticket, now=now)
