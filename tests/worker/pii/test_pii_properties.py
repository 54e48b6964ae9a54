"""Properties of redaction (hypothesis): a card written in any layout leaves no run of five of its
digits in any sink; ordinary numbers are rarely taken for cards; IBANs and e-mail addresses in any
legal or evasive form are masked; masked tickets stay valid."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pii_samples import (
    cards_in_text,
    email_addresses,
    glued_cards,
    ibans,
    leaked,
    luhn_complete,
    prose,
    result_carrying,
    sentence,
)

from worker.contract import Limits, Ticket
from worker.pii.finders import card_cover_spans, card_spans, iban_spans
from worker.pii.redaction import (
    RedactingFilter,
    mask_numbers_in_place,
    redact_result,
    redact_text,
    redact_ticket,
)

FAST = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
FEWER = settings(FAST, max_examples=150)

# A card in any layout: one separator for the whole number, separators that differ from gap to
# gap, or the number glued to another one.
ANY_CARD = st.one_of(cards_in_text(mixed=False), cards_in_text(mixed=True), glued_cards())


def _in_logs(text: str) -> str:
    """What a handler with the RedactingFilter writes for a record carrying ``text`` as an
    argument and in its exception."""
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "paid with %s", (text,), None)
    try:
        raise ValueError(text)
    except ValueError:
        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    return logging.Formatter().format(record)


@FAST
@given(ANY_CARD)
def test_no_run_of_five_card_digits_survives_redact_text(case: tuple[str, str, str, str]) -> None:
    """redact_text leaves no five consecutive digits of a card in any layout, beside anything."""
    digits, before, written, after = case
    assert not leaked(digits, redact_text(before + written + after), context=before + " " + after)


@FAST
@given(ANY_CARD)
def test_mask_numbers_in_place_hides_all_but_four_and_keeps_the_length(case: tuple[str, str, str, str]) -> None:
    """mask_numbers_in_place keeps the length and at most four consecutive card digits."""
    digits, before, written, after = case
    text = before + written + after
    masked = mask_numbers_in_place(text)
    assert len(masked) == len(text)
    positions = [len(before) + index for index, char in enumerate(written) if char.isdecimal()]
    streak = longest = 0
    for position in positions:
        streak = streak + 1 if masked[position].isdecimal() else 0
        longest = max(longest, streak)
    assert longest <= 4, masked


@FEWER
@given(ANY_CARD)
def test_no_card_survives_the_log_filter(case: tuple[str, str, str, str]) -> None:
    """A card in a log record's arguments and exception text is masked before any handler writes."""
    digits, before, written, after = case
    assert not leaked(digits, _in_logs(before + written + after), context=before + " " + after)


@FEWER
@given(ANY_CARD)
def test_no_card_survives_redact_result(case: tuple[str, str, str, str]) -> None:
    """Reply, entity text and value, transcripts, errors and cleaning of a result lose the card."""
    digits, before, written, after = case
    text = before + written + after
    result = result_carrying(text)
    # The result's own timestamp is no text of the ticket's: its digits match the card's by chance.
    dumped = redact_result(result).model_dump_json(exclude={"triaged_at"})
    assert not leaked(digits, dumped.replace("\\n", " "), context=before + " " + after)


@FEWER
@given(ANY_CARD)
def test_no_card_survives_redact_ticket_and_the_ticket_stays_valid(case: tuple[str, str, str, str]) -> None:
    """Subject, body and metadata (strings, keys, integers) lose the card; the ticket stays valid."""
    digits, before, written, after = case
    text = before + written + after
    # As an integer a card loses its leading zeros: 0000000010009 is 10009, no card number.
    pan = int(digits) if digits[0] != "0" else digits
    ticket = Ticket(ticket_id="T-1", customer_id="C-1", subject=text, body=text,
                    metadata={"note": text, text: [text], "pan": pan})
    redacted = redact_ticket(ticket)
    Ticket.model_validate(redacted.model_dump())
    for field in (redacted.subject, redacted.body, *_strings(redacted.metadata)):
        assert not leaked(digits, field, context=before + " " + after)


def _strings(value: Any) -> list[str]:
    """Every key, string and number inside a JSON-like value, each on its own: ``str()`` of the
    whole would write "\\u3000" for a space and put digits of its own beside a card's."""
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in (*_strings(key), *_strings(item))]
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in _strings(item)]
    return [str(value)]


