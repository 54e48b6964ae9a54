"""The contract under hostile input: whatever the value, ``Ticket.model_validate`` gives a ticket
that serialises and validates again, or a ValidationError that ``describe_validation_error``
turns into named entries; never another exception, never a hang."""

from __future__ import annotations

import json

import pytest
from fuzz_support import FUZZ, anything, hostile_text, json_like, nested, scalars, time_bound
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from worker.contract import MAX_NESTING, ErrorEntry, Limits, Ticket, describe_validation_error

LIMITS = Limits(max_body_chars=2_000, max_subject_chars=200, max_attachments=3, max_metadata_bytes=2_048)
FIELDS = ("ticket_id", "customer_id", "channel", "subject", "body", "attachments", "created_at", "metadata")


def outcome(raw: object, limits: Limits = LIMITS) -> Ticket | list[ErrorEntry]:
    """Validate ``raw`` under a time bound; check whichever answer comes back is usable."""
    with time_bound(10, "validating a ticket"):
        try:
            ticket = Ticket.model_validate(raw, context={"limits": limits})
        except ValidationError as exc:
            entries = describe_validation_error(exc, where_prefix="line 1: ")
        else:
            dumped = ticket.model_dump_json()  # what a queue, the CRM or a result file does with it
            again = Ticket.model_validate(json.loads(dumped), context={"limits": limits})
            assert again.model_dump(mode="json") == ticket.model_dump(mode="json")
            return ticket
    assert entries, "a ValidationError with no entry names nothing"
    for entry in entries:
        assert isinstance(entry, ErrorEntry)
        assert entry.where.startswith("line 1: ") and entry.code.startswith("invalid_") and entry.message
        assert len(entry.where) < 1_000 and len(entry.message) < 2_000
        entry.model_dump_json().encode("utf-8")  # printable, storable: no lone surrogate survives
    return entries


valid_id = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:/+-]{0,20}\Z")
field_values = {
    "ticket_id": st.one_of(valid_id, anything),
    "customer_id": st.one_of(valid_id, anything),
    "channel": st.one_of(st.sampled_from(["email", "chat", "phone", "web", "social"]), anything),
    "subject": st.one_of(st.text(max_size=50), anything),
    "body": st.one_of(st.text(max_size=200), anything),
    "attachments": st.one_of(
        st.lists(st.fixed_dictionaries({"kind": st.sampled_from(["image", "audio"]), "uri": st.text(max_size=20)},
                                        optional={"size_bytes": scalars, "sha256": hostile_text,
                                                  "content_type": hostile_text, "extra": anything}), max_size=4),
        anything,
    ),
    "created_at": st.one_of(st.datetimes().map(str), hostile_text, st.integers(), anything),
    "metadata": st.one_of(st.dictionaries(st.text(max_size=10), json_like, max_size=6), anything),
}
tickets = st.fixed_dictionaries({}, optional={**field_values, "unknown": anything})


@FUZZ
@given(raw=tickets)
def test_ticket_shaped_junk_gives_a_ticket_or_named_errors(raw: dict) -> None:
    """Dicts of ticket fields, each valid or hostile (surrogates, NUL, huge ints, NaN, wrong types)."""
    outcome(raw)


@settings(FUZZ, max_examples=80)
@given(raw=anything)
def test_any_value_at_all_gives_a_ticket_or_named_errors(raw: object) -> None:
    """Not even a dict: lists, strings, numbers, bytes, sets, objects."""
    assert isinstance(outcome(raw), list)


@settings(FUZZ, max_examples=60)
@given(raw=st.fixed_dictionaries(
    {"ticket_id": valid_id, "customer_id": valid_id, "body": st.text(min_size=1, max_size=30).filter(str.strip)},
    optional={"metadata": st.dictionaries(st.text(max_size=10), json_like, max_size=6)}))
def test_valid_looking_tickets_survive_a_json_round_trip(raw: dict) -> None:
    """Whenever a ticket validates, its JSON validates again to the same ticket (no unserialisable value)."""
    outcome(raw)


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("depth", [MAX_NESTING - 2, MAX_NESTING + 1, 300, 1_000, 10_000])
@pytest.mark.parametrize("kind", ["list", "dict"])
def test_deep_nesting_in_any_field_is_a_named_error(field: str, depth: int, kind: str) -> None:
    """Lists or objects nested up to 10 000 levels deep, in every field: refused by name past MAX_NESTING."""
    raw = {"ticket_id": "T-1", "customer_id": "C-1", "body": "hi", field: nested(depth, kind=kind)}
    if field == "metadata":
        raw[field] = {"deep": raw[field]}
    result = outcome(raw, Limits(max_metadata_bytes=1_000_000))
    if depth > MAX_NESTING:
        assert isinstance(result, list)
        assert any(entry.where == f"line 1: {field}" and "levels deep" in entry.message for entry in result)


def test_deep_attachment_fields_are_named_errors() -> None:
    """Deep values inside an attachment (its enum ``kind`` included) are refused, not recursed through."""
    raw = {"ticket_id": "T-1", "customer_id": "C-1", "attachments": [{"kind": nested(5_000), "uri": nested(5_000)}]}
    result = outcome(raw)
    assert isinstance(result, list) and result


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"body": "x" * 10_000_000}, "body"),
        ({"subject": "\x00" * 100}, "subject"),
        ({"ticket_id": "T" * 1_000_000}, "ticket_id"),
        ({"metadata": {"k" * 100_000: 1}}, "metadata"),
        ({"metadata": {"x": 10**5000}}, "metadata"),
        ({"metadata": {10**5000: 1}}, "metadata"),
        ({"metadata": {"x": float("nan")}}, "metadata"),
        ({"metadata": {"x": float("-inf")}}, "metadata"),
        ({"metadata": {"x": "\ud800"}}, "metadata"),
        ({"metadata": {"\ud800": 1}}, "metadata"),
        ({"body": "\udc00 lone"}, "body"),
        ({"created_at": 10**400}, "created_at"),
        ({"created_at": float("nan")}, "created_at"),
        ({"created_at": "9999-12-31T23:59:59-23:59"}, "created_at"),
        ({"attachments": [{"kind": "image", "uri": "x", "size_bytes": 10**400}]}, "attachments.0.size_bytes"),
        ({"attachments": [{"kind": "image", "uri": "x"}] * 100_000}, "attachments"),
        ({"x" * 100_000 + "\n": 1}, "x"),
        ({"x\ud800": 1}, "ticket"),  # pydantic reads no key with a lone surrogate
    ],
)
def test_extreme_values_are_named_errors(fields: dict, where: str) -> None:
    """Huge strings, ints past 4300 digits, NaN, lone surrogates, far dates, 100 000 attachments: a named entry each."""
    result = outcome({"ticket_id": "T-1", "customer_id": "C-1", "body": "hi", **fields})
    assert isinstance(result, list)
    assert any(entry.where.removeprefix("line 1: ").startswith(where) for entry in result), result
