"""The mapping language: custom mapping files, paths, fallbacks, transforms and load-time checks."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mapping_samples import PAYLOADS, load
from producers.mappings import (
    InvalidMapping,
    UnknownMapping,
    convert_payload,
    load_mapping,
    mapping_from_data,
)
from worker.contract import Ticket

CUSTOM = PAYLOADS / "helpscout_like.yaml"


def _minimal(**overrides):
    data = {
        "name": "acme",
        "detect": [{"name": "ticket", "when": "key"}],
        "fields": {"ticket_id": {"path": "key", "transforms": ["str", {"prefix": "acme-"}]},
                   "customer_id": {"path": "who", "transforms": ["hash_customer"]},
                   "body": "text"},
    }
    data.update(overrides)
    return data


def _convert(payload, mapping, settings, blobs):
    return convert_payload(payload, mapping, settings=settings, blobs=blobs, source="test")


def test_custom_mapping_file(settings, blobs):
    """The worked example of docs/mappings.md converts its payload (JMESPath filters, HTML, tags)."""
    result = _convert(load("helpscout_like_convo_created.json"), f"mapping:{CUSTOM}", settings, blobs)
    assert result.ok, result.error
    ticket = Ticket.model_validate(result.ticket.model_dump(mode="json"))
    assert ticket.ticket_id == "hs-34521"
    assert ticket.customer_id.startswith("email-")
    assert ticket.channel.value == "email"
    assert ticket.body == "I paid in euros and the rate I got was far worse than the one in the app."
    assert ticket.metadata["tags"] == ["fx", "card"]
    assert ticket.created_at == datetime(2026, 11, 20, 11, 2, 44, tzinfo=timezone.utc)
    assert ticket.metadata["skipped_attachments"][0]["name"] == "rate.png"


def test_custom_mapping_skip_rule(settings, blobs):
    """An envelope with ``skip`` turns the payloads it recognises into skips with that reason."""
    payload = load("helpscout_like_convo_created.json")
    payload["eventType"] = "convo.assigned"
    result = _convert(payload, load_mapping(CUSTOM), settings, blobs)
    assert result.skipped == "helpscout-like other: only convo.created starts a ticket"


def test_load_mapping_by_name_prefix_and_path():
    """Built-ins load by name, files by mapping:FILE or a plain path; others are named errors."""
    assert load_mapping("zendesk").name == "zendesk"
    assert load_mapping("freshdesk") is load_mapping("freshdesk")  # built-ins are read once
    assert load_mapping(f"mapping:{CUSTOM}").name == "helpscout-like"
    assert load_mapping(CUSTOM).name == "helpscout-like"
    with pytest.raises(UnknownMapping, match="zendesk, freshdesk or mapping:FILE"):
        load_mapping("helpscout")
    with pytest.raises(UnknownMapping, match="does not exist"):
        load_mapping("mapping:/no/such/file.yaml")


def test_fallback_paths_take_the_first_non_empty(settings, blobs):
    """``path: [a, b]`` and ``first:`` try each in turn; blank text counts as nothing."""
    mapping = mapping_from_data(_minimal(fields={
        "ticket_id": {"path": ["id", "key"], "transforms": ["str"]},
        "customer_id": {"first": [{"path": "user_id", "transforms": [{"prefix": "u-"}]},
                                  {"path": "who", "transforms": ["hash_customer"]}]},
        "subject": ["title", "summary"],
        "body": "text",
    }))
    result = _convert({"key": 7, "id": " ", "user_id": "", "who": "x@example.com", "summary": "S", "text": "B"},
                      mapping, settings, blobs)
    assert result.ok, result.error
    assert result.ticket.ticket_id == "7" and result.ticket.subject == "S"
    assert result.ticket.customer_id.startswith("email-")
    result = _convert({"key": 7, "user_id": 42, "text": "B"}, mapping, settings, blobs)
    assert result.ticket.customer_id == "u-42"


def test_transforms(settings, blobs):
    """lower, split, datetime (epoch seconds and milliseconds), value maps with '*' and constants."""
    mapping = mapping_from_data(_minimal(
        fields={**_minimal()["fields"],
                "channel": {"path": "kind", "transforms": ["lower", {"map": {"mail": "email", "*": "web"}}]},
                "created_at": {"path": "at", "transforms": ["datetime"]}},
        metadata={"tags": {"path": "labels", "transforms": ["split"]},
                  "team": {"value": "support"},
                  "seen": {"path": "seen_ms", "transforms": ["datetime"]}},
    ))
    payload = {"key": 1, "who": "+44 7700 900123", "text": "hi", "kind": "MAIL", "at": 1795165920,
               "labels": "a, b  c", "seen_ms": 1795165920000}
    ticket = _convert(payload, mapping, settings, blobs).ticket
    assert ticket.channel.value == "email"
    assert ticket.created_at == datetime.fromtimestamp(1795165920, tz=timezone.utc)
    assert ticket.metadata["tags"] == ["a", "b", "c"]
    assert ticket.metadata["team"] == "support"
    assert ticket.metadata["seen"] == ticket.created_at.isoformat()
    payload["kind"] = "fax"
    assert _convert(payload, mapping, settings, blobs).ticket.channel.value == "web"


def test_whole_payload_paths(settings, blobs):
    """A ``$.`` path reads the whole delivery, not the envelope's root."""
    mapping = mapping_from_data(_minimal(
        detect=[{"name": "wrapped", "when": "data.key", "root": "data"}],
        metadata={"delivery": "$.delivery_id"},
    ))
    result = _convert({"delivery_id": "d-1", "data": {"key": 3, "who": "a@b.co", "text": "t"}}, mapping, settings, blobs)
    assert result.ok, result.error
    assert result.ticket.metadata["delivery"] == "d-1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fields": {"ticket_id": {"path": "key", "transforms": ["uppercase"]}, "customer_id": "who"}},
         "fields.ticket_id.transforms.0: unknown transform 'uppercase'"),
        ({"fields": {"ticket_id": "key[", "customer_id": "who"}}, "fields.ticket_id.path.0: 'key[' is not a JMESPath"),
        ({"fields": {"ticket_id": "key", "customer_id": "who", "priority": "p"}}, "unknown contract fields ['priority']"),
        ({"fields": {"ticket_id": "key"}}, "no rule for the required fields ['customer_id']"),
        ({"detect": []}, "detect: List should have at least 1 item"),
        ({"fields": {"ticket_id": {"path": "key", "value": 1}, "customer_id": "who"}}, "exactly one of path, first and value"),
        ({"fields": {"ticket_id": "key", "customer_id": {"path": "who", "transforms": [{"map": {}}]}}},
         "map takes a non-empty table"),
    ],
)
def test_a_bad_mapping_is_refused_when_loaded(change, message):
    """A mistake in a mapping file is an InvalidMapping naming the key, raised at load time."""
    with pytest.raises(InvalidMapping, match=re.escape(message)):
        mapping_from_data(_minimal(**change), "acme.yaml")


def test_a_mapping_file_that_is_not_yaml(tmp_path: Path):
    """A file that is not YAML, or not a mapping, names the file."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(InvalidMapping, match="bad.yaml: not valid YAML"):
        load_mapping(bad)
    bad.write_text("- a list\n")
    with pytest.raises(InvalidMapping, match="holds a YAML mapping"):
        load_mapping(bad)
