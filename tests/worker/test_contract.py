"""The message contract: what a valid ticket is, and how an invalid one is explained."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from worker.contract import Limits, Ticket, TriageResult, describe_validation_error


def _ticket(**fields):
    return {"ticket_id": "T-1", "customer_id": "C-1", "body": "I lost my card", **fields}


def test_minimal_ticket_gets_defaults() -> None:
    """A ticket needs only ids and some content; channel and an aware created_at default."""
    ticket = Ticket.model_validate(_ticket())
    assert ticket.channel.value == "email"
    assert ticket.created_at.tzinfo is not None
    assert ticket.text == "I lost my card"


def test_subject_and_body_join_into_text() -> None:
    """The text models read the subject and the body together."""
    assert Ticket.model_validate(_ticket(subject="Card")).text == "Card. I lost my card"


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"ticket_id": ""}, "ticket_id"),
        ({"ticket_id": "has spaces"}, "ticket_id"),
        ({"channel": "fax"}, "channel"),
        ({"created_at": "yesterday-ish"}, "created_at"),
        ({"attachments": [{"kind": "video", "uri": "a.mp4"}]}, "attachments.0.kind"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_invalid_fields_are_named(fields: dict, where: str) -> None:
    """Each validation error names the offending field."""
    with pytest.raises(ValidationError) as caught:
        Ticket.model_validate(_ticket(**fields))
    assert where in {entry.where for entry in describe_validation_error(caught.value)}


def test_empty_ticket_is_refused_with_reason() -> None:
    """A ticket with no subject, body or attachments says there is nothing to triage."""
    with pytest.raises(ValidationError, match="nothing to triage"):
        Ticket.model_validate({"ticket_id": "T-1", "customer_id": "C-1"})


def test_limits_come_from_the_context() -> None:
    """Body length and attachment count are checked against the configured limits."""
    limits = Limits(max_body_chars=10, max_attachments=1)
    with pytest.raises(ValidationError, match="limit is 10"):
        Ticket.model_validate(_ticket(body="x" * 11), context={"limits": limits})
    attachments = [{"kind": "image", "uri": f"{i}.png"} for i in range(2)]
    with pytest.raises(ValidationError, match="limit is 1"):
        Ticket.model_validate(_ticket(attachments=attachments), context={"limits": limits})
    assert Ticket.model_validate(_ticket(body="x" * 11)).body == "x" * 11


def test_attachment_size_limit() -> None:
    """A declared attachment size over the limit is refused."""
    limits = Limits(max_attachment_bytes=100)
    big = [{"kind": "audio", "uri": "a.wav", "size_bytes": 101}]
    with pytest.raises(ValidationError, match="101 bytes"):
        Ticket.model_validate(_ticket(attachments=big), context={"limits": limits})


def test_result_round_trips_through_json() -> None:
    """A result survives the JSON the broker carries."""
    result = TriageResult(ticket_id="T-1", customer_id="C-1", modalities=["text"])
    assert TriageResult.model_validate_json(result.model_dump_json()) == result


def test_contract_imports_only_pydantic() -> None:
    """Producers can import the contract without torch, onnxruntime or celery."""
    code = "import sys, worker.contract; print(sorted(m for m in ('torch','onnxruntime','celery') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"body": "nul\x00byte"}, "NUL"),
        ({"metadata": {"note": "nul\x00"}}, "NUL"),
        ({"created_at": "0001-01-01T00:30:00+01:00"}, "outside 1970-2100"),
        ({"metadata": {"blob": "A" * 20_000}}, "limit is 16384"),
        ({"metadata": {"x": float("nan")}}, "plain JSON"),
    ],
)
def test_values_no_database_can_store_are_refused_up_front(fields: dict, reason: str) -> None:
    """NUL characters, unstorable dates and oversize metadata fail validation, not the CRM write."""
    with pytest.raises(ValidationError, match=reason):
        Ticket.model_validate(_ticket(**fields))


def test_ids_cannot_be_email_addresses() -> None:
    """An e-mail address as customer_id is refused: ids travel into logs and the CRM."""
    with pytest.raises(ValidationError) as caught:
        Ticket.model_validate(_ticket(customer_id="jane.doe@example.com"))
    assert "customer_id" in {entry.where for entry in describe_validation_error(caught.value)}
