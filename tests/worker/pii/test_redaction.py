"""PII masking: cards (Luhn), IBANs (mod 97), e-mail, phones; ordinary numbers left alone."""

from __future__ import annotations

import logging
import sys

import pytest

from worker.contract import Ticket, TriageResult
from worker.pii.redaction import (
    RedactingFilter,
    redact_result,
    redact_text,
    redact_ticket,
)


@pytest.mark.parametrize(
    "raw",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5500 0000 0000 0004",
        "3782 822463 10005",  # Amex, 15 digits in 4-6-5 groups
        "6011 0009 9013 9424",
        "4222222222222",  # 13-digit Visa
    ],
)
def test_luhn_valid_card_numbers_are_masked_to_the_last_four(raw: str) -> None:
    """A Luhn-valid 13-19 digit card number, grouped or not, keeps only its last four digits."""
    masked = redact_text(f"my card is {raw}, please refund")
    digits = "".join(ch for ch in raw if ch.isdigit())
    assert masked == f"my card is [card ****{digits[-4:]}], please refund"


def test_card_next_to_other_numbers_is_masked_alone() -> None:
    """A card followed by a date is masked and the date stays."""
    assert redact_text("card 4111-1111-1111-1111 2024-01-15") == "card [card ****1111] 2024-01-15"


@pytest.mark.parametrize(
    "text",
    [
        "order 4111111111111112 was late",  # fails the Luhn check
        "order number 123456789012",  # too short for a card
        "you charged me 1,250.00 and then 12,000.50",
        "on 2024-01-15 at 10:30:00, and again on 15.01.2024 and 01/02/2024",
        "reference ORD-2024-000123, ticket #12345678",
        "version 1.2.3.4 from 192.168.1.1, amount 1 250 000",
        "pi is 3.14159265358979323846",
    ],
)
def test_ordinary_numbers_are_left_alone(text: str) -> None:
    """Order numbers, amounts, dates, versions and non-Luhn digit strings are not masked."""
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("GB82 WEST 1234 5698 7654 32", "[iban GB****5432]"),
        ("GB82WEST12345698765432", "[iban GB****5432]"),
        ("DE89 3704 0044 0532 0130 00", "[iban DE****3000]"),
        ("de89370400440532013000", "[iban DE****3000]"),
    ],
)
def test_valid_ibans_are_masked(raw: str, masked: str) -> None:
    """An IBAN that passes mod-97, grouped or compact, is masked; the following word stays."""
    assert redact_text(f"pay to {raw} please") == f"pay to {masked} please"


def test_iban_with_a_wrong_check_digit_is_left_alone() -> None:
    """An IBAN-shaped string that fails mod-97 is not an IBAN and is kept."""
    assert redact_text("code GB83 WEST 1234 5698 7654 32") == "code GB83 WEST 1234 5698 7654 32"


def test_email_addresses_are_masked() -> None:
    """E-mail addresses, including plus tags and sub-domains, become [email]."""
    text = "write to jane.doe+billing@mail.example.co.uk or bob@example.com."
    assert redact_text(text) == "write to [email] or [email]."


@pytest.mark.parametrize(
    "phone",
    ["+44 20 7946 0958", "07700 900123", "(020) 7946 0958", "+1 (555) 123-4567", "555-123-4567",
     "+447700900123", "020-7946-0958"],
)
def test_phone_numbers_are_masked(phone: str) -> None:
    """International and national phone numbers in free text become [phone]."""
    assert redact_text(f"call me on {phone} today") == "call me on [phone] today"


def test_redaction_is_idempotent() -> None:
    """Redacting already redacted text changes nothing."""
    once = redact_text("4111 1111 1111 1111 / GB82WEST12345698765432 / a@b.io / +44 20 7946 0958")
    assert redact_text(once) == once
    assert "[card ****1111]" in once and "[iban GB****5432]" in once


def test_redact_ticket_masks_subject_and_body_only() -> None:
    """redact_ticket returns a masked copy and leaves the original untouched."""
    ticket = Ticket(
        ticket_id="T-1",
        customer_id="C-1",
        subject="card 4111 1111 1111 1111",
        body="mail a@b.io",
    )
    masked = redact_ticket(ticket)
    assert (masked.subject, masked.body) == ("card [card ****1111]", "mail [email]")
    assert ticket.subject == "card 4111 1111 1111 1111"
    assert masked.ticket_id == "T-1"


