"""The reply policy: which action under which gate, and template slots from entities."""

from __future__ import annotations

from worker.contract import Entity, Priority, ReplyAction, Sentiment
from worker.replies.reply import Gates, choose_action, reply_slots

GATES = Gates(auto_send=0.9, escalate_sentiment=-0.6)
CALM = Sentiment(label="neutral", score=0.0)
NORMAL = Priority(level="normal")


def _action(**overrides) -> tuple[ReplyAction, list[str]]:
    args = {"confidence": 0.95, "out_of_scope": False, "out_of_scope_score": 0.1, "priority": NORMAL,
            "sentiment": CALM, "unread_attachments": 0, "gates": GATES} | overrides
    return choose_action(**args)


def test_confident_calm_in_scope_ticket_is_auto_sent() -> None:
    """Every gate cleared: auto-send, saying which threshold was cleared."""
    action, reasons = _action()
    assert action is ReplyAction.auto_send and "0.90" in reasons[0]


def test_below_threshold_is_a_draft() -> None:
    """Confidence under the threshold drafts for an agent."""
    assert _action(confidence=0.89)[0] is ReplyAction.draft


def test_each_escalation_gate_escalates_and_names_itself() -> None:
    """Out of scope, urgent, very negative and intent-less tickets escalate, each with its reason."""
    assert _action(out_of_scope=True, out_of_scope_score=0.97) == (ReplyAction.escalate, ["out of scope (score 0.97)"])
    assert _action(priority=Priority(level="urgent"))[1] == ["priority urgent"]
    assert _action(sentiment=Sentiment(label="negative", score=-0.7))[1] == ["very negative sentiment (-0.70)"]
    assert _action(confidence=None)[1] == ["no intent could be read"]
    action, reasons = _action(out_of_scope=True, priority=Priority(level="urgent"))
    assert action is ReplyAction.escalate and len(reasons) == 2


def test_out_of_scope_is_never_auto_sent_even_when_confident() -> None:
    """A confident guess at an out-of-scope ticket still escalates."""
    assert _action(confidence=0.999, out_of_scope=True)[0] is ReplyAction.escalate


def test_unread_attachment_drafts() -> None:
    """A confident ticket with an unreadable attachment is drafted."""
    assert _action(unread_attachments=1) == (ReplyAction.draft, ["1 attachment(s) could not be read"])


def test_slots_are_display_ready_and_prefer_the_ticket_text() -> None:
    """Amounts get symbols, dates read as words, the first name only; text entities win over images."""
    entities = [
        Entity(type="amount", text="£5", start=0, end=2, value={"amount": 5.0, "currency": "GBP"}, source="image"),
        Entity(type="amount", text="25 euros", start=9, end=17, value={"amount": 25.0, "currency": "EUR"}),
        Entity(type="date", text="yesterday", start=20, end=29, value="2022-03-14"),
        Entity(type="card_last4", text="6467", start=40, end=44, value="6467"),
        Entity(type="company", text="Snappy Snaps", start=50, end=62, value="Snappy Snaps"),
    ]
    slots = reply_slots(entities, display_name="Anna Smith")
    assert slots == {"name": "Anna", "amount": "€25.00", "date": "14 March 2022", "time": None,
                     "card_last4": "6467", "company": "Snappy Snaps", "person": None, "reference": None}
    assert reply_slots([], display_name=None)["name"] is None
