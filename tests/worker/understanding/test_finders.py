"""Structured-entity finders (e-mail, phone, card last four, IBAN, reference) and value finders."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from worker.pii.finders import iban_ok, luhn_ok
from worker.understanding.finders import Match, find_structured, find_values

NOW = datetime(2022, 3, 15, 9, 0)


def _found(text: str) -> list[tuple[str, str, object]]:
    matches = find_structured(text)
    for match in matches:
        assert text[match.start:match.end] == match.text
    return [(m.type, m.text, m.value) for m in matches]


def test_checksums_accept_valid_numbers_only() -> None:
    """Luhn and mod-97 tell real card numbers and IBANs from look-alikes."""
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB83 WEST 1234 5698 7654 32")


@pytest.mark.parametrize("raw", ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111"])
def test_cards_are_reported_by_their_last_four_digits_only(raw: str) -> None:
    """A Luhn-valid card gives a card_last4 whose span and value are only the last four digits."""
    text = f"my card {raw} was charged"
    matches = find_structured(text)
    assert [(m.type, m.text, m.value) for m in matches] == [("card_last4", "1111", "1111")]
    assert matches[0].end == text.index(" was")
    assert all("4111" not in str(m.value) + m.text for m in matches)


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("the card ending in 4821 was declined", "4821"),
        ("last four digits 9876 please", "9876"),
        ("the last 4 digits of my card are 1234.", "1234"),
        ("statement shows **** **** **** 5555", "5555"),
    ],
)
def test_last_four_phrasing_gives_card_last4(text: str, digits: str) -> None:
    """"ending in 1234" and masked card numbers give the last four digits."""
    assert _found(text) == [("card_last4", digits, digits)]


def test_luhn_invalid_digits_are_not_cards() -> None:
    """A 16-digit number failing Luhn is no card (and with a keyword, a reference)."""
    assert _found("order 4111111111111112 was late") == [("reference", "4111111111111112", "4111111111111112")]


def test_iban_is_compact_and_upper_case() -> None:
    """A grouped, lower-case IBAN's value is its compact upper-case form; a bad one is ignored."""
    assert _found("pay to gb82 west 1234 5698 7654 32 please") == [
        ("iban", "gb82 west 1234 5698 7654 32", "GB82WEST12345698765432")]
    assert _found("code GB83 WEST 1234 5698 7654 32") == []


def test_emails_and_phones_are_found_with_e164_values() -> None:
    """E-mail addresses keep their text; phones get E.164 values in the given region."""
    text = "mail jane.doe+x@mail.example.co.uk or call 07911 123456 / +1 415-555-2671"
    assert _found(text) == [
        ("email", "jane.doe+x@mail.example.co.uk", "jane.doe+x@mail.example.co.uk"),
        ("phone", "07911 123456", "+447911123456"),
        ("phone", "+1 415-555-2671", "+14155552671"),
    ]


def test_phone_region_reads_national_numbers() -> None:
    """The region decides how a number without country code is read."""
    (match,) = find_structured("ring 030 123456", phone_region="DE")
    assert (match.type, match.value) == ("phone", "+4930123456")


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("where is order #A-12345?", "A-12345"),
        ("transaction ID TX93821 failed", "TX93821"),
        ("ref: 8F3K2L9", "8F3K2L9"),
        ("about case 00123456", "00123456"),
        ("ticket #1234 is open", "1234"),
        ("see ORD-2024-000123 for details", "ORD-2024-000123"),
    ],
)
def test_references_give_the_id(text: str, ref: str) -> None:
    """Order, transaction, case and ticket ids are found by keyword or by prefix shape."""
    assert _found(text) == [("reference", ref, ref)]


@pytest.mark.parametrize(
    "text",
    [
        "payment of 1,250.00 on 2024-01-15",
        "transaction on 15/03/2022 of £50",
        "order 3 pizzas",
        "case 15th March",
        "I placed an order yesterday at 10:30",
    ],
)
def test_references_skip_amounts_dates_and_counts(text: str) -> None:
    """A keyword followed by an amount, a date or a small count is not a reference."""
    assert [m for m in find_structured(text) if m.type == "reference"] == []


def test_reference_never_claims_a_phone_or_card() -> None:
    """A phone or card after a reference keyword is that entity, not a reference."""
    assert [m.type for m in find_structured("reference 07911 123456")] == ["phone"]
    assert [m.type for m in find_structured("payment 4111 1111 1111 1111")] == ["card_last4"]


def test_structured_matches_never_overlap() -> None:
    """Every match claims its own characters, sorted by position."""
    text = "ref GB82WEST12345698765432, card 4111111111111111, a@b.io, +44 20 7946 0958, case 99887766"
    matches = find_structured(text)
    assert [m.type for m in matches] == ["iban", "card_last4", "email", "phone", "reference"]
    for left, right in zip(matches, matches[1:]):
        assert left.end <= right.start


def test_values_are_found_and_normalised() -> None:
    """Dates, ranges, times and amounts in free text come with their normalised values."""
    text = "charged £50 on 3rd March and again yesterday at 10:30; book from 3 to 6 January, fifty dollars"
    found = [(m.type, m.text, m.value) for m in find_values(text, now=NOW)]
    assert found == [
        ("amount", "£50", {"amount": 50.0, "currency": "GBP"}),
        ("date", "3rd March", date(2022, 3, 3)),
        ("date", "yesterday", date(2022, 3, 14)),
        ("time", "10:30", "10:30"),
        ("date_range", "from 3 to 6 January", (date(2023, 1, 3), date(2023, 1, 6))),
        ("amount", "fifty dollars", {"amount": 50.0, "currency": "USD"}),
    ]


def test_value_finder_leaves_plain_numbers_alone() -> None:
    """Counts, versions and ids are not dates, times or amounts."""
    assert find_values("I have 3 cards, app version 1.2.3, order 12345", now=NOW) == []


def test_match_is_immutable() -> None:
    """Matches are frozen so that stages cannot alter each other's findings."""
    match = Match("email", 0, 6, "a@b.io", "a@b.io")
    with pytest.raises(AttributeError):
        match.start = 1  # type: ignore[misc]
