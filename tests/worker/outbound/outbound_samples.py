"""Shared pieces of the outbound webhook tests: a real HTTP receiver, subscriptions, tickets with PII.

The receiver lives in ``tests/receivers.py``, shared with the API's end-to-end test.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from receivers import Received, Receiver, running_receiver

from worker.contract import Ticket, TriageResult
from worker.outbound import Subscription
from worker.pii.redaction import redact_result, redact_ticket

SECRET = "test-secret-0123456789abcdef"
CARD = "4111 1111 1111 1111"
CARD_DIGITS = CARD.replace(" ", "")
EMAIL = "ada@example.com"
BODY_MARKER = "Secret body marker"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
__all__ = ["Received", "Receiver", "running_receiver", "subscription", "ticket_with_card", "triaged"]


def subscription(url: str, **fields: Any) -> Subscription:
    """A subscription to ``url`` signed with :data:`SECRET`, with short waits between attempts."""
    defaults: dict[str, Any] = {"name": "crm", "secret": SECRET, "secret_env": "TF_TEST_SECRET", "timeout_s": 5.0,
                                "max_attempts": 4, "backoff_base_s": 1.0, "backoff_max_s": 30.0}
    return Subscription(url=url, **{**defaults, **fields})


def ticket_with_card(ticket_id: str = "T-77", **fields: Any) -> Ticket:
    """A ticket, redacted as crm_update receives it, whose raw body held a card and an e-mail address."""
    fields.setdefault("metadata", {"zendesk_ticket_id": "4242", "display_name": "Ada"})
    raw = Ticket(
        ticket_id=ticket_id,
        customer_id="C-ada",
        subject="Charged twice",
        body=f"My card {CARD} was charged twice, write to {EMAIL}. {BODY_MARKER}.",
        created_at=T0,
        **fields,
    )
    return redact_ticket(raw)


def triaged(ticket_id: str = "T-77", *, action: str = "draft", level: str = "high",
            label: str = "card_charged_twice", **fields: Any) -> TriageResult:
    """A result as the worker passes it on: holding the card number, then redacted."""
    raw = TriageResult(
        ticket_id=ticket_id,
        customer_id="C-ada",
        intent={"label": label, "confidence": 0.91},
        priority={"level": level, "reasons": ["money"]},
        sentiment={"label": "negative", "score": -0.62},
        entities=[{"type": "card", "text": CARD, "start": 8, "end": 27, "value": CARD_DIGITS},
                  {"type": "email", "text": EMAIL, "start": 54, "end": 69, "value": EMAIL}],
        cleaning={"text": f"My card {CARD} was charged twice, write to {EMAIL}.", "original_chars": 90},
        reply={"action": action, "text": f"We refunded the charge on card {CARD}.", "reasons": ["confident"]},
        model_version="intent-v1",
        triaged_at=T0,
        **fields,
    )
    return redact_result(raw)


def no_pii(text: str) -> bool:
    """No card number (spaced or not), e-mail address or raw body in ``text``."""
    return all(secret not in text for secret in (CARD, CARD_DIGITS, EMAIL, BODY_MARKER))
