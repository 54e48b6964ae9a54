"""Entities, sentiment, out-of-scope detection, priority and replies through the real Triager."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from samples import screenshot_png

from worker.contract import CustomerContext, Ticket
from worker.orchestrator.triager import Triager
from worker.settings import Settings

NOW = "2022-03-15T09:00:00Z"


@pytest.fixture(scope="module")
def triager(tmp_path_factory: pytest.TempPathFactory) -> Triager:
    state = tmp_path_factory.mktemp("understand-state")
    return Triager.load(Settings(state_dir=state, blob_dir=state / "blobs", media_threads=2), allow_local_files=True)


def _ticket(body: str, **extra) -> dict:
    return {"ticket_id": extra.pop("ticket_id", "U-1"), "customer_id": "C-understand", "body": body,
            "created_at": NOW, **extra}


def _types(result) -> dict[str, list]:
    out: dict[str, list] = {}
    for entity in result.entities:
        out.setdefault(entity.type, []).append(entity.value)
    return out


def test_key_information_is_extracted_with_values(triager: Triager) -> None:
    """Amount, relative date, time, person, reference, card and phone come out normalised."""
    body = ("I sent 200 euros to maria lopez yesterday at half past 3 pm, ref TX-99812, from my card "
            "4539 1488 0343 6467 but she has not received it. Call me on 07911 123456.")
    result = triager.triage(_ticket(body))
    found = _types(result)
    assert found["amount"] == [{"amount": 200.0, "currency": "EUR"}]
    assert found["date"] == ["2022-03-14"]
    assert found["time"] == ["15:30"]
    assert [e.text for e in result.entities if e.type == "person"] == ["maria lopez"]
    assert found["reference"] == ["TX-99812"]
    assert found["card_last4"] == ["6467"]
    assert found["phone"] == ["+447911123456"]
    for entity in result.entities:
        assert body[entity.start:entity.end] == entity.text and entity.source == "text"
    assert "4539148803436467" not in str(result.model_dump()).replace(" ", "")


def test_entities_from_a_screenshot_say_so(triager: Triager, tmp_path: Path) -> None:
    """An amount read from a screenshot is an entity whose source is image, offsets into its transcript."""
    path = tmp_path / "shot.png"
    path.write_bytes(screenshot_png(["Support chat", "I was charged £45.99 twice", "at Tesco yesterday", "Type a message"]))
    result = triager.triage(_ticket("", attachments=[{"kind": "image", "uri": str(path)}]))
    amounts = [e for e in result.entities if e.type == "amount"]
    assert amounts and amounts[0].source == "image" and amounts[0].value["amount"] == 45.99
    assert amounts[0].attachment == 0 and result.transcripts[0]["attachment"] == 0
    transcript = result.transcripts[0]["text"]
    assert transcript[amounts[0].start:amounts[0].end] == amounts[0].text


def test_a_clear_in_scope_question_is_auto_sent_with_a_filled_template(triager: Triager) -> None:
    """A plain, confident question gets an auto-sent reply from its intent's template, and no articles."""
    result = triager.triage(_ticket("How do I change my PIN?"))
    assert result.intent.label == "change_pin"
    assert not result.out_of_scope
    assert result.reply.action.value == "auto_send", result.reply.reasons
    assert result.reply.text.startswith("Hi there,")
    assert result.reply.articles == []


def test_out_of_scope_ticket_is_flagged_and_escalated_never_sent(triager: Triager) -> None:
    """A question no banking intent covers is flagged, scored and escalated with no template text."""
    result = triager.triage(_ticket("Can you recommend a good recipe for lasagne?"))
    assert result.out_of_scope and result.out_of_scope_score > 0.9
    assert result.reply.action.value == "escalate"
    assert result.reply.text == ""
    assert any("out of scope" in reason for reason in result.reply.reasons)
    assert "out of scope: needs a person" in result.priority.reasons


def test_names_and_greetings_do_not_make_a_ticket_out_of_scope(triager: Triager) -> None:
    """Politeness around a real question and a payee's name still read as in scope."""
    result = triager.triage(_ticket("Hi team, hope you are well. I sent money to maria lopez on Tuesday "
                                    "but she hasn't received it yet. Thanks, Anna"))
    assert result.intent.label == "transfer_not_received_by_recipient"
    assert not result.out_of_scope, result.out_of_scope_score


