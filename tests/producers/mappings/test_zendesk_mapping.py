"""The built-in Zendesk mapping on Tickets API objects, event webhooks and trigger payloads."""

from __future__ import annotations

from datetime import datetime, timezone

from mapping_samples import load
from producers.conversion import Converted
from producers.mappings import convert_payload, detect_mapping, load_mapping
from worker.contract import Ticket


def _convert(payload, settings, blobs) -> Converted:
    return convert_payload(payload, "zendesk", settings=settings, blobs=blobs, source="test")


def _valid(result: Converted) -> Ticket:
    assert result.ok, result.error or result.skipped
    assert result.ticket is not None
    return Ticket.model_validate(result.ticket.model_dump(mode="json"))


def test_api_ticket_object(settings, blobs):
    """A {"ticket": {...}} answer of the Tickets API becomes a contract ticket with string ids."""
    ticket = _valid(_convert(load("zendesk_api_ticket.json"), settings, blobs))
    assert ticket.ticket_id == "zendesk-35436"
    assert ticket.customer_id == "zendesk-20978392"
    assert ticket.channel.value == "email"
    assert ticket.subject == "Card never arrived"
    assert ticket.body.startswith("Hi,\n\nI ordered a new card")
    assert ticket.created_at == datetime(2026, 11, 20, 9, 12, tzinfo=timezone.utc)
    assert ticket.metadata["tags"] == ["card", "delivery"]
    assert ticket.metadata["priority"] == "high" and ticket.metadata["status"] == "new"
    assert ticket.metadata["envelope"] == "api" and ticket.metadata["source"] == "zendesk"


def test_bare_ticket_hashes_requester_email(settings, blobs):
    """A bare ticket whose requester is known only by address gets a hashed customer id."""
    ticket = _valid(_convert(load("zendesk_bare_ticket.json"), settings, blobs))
    assert ticket.ticket_id == "zendesk-35442"
    assert ticket.channel.value == "phone"  # via.channel "voice"
    assert ticket.customer_id.startswith("email-")
    assert "grace" not in ticket.customer_id.lower() and "example" not in ticket.customer_id.lower()
    assert "Grace.Hopper" not in ticket.model_dump_json()
    assert ticket.metadata["envelope"] == "bare"


def test_event_webhook_ticket_created(settings, blobs):
    """The ticket.created event's detail (string ids, upper-case status) becomes a ticket."""
    ticket = _valid(_convert(load("zendesk_event_ticket_created.json"), settings, blobs))
    assert ticket.ticket_id == "zendesk-35437"
    assert ticket.customer_id == "zendesk-20978393"
    assert ticket.channel.value == "web"  # via.channel "web_form"
    assert ticket.subject == "Charged twice"
    assert "charged twice" in ticket.body
    assert ticket.metadata["priority"] == "high" and ticket.metadata["status"] == "new"
    assert ticket.metadata["zendesk_event_id"] == "01HNXW2H7K6Q3YJ4S8C9V0B1N2"
    assert ticket.metadata["zendesk_account_id"] == "12514403"


def test_other_events_are_skipped_with_a_reason(settings, blobs):
    """An event that is not ticket.created (a comment added) is skipped, not failed."""
    result = _convert(load("zendesk_event_comment_added.json"), settings, blobs)
    assert result.ticket is None and result.error is None
    assert "ticket.created" in (result.skipped or "")


def test_trigger_payload_from_the_recommended_template(settings, blobs):
    """A trigger body rendered from docs/mappings.md's template maps, placeholders' forms included."""
    ticket = _valid(_convert(load("zendesk_trigger.json"), settings, blobs))
    assert ticket.ticket_id == "zendesk-35438"
    assert ticket.customer_id == "zendesk-20978394"
    assert ticket.channel.value == "web"  # {{ticket.via}} renders "Web Form"
    assert ticket.metadata["tags"] == ["refund", "order_4412"]  # {{ticket.tags}} is one string
    assert ticket.metadata["priority"] == "normal"
    assert ticket.created_at == datetime(2026, 11, 20, 10, 5, tzinfo=timezone.utc)  # "2026-11-20T10:05Z"
    skipped = ticket.metadata["skipped_attachments"]
    assert [item["reason"] for item in skipped] == ["host_not_allowed"]
    assert "?" not in skipped[0]["url"]  # a query may hold an access token: never stored


def test_channel_of_each_via_type(settings, blobs):
    """Zendesk via types map to the contract's channels, unknown ones to web."""
    payload = load("zendesk_api_ticket.json")
    expected = {"chat": "chat", "native_messaging": "chat", "voicemail": "phone", "twitter_dm": "social",
                "mail": "email", "api": "web", "something_new": "web"}
    for via, channel in expected.items():
        payload["ticket"]["via"] = {"channel": via}
        assert _valid(_convert(payload, settings, blobs)).channel.value == channel, via


def test_detect_mapping_tells_zendesk_from_freshdesk():
    """Each built-in recognises its own payloads and not the other's."""
    assert detect_mapping(load("zendesk_event_ticket_created.json")).name == "zendesk"
    assert detect_mapping(load("zendesk_api_ticket.json")).name == "zendesk"
    assert detect_mapping(load("freshdesk_ticket.json")).name == "freshdesk"
    assert detect_mapping({"hello": "world"}) is None
    assert load_mapping("zendesk").match(load("freshdesk_ticket.json")) is None