@FEWER
@given(st.integers(50, 3000), st.integers(20, 400), st.integers(200, 4000), st.randoms(use_true_random=False))
def test_tickets_at_their_limits_stay_valid_once_masked(body_chars: int, subject_chars: int, metadata_bytes: int,
                                                         rng: Any) -> None:
    """Fields at their limits, full of values shorter than their tokens, stay valid once masked."""
    limits = Limits(max_body_chars=body_chars, max_subject_chars=subject_chars, max_metadata_bytes=metadata_bytes)
    pieces = ["4222222222222", "a@b.io", "NO9386011117947", "BE68539007547034", "36006666333344", "x", " ", "\n"]

    def filled(limit: int) -> str:
        text = "x"
        while len(text) < limit:
            text += rng.choice([" ", "\n", ", ", "-", "/"]) + rng.choice(pieces)
        return text[:limit]

    metadata: dict[str, Any] = {"k": []}
    while len(json.dumps(metadata, ensure_ascii=False).encode()) < metadata_bytes - 20:
        metadata["k"].append(rng.choice(["a@b.io", "4222222222222", 4222222222222, "x"]))
    context = {"limits": limits}
    ticket = Ticket.model_validate({"ticket_id": "T-1", "customer_id": "C-1", "subject": filled(subject_chars),
                                    "body": filled(body_chars), "metadata": metadata}, context=context)
    redacted = redact_ticket(ticket, limits=limits)
    Ticket.model_validate(redacted.model_dump(), context=context)
    assert "4222222222222" not in redacted.body + redacted.subject + json.dumps(redacted.metadata)


@FAST
@given(st.text("0123456789", min_size=4, max_size=12), st.text("0123456789", min_size=4, max_size=12),
       st.sampled_from(["\n\n", " " * 17, " and ", " -- - ", "; ", " (", "\n \n", "|"]))
def test_numbers_parted_by_more_than_a_gap_are_never_one_card(left: str, right: str, gap: str) -> None:
    """Numbers parted by a blank line, a word or an over-long gap never make one card together."""
    whole = luhn_complete(left + right[:-1])
    text = whole[:len(left)] + gap + whole[len(left):]
    assert card_cover_spans(text) == [] and card_spans(text) == []


@FAST
@given(st.text("0123456789", min_size=7, max_size=12), st.text("0123456789", min_size=7, max_size=12),
       st.sampled_from([" ", "\n", "-", "/", "_", ",", ".", "\u00a0", "\u2013", "\u200b", " - ", " " * 16, "\r\n"]))
def test_a_luhn_valid_number_split_by_one_gap_is_masked(left: str, right: str, gap: str) -> None:
    """Digits that pass Luhn together, 13 to 19 of them, split by one allowed gap are masked."""
    whole = luhn_complete(left + right[:-1])[:19]
    whole = luhn_complete(whole[:-1])
    cut = min(len(left), len(whole) - 1)
    text = whole[:cut] + gap + whole[cut:]
    assert not leaked(whole, redact_text(text))


def _false_positive_rate(make: Any) -> float:
    """The share of ``make``'s strings (drawn from a hypothesis-seeded Random) that lose digits
    to card masking."""
    seen: list[bool] = []

    @FAST
    @given(st.randoms(use_true_random=False))
    def draw(rng: Any) -> None:
        seen.append(bool(card_cover_spans(make(rng))))

    draw()
    return sum(seen) / len(seen)


def test_false_positive_rate_on_support_messages_is_low() -> None:
    """Support messages full of ordinary numbers lose digits to card masking at most 8 % of the time."""
    assert _false_positive_rate(prose) <= 0.08


def test_false_positive_rate_on_numbers_side_by_side_is_bounded() -> None:
    """Two to five ordinary numbers side by side (the hard case) are masked at most 22 % of the time."""
    assert _false_positive_rate(sentence) <= 0.22


@FAST
@given(ibans(), st.sampled_from(["", "IBAN: ", "pay to ", "("]), st.sampled_from(["", " please", ")", ", thanks"]))
def test_ibans_in_any_grouping_and_case_are_masked(case: tuple[str, str], before: str, after: str) -> None:
    """A valid IBAN in any grouping and case is found with its compact value and becomes its token."""
    compact, written = case
    text = before + written + after
    assert [span.value for span in iban_spans(text)] == [compact]
    assert redact_text(text) == f"{before}[iban {compact[:2]}****{compact[-4:]}]{after}"
    masked = mask_numbers_in_place(text)
    shown = masked[len(before):len(masked) - len(after)]
    assert len(masked) == len(text) and sum(char.isalnum() for char in shown) == 6  # country, last four


@FAST
@given(email_addresses(), st.sampled_from(["", "mail ", "write to: ", "(", "<"]),
       st.sampled_from(["", " now", ")", ">", ", thanks"]))
def test_email_addresses_in_any_legal_or_evasive_form_are_masked(address: str, before: str, after: str) -> None:
    """Plain, quoted, spaced and spelled-out addresses with any legal local part become [email]."""
    assert redact_text(before + address + after) == f"{before}[email]{after}"
