"""Payload templates and subscription filters, from redacted results: no PII, no raw body."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from outbound_samples import CARD_DIGITS, ticket_with_card, triaged
from outbound_samples import no_pii as carries_no_pii
from outbound_samples import subscription as make_subscription

from worker.contract import TriageResult
from worker.outbound import Filter, deliveries_for, generic, render, zendesk
from worker.outbound.templates import sent_now

NOW = datetime(2026, 3, 2, 10, 5, tzinfo=timezone.utc)


def test_generic_wraps_the_redacted_result() -> None:
    """generic: event, ticket and customer ids, the redacted result as JSON, and sent_at."""
    ticket, result = ticket_with_card(), triaged()
    payload = generic(result, ticket, now=NOW)
    assert payload["event"] == "ticket.triaged"
    assert (payload["ticket_id"], payload["customer_id"]) == ("T-77", "C-ada")
    assert payload["sent_at"] == "2026-03-02T10:05:00Z"
    assert payload["result"]["intent"]["label"] == "card_charged_twice"
    assert payload["result"] == json.loads(result.model_dump_json())
    assert carries_no_pii(json.dumps(payload))


def test_generic_redacts_a_result_that_was_not_redacted() -> None:
    """A template masks the result again itself, so an unredacted result still leaks nothing."""
    raw = TriageResult(ticket_id="T-77", reply={"action": "draft", "text": f"card {CARD_DIGITS} refunded"})
    payload = generic(raw, ticket_with_card(), now=NOW)
    assert CARD_DIGITS not in json.dumps(payload)
    assert "[card ****1111]" in payload["result"]["reply"]["text"]


def test_sent_now_restamps_generic_payloads_only() -> None:
    """sent_at is set at sending time; a payload without one (zendesk) is left as it is."""
    later = datetime(2026, 3, 3, 8, 0, tzinfo=timezone.utc)
    assert sent_now({"sent_at": "old", "x": 1}, now=later) == {"sent_at": "2026-03-03T08:00:00Z", "x": 1}
    assert sent_now({"ticket": {}}, now=later) == {"ticket": {}}


def test_zendesk_carries_tags_priority_and_an_internal_note_without_pii() -> None:
    """zendesk: intent__/priority__ tags, Zendesk's priority, a private note with the draft, the
    help desk's id, and no card number, e-mail address or raw body."""
    payload = zendesk(triaged(), ticket_with_card())
    update = payload["ticket"]
    assert update["tags"] == ["intent__card_charged_twice", "priority__high"]
    assert update["priority"] == "high"
    assert update["id"] == 4242
    assert update["comment"]["public"] is False
    note = update["comment"]["body"]
    assert "Draft reply for an agent to review" in note
    assert "We refunded the charge on card [card ****1111]." in note
    assert "Intent: card_charged_twice (confidence 0.91)" in note and "Priority: high: money" in note
    assert carries_no_pii(json.dumps(payload))
    assert "Charged twice" not in json.dumps(payload)  # nor the subject


def test_zendesk_tags_an_escalation() -> None:
    """An escalated result gets the escalated tag (and out_of_scope when flagged) and an urgent priority."""
    result = triaged(action="escalate", level="urgent", out_of_scope=True, out_of_scope_score=0.8)
    update = zendesk(result, ticket_with_card())["ticket"]
    assert update["tags"] == ["intent__card_charged_twice", "priority__urgent", "escalated", "out_of_scope"]
    assert update["priority"] == "urgent"
    assert "Escalated to an agent" in update["comment"]["body"]
    assert "Out of scope for the intent taxonomy (score 0.80)" in update["comment"]["body"]


def test_zendesk_without_a_helpdesk_id_or_intent() -> None:
    """No help-desk id in the metadata: no id; no intent or priority: no such tags and no priority."""
    payload = zendesk(TriageResult(ticket_id="T-77"), ticket_with_card(metadata={}))
    assert payload == {"ticket": {"tags": [], "comment": {"body": "ticketfusion triage", "public": False}}}


def test_zendesk_tags_are_safe_words() -> None:
    """An intent label with spaces or punctuation becomes a lowercase tag of word characters."""
    update = zendesk(triaged(label="Card: Not Working!"), ticket_with_card())["ticket"]
    assert update["tags"][0] == "intent__card_not_working"


def test_render_refuses_an_unknown_template() -> None:
    """render names the unknown template and the ones there are."""
    with pytest.raises(ValueError, match="unknown webhook template 'freshdesk': use one of generic, zendesk"):
        render("freshdesk", triaged(), ticket_with_card())


def test_deliveries_for_applies_each_subscriptions_filter() -> None:
    """Only subscriptions whose filter accepts the result are owed it, each with its own template."""
    everyone = make_subscription("https://a.example/h", name="all")
    escalations = make_subscription("https://b.example/h", name="desk", template="zendesk",
                                    only=Filter(actions=frozenset({"escalate"}), min_priority="high"))
    chat_only = make_subscription("https://c.example/h", name="chat", only=Filter(channels=frozenset({"chat"})))
    subscriptions = [everyone, escalations, chat_only]
    ticket = ticket_with_card()

    owed = deliveries_for(triaged(action="draft", level="urgent"), ticket, subscriptions, now=NOW)
    assert [s.name for s, _ in owed] == ["all"]
    owed = deliveries_for(triaged(action="escalate", level="normal"), ticket, subscriptions, now=NOW)
    assert [s.name for s, _ in owed] == ["all"]
    owed = deliveries_for(triaged(action="escalate", level="high"), ticket, subscriptions, now=NOW)
    assert [s.name for s, _ in owed] == ["all", "desk"]
    assert owed[0][1]["event"] == "ticket.triaged" and "tags" in owed[1][1]["ticket"]


@pytest.mark.parametrize(
    ("conditions", "values", "accepted"),
    [
        ({}, {}, True),
        ({"min_priority": "high"}, {"priority": None}, False),
        ({"min_priority": "normal"}, {"priority": "normal"}, True),
        ({"min_priority": "normal"}, {"priority": "low"}, False),
        ({"intents": frozenset({"card_arrival"})}, {"intent": "card_arrival"}, True),
        ({"intents": frozenset({"card_arrival"})}, {"intent": None}, False),
        ({"out_of_scope": True}, {"out_of_scope": False}, False),
        ({"actions": frozenset({"auto_send"})}, {"action": None}, False),
    ],
)
def test_filter_conditions(conditions: dict, values: dict, accepted: bool) -> None:
    """Each filter condition passes or stops a result; an unset condition passes every result."""
    base = {"action": "draft", "priority": "high", "intent": "x", "channel": "email", "out_of_scope": False}
    assert Filter(**conditions).accepts(**{**base, **values}) is accepted


def test_deliveries_for_refuses_a_mismatched_ticket() -> None:
    """A result for another ticket is refused rather than sent with the wrong ids."""
    with pytest.raises(ValueError, match="result is for ticket 'T-1', not 'T-77'"):
        deliveries_for(triaged("T-1"), ticket_with_card(), [make_subscription("https://a.example/h")])
