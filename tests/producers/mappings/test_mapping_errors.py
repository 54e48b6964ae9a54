"""Payloads a mapping cannot convert: named errors with the field and the path, never a crash,
and never a requester's address in an id or a message."""

from __future__ import annotations

import pytest

from mapping_samples import load
from producers.mappings import MappingError, convert_payload, load_mapping, mapping_from_data
from producers.mappings.convert import payload_to_ticket


def _convert(payload, mapping, settings, blobs):
    return convert_payload(payload, mapping, settings=settings, blobs=blobs, source="hook")


def test_missing_ticket_id_names_field_and_path(settings, blobs):
    """A trigger payload without an id fails with "ticket_id: path 'ticket.id' gave nothing in payload"."""
    payload = load("zendesk_trigger.json")
    payload["ticket"]["id"] = ""
    result = _convert(payload, "zendesk", settings, blobs)
    assert result.error == "ticket_id: path 'ticket.id' gave nothing in payload"
    assert result.source == "hook"


def test_mapping_error_carries_field_and_path(settings, blobs):
    """The raised MappingError has the field and the path as attributes, for an API's error body."""
    payload = load("zendesk_api_ticket.json")
    del payload["ticket"]["requester_id"]
    with pytest.raises(MappingError) as caught:
        payload_to_ticket(payload, load_mapping("zendesk"), settings=settings, blobs=blobs)
    assert caught.value.field == "customer_id"
    assert caught.value.paths == ["ticket.requester_id", "ticket.requester.id", "ticket.requester.email",
                                  "ticket.requester.phone"]
    assert str(caught.value).endswith("gave nothing in payload")


def test_wrong_type_is_named(settings, blobs):
    """An id that is an object, not text or a number, is refused with the field, path and type."""
    payload = load("zendesk_api_ticket.json")
    payload["ticket"]["id"] = {"value": 35436}
    result = _convert(payload, "zendesk", settings, blobs)
    assert result.error == "ticket_id: path 'ticket.id' gave an object, expected text or a number (str)"
    payload = load("freshdesk_ticket.json")
    payload["subject"] = ["not", "text"]
    assert _convert(payload, "freshdesk", settings, blobs).error == (
        "subject: path 'subject' gave a list, expected text or a number"
    )


def test_unparseable_date_is_named(settings, blobs):
    """A created_at that is no date names the field, the path and the transform."""
    payload = load("freshdesk_ticket.json")
    payload["created_at"] = "last Tuesday"
    result = _convert(payload, "freshdesk", settings, blobs)
    assert result.error == (
        "created_at: path 'created_at' gave 'last Tuesday', which is not an ISO 8601 date-time or epoch seconds (datetime)"
    )


def test_payload_no_mapping_detects(settings, blobs):
    """A payload of another source is an error that says which detect rules were tried."""
    result = _convert(load("freshdesk_ticket.json"), "zendesk", settings, blobs)
    assert result.error is not None
    assert result.error.startswith("payload: not a zendesk payload: none of the mapping's detect rules matched")
    assert "ticket.id" in result.error
    for junk in (None, 42, "text", [1, 2], {}):
        assert _convert(junk, "freshdesk", settings, blobs).error.startswith("payload: not a freshdesk payload")


def test_channel_outside_the_contract(settings, blobs):
    """A channel the contract does not know, with no map, says to add one."""
    mapping = mapping_from_data({
        "name": "acme", "detect": [{"name": "t", "when": "id"}],
        "fields": {"ticket_id": "id", "customer_id": "user", "channel": "medium", "body": "text"},
    })
    result = _convert({"id": 1, "user": 2, "medium": "pigeon", "text": "hi"}, mapping, settings, blobs)
    assert result.error == (
        "channel: path 'medium' gave 'pigeon', which is not a channel (email, chat, phone, web, social): add a map transform"
    )


def test_contract_violation_is_an_error_not_a_crash(settings, blobs):
    """A mapped ticket with nothing to triage fails with the contract's reason."""
    payload = load("zendesk_api_ticket.json")
    payload["ticket"].update(subject="", raw_subject="", description="")
    result = _convert(payload, "zendesk", settings, blobs)
    assert "nothing to triage" in (result.error or "")


def test_customer_address_never_becomes_an_id_or_a_message(settings, blobs):
    """An e-mail or phone copied straight into customer_id is hashed anyway, and never quoted in errors."""
    mapping = mapping_from_data({
        "name": "careless", "detect": [{"name": "t", "when": "id"}],
        "fields": {"ticket_id": {"path": "id", "transforms": ["str"]}, "customer_id": "email", "body": "text"},
    })
    address = "Ada.Lovelace@Example.com"
    for contact in (address, "+44 7700 900123"):
        result = _convert({"id": 1, "email": contact, "text": "hi"}, mapping, settings, blobs)
        assert result.ok, result.error
        assert result.ticket.customer_id.split("-")[0] in ("email", "phone")
        assert contact.lower() not in result.ticket.model_dump_json().lower()
        assert "7700" not in result.ticket.customer_id and "ada" not in result.ticket.customer_id
    result = _convert({"id": 1, "email": {"address": address}, "text": "hi"}, mapping, settings, blobs)
    assert "customer_id: path 'email' gave an object" in result.error and "Ada" not in result.error


def test_same_address_same_customer_across_sources(settings, blobs):
    """Differently written forms of one address hash alike, in Zendesk and Freshdesk payloads."""
    zendesk = load("zendesk_bare_ticket.json")
    zendesk["requester"]["email"] = " grace.hopper@example.com "
    freshdesk = load("freshdesk_ticket.json")
    freshdesk.update(requester_id=None, requester={"email": "GRACE.HOPPER@EXAMPLE.COM"})
    one = _convert(zendesk, "zendesk", settings, blobs).ticket.customer_id
    two = _convert(freshdesk, "freshdesk", settings, blobs).ticket.customer_id
    assert one == two and one.startswith("email-")


def test_hash_key_changes_the_hash(settings, blobs):
    """With customer_hash_key set, hashed ids differ from the unkeyed ones (no dictionary look-up)."""
    payload = load("zendesk_bare_ticket.json")
    plain = _convert(payload, "zendesk", settings, blobs).ticket.customer_id
    keyed = _convert(payload, "zendesk", settings.model_copy(update={"customer_hash_key": "s3cret"}), blobs)
    assert keyed.ticket.customer_id != plain and keyed.ticket.customer_id.startswith("email-")


def test_overlong_body_is_truncated_and_recorded(settings, blobs):
    """A body over max_body_chars keeps its start, and metadata records the original length."""
    payload = load("freshdesk_ticket.json")
    text = " ".join(["word"] * 10_000)
    payload["description_text"] = text
    ticket = _convert(payload, "freshdesk", settings.model_copy(update={"max_body_chars": 100}), blobs).ticket
    assert len(ticket.body) <= 100
    assert ticket.metadata["truncated"] == {"body": len(text)}


def test_hashed_address_matches_email_ingest(settings, blobs):
    """A requester's address hashes to the customer id an e-mail from that address gets."""
    identity = pytest.importorskip("producers.email.identity")
    payload = load("zendesk_bare_ticket.json")
    ticket = _convert(payload, "zendesk", settings, blobs).ticket
    assert ticket.customer_id == identity.customer_id_for("Grace.Hopper@Example.COM", key=settings.customer_hash_key)