def test_very_negative_ticket_is_escalated(triager: Triager) -> None:
    """Anger beyond the threshold escalates, whatever the confidence, and raises the priority."""
    result = triager.triage(_ticket("I am absolutely furious and disgusted, this is the worst, most awful, "
                                    "horrible service ever. My card still hasn't arrived, where is it?"))
    assert result.sentiment.label == "negative" and result.sentiment.score <= -0.6
    assert result.reply.action.value == "escalate"
    assert any("very negative" in reason for reason in result.priority.reasons)


def test_uncertain_intent_is_a_draft_with_articles(triager: Triager) -> None:
    """A vague ticket is drafted for an agent, with help articles retrieved by similarity."""
    result = triager.triage(_ticket("something is wrong with my account and the app, can you check?"))
    assert not result.out_of_scope
    assert result.reply.action.value == "draft"
    assert result.reply.articles and all(a.score >= 0.25 for a in result.reply.articles)


def test_crm_context_greets_by_name_and_counts_repeat_contacts(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The CRM's name fills the greeting; a recent ticket about the same intent raises the priority."""
    state = tmp_path_factory.mktemp("context-state")
    seen: list[str] = []

    def context(ticket: Ticket) -> CustomerContext:
        seen.append(ticket.ticket_id)
        earlier = ticket.created_at - timedelta(days=3)
        return CustomerContext(display_name="Anna Smith", recent_intents=[("card_arrival", earlier)])

    triager = Triager.load(Settings(state_dir=state, blob_dir=state / "blobs"), context=context)
    result = triager.triage(_ticket("My new card still hasn't arrived, where is it?"))
    assert seen == ["U-1"]
    assert result.intent.label == "card_arrival"
    assert result.reply.text.startswith("Hi Anna,")
    assert any("2nd contact about card_arrival" in reason for reason in result.priority.reasons)


def test_a_failing_crm_lookup_costs_only_the_context(tmp_path_factory: pytest.TempPathFactory) -> None:
    """When the CRM does not answer, the ticket is still triaged, with an error entry saying so."""
    state = tmp_path_factory.mktemp("context-down")

    def context(ticket: Ticket) -> CustomerContext:
        raise ConnectionError("database is down")

    triager = Triager.load(Settings(state_dir=state, blob_dir=state / "blobs"), context=context)
    result = triager.triage(_ticket("How do I change my PIN?"))
    assert result.intent.label == "change_pin"
    assert result.reply is not None and result.priority is not None
    assert [(e.where, e.code) for e in result.errors] == [("crm", "context_unavailable")]


def test_unread_attachment_blocks_auto_send(triager: Triager, tmp_path: Path) -> None:
    """A confident text with an attachment that could not be read is drafted, not sent."""
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    result = triager.triage(_ticket("How do I change my PIN?", attachments=[{"kind": "image", "uri": str(path)}]))
    assert result.intent.label == "change_pin"
    assert result.reply.action.value == "draft"
    assert any("could not be read" in reason for reason in result.reply.reasons)


def test_relative_dates_follow_the_ticket_creation_time(triager: Triager) -> None:
    """'yesterday' is the day before the ticket was created, not before today."""
    created = datetime(2021, 1, 1, 12, tzinfo=timezone.utc)
    result = triager.triage(_ticket("My card payment yesterday was declined", created_at=created.isoformat()))
    assert _types(result)["date"] == ["2020-12-31"]


def test_a_failing_extractor_costs_only_the_entities(triager: Triager, monkeypatch: pytest.MonkeyPatch) -> None:
    """When entity extraction breaks, every ticket is still classified and replied to, each with an error entry."""
    def broken(*args, **kwargs):
        raise RuntimeError("tagger exploded on card 4539 1488 0343 6467")

    monkeypatch.setattr(triager.understanding.extractor, "extract", broken)
    results = triager.triage_batch([_ticket("How do I change my PIN?", ticket_id="U-a"),
                                    _ticket("Where is my card?", ticket_id="U-b")])
    for result in results:
        assert result.intent is not None and result.reply is not None and result.entities == []
        assert [(e.where, e.code) for e in result.errors] == [("entities", "model_error")]
        assert "4539" not in result.errors[0].message
