"""The built-in Freshdesk mapping on API v2 ticket JSON."""

from __future__ import annotations

from mapping_samples import PAYLOADS, load
from producers.mappings import convert_files, convert_payload
from worker.contract import Ticket


def _ticket(payload, settings, blobs) -> Ticket:
    result = convert_payload(payload, "freshdesk", settings=settings, blobs=blobs, source="test")
    assert result.ok, result.error or result.skipped
    return Ticket.model_validate(result.ticket.model_dump(mode="json"))


def test_ticket_with_integer_ids_and_text_description(settings, blobs):
    """Integer ids become prefixed strings and description_text is preferred to the HTML."""
    ticket = _ticket(load("freshdesk_ticket.json"), settings, blobs)
    assert ticket.ticket_id == "freshdesk-1042"
    assert ticket.customer_id == "freshdesk-5000345678"
    assert ticket.channel.value == "web"  # source 2: portal
    assert ticket.body.startswith("Hi team,\nI sent £250")
    assert "<" not in ticket.body
    assert ticket.metadata["priority"] == "high" and ticket.metadata["status"] == "open"
    assert ticket.metadata["tags"] == ["transfer", "urgent"]


def test_html_description_becomes_text(settings, blobs):
    """Without description_text, the HTML description is rendered to text with its lines."""
    payload = load("freshdesk_ticket.json")
    payload["description_text"] = None
    ticket = _ticket(payload, settings, blobs)
    assert "<" not in ticket.body and "<b>" not in ticket.body
    assert "I sent £250 to my landlord yesterday." in ticket.body
    assert "* Reference: TX-88213" in ticket.body.splitlines()
    assert ticket.body.index("Hi team,") < ticket.body.index("Reference")


def test_source_codes_become_channels(settings, blobs):
    """Freshdesk's source codes 1, 2, 3, 7, 9 and 10 map to email, web, phone, chat, web, email."""
    payload = load("freshdesk_ticket.json")
    for code, channel in {1: "email", 2: "web", 3: "phone", 7: "chat", 9: "web", 10: "email", 99: "web"}.items():
        payload["source"] = code
        assert _ticket(payload, settings, blobs).channel.value == channel, code


def test_requester_phone_is_hashed(settings, blobs):
    """A requester known only by a mobile number becomes a phone hash, not the number."""
    result = list(convert_files([PAYLOADS / "freshdesk_tickets.json"], "freshdesk", settings=settings, blobs=blobs))
    assert [item.ok for item in result] == [True] * 5
    by_id = {item.ticket.ticket_id: item.ticket for item in result}
    phone = by_id["freshdesk-1043"]
    assert phone.customer_id.startswith("phone-") and "7700" not in phone.customer_id
    assert phone.channel.value == "phone"
    assert [by_id[f"freshdesk-{n}"].channel.value for n in (1044, 1045, 1046, 1047)] == ["chat", "web", "email", "email"]