def test_redact_result_masks_reply_entities_transcripts_and_errors() -> None:
    """redact_result masks reply text, entity text and value, transcripts and error messages."""
    result = TriageResult(
        ticket_id="T-1",
        reply={"action": "draft", "text": "We refunded 4111 1111 1111 1111"},
        entities=[{"type": "card", "text": "4111111111111111", "start": 0, "end": 16,
                   "value": {"number": "4111111111111111"}}],
        transcripts=[{"text": "my email is a@b.io", "start": 0.0}],
        errors=[{"where": "extract", "code": "x", "message": "bad card 4111111111111111"}],
    )
    masked = redact_result(result).model_dump_json()
    assert "4111111111111111" not in masked and "4111 1111" not in masked
    assert "a@b.io" not in masked
    assert result.reply is not None and "4111 1111 1111 1111" in result.reply.text


def test_logging_filter_masks_message_and_arguments(caplog: pytest.LogCaptureFixture) -> None:
    """RedactingFilter masks PII in the formatted message and arguments, and keeps the record."""
    logger = logging.getLogger("ticketfusion.test_redact")
    redacting = RedactingFilter()
    caplog.handler.addFilter(redacting)
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            logger.info("ticket %s from %s paid with %s", "T-1", "a@b.io", "4111-1111-1111-1111")
    finally:
        caplog.handler.removeFilter(redacting)
    (record,) = caplog.records
    assert record.getMessage() == "ticket T-1 from [email] paid with [card ****1111]"
    assert "4111" not in caplog.text.replace("****1111", "")


def test_logging_filter_masks_tracebacks() -> None:
    """An exception's text in a log record is masked before any handler formats it."""
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
    try:
        raise ValueError("card 4111 1111 1111 1111 declined")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record) is True
    formatted = logging.Formatter().format(record)
    assert "4111 1111 1111 1111" not in formatted
    assert "[card ****1111]" in formatted


def test_every_structured_pii_the_extractor_finds_is_masked() -> None:
    """Phones, cards, IBANs and e-mails found by patterns.find_structured are all masked."""
    from worker.understanding.finders import find_structured

    text = "call 07911 123456, card 4111 1111 1111 1111, GB82WEST12345698765432, a@b.io, case 99887766"
    masked = redact_text(text)
    for match in find_structured(text):
        if match.type in ("phone", "iban", "email"):
            assert match.text not in masked
    assert "[card ****1111]" in masked and "case 99887766" in masked


def test_card_last_four_phrasing_stays_visible() -> None:
    """"ending in 1234" is not a card number and is kept, as is an already masked card."""
    text = "the card ending in 1234, i.e. [card ****1234]"
    assert redact_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "4539148803436467GBP",
        "card_4539148803436467",
        "4539  1488  0343  6467",
        "4539\u00a01488\u00a00343\u00a06467",
        "4539.1488.0343.6467",
        "paid with 4539 1488 0343 6467.50 today",
        "transaction TX4539148803436467",
    ],
)
def test_card_numbers_in_odd_layouts_are_masked(text: str) -> None:
    """Cards glued to words, spaced twice, split by no-break spaces or dots are still masked."""
    masked = redact_text(text)
    assert "4539" not in masked and "6467" in masked


def test_international_prefix_00_phone_is_masked() -> None:
    """A phone number written with the 00 international prefix is masked like +44."""
    assert redact_text("call 0044 7911 123457 please") == "call [phone] please"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "text",
    ["order" + " " * 20000 + "!", "last four" + " " * 20000, "*" * 20000, "1 " * 10000, "1." * 10000,
     "a" * 20000 + "@", " ".join(["one two three"] * 1500)],
)
def test_adversarial_inputs_finish(text: str) -> None:
    """Inputs built to make regexes backtrack (long runs of spaces, digits, stars) still finish."""
    from datetime import datetime, timezone

    from worker.understanding.finders import find_structured, find_values

    redact_text(text)
    find_structured(text)
    assert isinstance(find_values(text, now=datetime(2022, 3, 15, tzinfo=timezone.utc)), list)
