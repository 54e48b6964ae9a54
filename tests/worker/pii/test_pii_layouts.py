"""Redaction that holds: cards in every layout, IBANs with any grouping, e-mail addresses written
to slip through, and redacted tickets that stay valid. Examples here; properties in
test_pii_properties.py."""

from __future__ import annotations

import json

import pytest

from pii_samples import digit_runs, leaked

from worker.contract import Limits, Ticket, TriageResult
from worker.pii.finders import card_cover_spans, card_spans, email_spans, iban_ok, iban_spans
from worker.pii.redaction import mask_numbers_in_place, redact_result, redact_text, redact_ticket, redact_value

CARD = "4111111111111111"


def _digits_left(text: str) -> str:
    return "".join(char for char in text if char.isdecimal())


@pytest.mark.parametrize(
    "written",
    [
        "4111\u00a01111\u00a01111\u00a01111",  # no-break space
        "4111\u20091111\u20091111\u20091111",  # thin space
        "4111\u202f1111\u202f1111\u202f1111",  # narrow no-break space
        "4111\u30001111\u30001111\u30001111",  # ideographic space
        "4111\u20131111\u20131111\u20131111",  # en dash
        "4111\u20141111\u20141111\u20141111",  # em dash
        "4111\u22121111\u22121111\u22121111",  # minus sign
        "4111\u20111111\u20111111\u20111111",  # non-breaking hyphen
        "4111/1111/1111/1111",
        "4111_1111_1111_1111",
        "4111,1111,1111,1111",
        "4111.1111.1111.1111",
        "4111 - 1111 - 1111 - 1111",
        "4111\u200b1111\u200b1111\u200b1111",  # zero-width space
        "4111\u200c1111\u200d1111\u20601111",  # zero-width non-joiner, joiner, word joiner
        "4111\ufeff1111\u00ad1111\u00ad1111",  # BOM, soft hyphen
        "4\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1",
        "4111          1111          1111          1111",  # long runs of spaces
        "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
        "4111 1111\n1111 1111",  # split across OCR lines
        "4111 1111\r\n1111 1111",
        "4111 1111 \n    1111 1111",
        "4111-1111-\n1111-1111",
        "\uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11",
        "\u0664\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661",
    ],
)
def test_cards_with_any_separator_are_masked(written: str) -> None:
    """A card with any space, dash, / _ , ., invisible character, long run or line break is masked."""
    masked = redact_text(f"my card is {written} thanks")
    assert masked == "my card is [card ****1111] thanks"
    in_place = mask_numbers_in_place(written)
    assert len(in_place) == len(written) and len(_digits_left(in_place)) == 4


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("ref 12345 4111111111111111", "ref 12345 "),
        ("2024-01-15 4111 1111 1111 1111", "2024-01-15 "),
        ("call 07700 900123 or use 4111-1111-1111-1111", "call [phone] or use "),
        ("15/01/2024 4111/1111/1111/1111", "15/01/2024 "),
        ("4111 1111 1111 1111 2024-01-15", " 2024-01-15"),
        ("4111111111111111 12/25", " 12/25"),
    ],
)
def test_a_card_next_to_another_number_is_masked_and_the_number_stays(text: str, kept: str) -> None:
    """A card right before or after a date, phone or reference is masked whole; the other stays."""
    masked = redact_text(text)
    assert "[card ****1111]" in masked and kept in masked
    assert "4111" not in masked.replace("[card ****1111]", "")


OTHER = "4539148803436467"


@pytest.mark.parametrize(
    "text",
    [
        "call 555-123-4567 4539 1488 0343 6467",  # a wrong window through the phone also passes Luhn
        "+44 20 7946 0958\n4539 1488 0343 6467",
        "2024-01-154539148803436467",  # a date glued to the card
        "453914880343646712/25",  # the expiry glued to the card
        "ref123454539148803436467",
        "0770090012 34539148803436467",
        "4539-1488 0343/6467",  # gaps that disagree
        "4539 1488 0343 6467 2024-01-15",
    ],
)
def test_cards_touching_other_digits_leave_no_run_of_five_card_digits(text: str) -> None:
    """Next to or glued to other digits, no five digits of the card survive anywhere."""
    for masked in (redact_text(text), mask_numbers_in_place(text)):
        assert not leaked(OTHER, masked), masked


def test_two_cards_glued_end_to_end_are_both_masked() -> None:
    """Two cards written one after the other without a gap are both masked, in place too."""
    text = "x" + "4222222222222" + "4539148803436467" + " ok"
    for masked in (redact_text(text), mask_numbers_in_place(text), redact_text(text, max_chars=len(text))):
        assert not leaked("4222222222222", masked) and not leaked("4539148803436467", masked), masked


def test_the_last_four_shown_are_the_cards() -> None:
    """Where a neighbour is masked with the card, the token still shows the card's last four."""
    assert redact_text("call 555-123-4567 4539 1488 0343 6467") .endswith("[card ****6467]")
    assert redact_text("2024-01-154539148803436467").endswith("[card ****6467]")


@pytest.mark.parametrize(
    "text",
    [
        "on 2024-01-15, paid 1,250.00 and 12,000.50 to account 12345678",
        "15/01/2024 10:30 - £45.99",
        "call 07700 900123 or +44 20 7946 0958, case 99887766",
        "version 10.2.33 on 192.168.10.1",
        "amounts 1 250 000 and 3 400",
        "sort code 20-00-00 account 12345678",
        "pi is 3.14159265358979323846",
        "timestamp 1705312345 then 1705312399",
    ],
)
def test_ordinary_numbers_are_not_cards(text: str) -> None:
    """Dates, times, amounts, phone numbers, sort codes and versions are no card numbers."""
    assert card_cover_spans(text) == [] and card_spans(text) == []


def test_a_glued_number_must_look_like_a_card_brand() -> None:
    """Digits glued to a card are read only for brand-like windows, so long ids are mostly kept."""
    assert card_cover_spans("tracking 9400111899223344556677") == []


def test_card_spans_report_the_card_not_the_neighbour() -> None:
    """The strict finder (for entities) returns the card alone, with ASCII digits."""
    text = "2024-01-15 \uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11"
    (span,) = card_spans(text)
    assert text[span.start:span.end].startswith("\uff14") and span.value == CARD


@pytest.mark.parametrize(
    "raw",
    ["GB82 WEST 1234 5698 7654 32", "GB82-WEST-1234-5698-7654-32", "gb82-west-1234-5698-7654-32",
     "GB82.WEST.1234.5698.7654.32", "GB82\u00a0WEST\u00a01234\u00a05698\u00a07654\u00a032",
     "GB82\u2013WEST\u20131234\u20135698\u20137654\u201332", "GB82 WEST 1234\n5698 7654 32",
     "GB82\u200bWEST12345698765432", "gb82west12345698765432"],
)
def test_ibans_with_dashes_dots_spaces_and_lower_case_are_masked(raw: str) -> None:
    """An IBAN grouped by dashes, dots, any space or a line break, or in lower case, is masked."""
    assert redact_text(f"pay to {raw} please") == "pay to [iban GB****5432] please"
    assert iban_ok(raw)


def test_iban_length_comes_from_its_country() -> None:
    """A word or number glued after an IBAN is not read as part of it."""
    (span,) = iban_spans("DE89370400440532013000please and NO9386011117947 too")[:1]
    assert span.value == "DE89370400440532013000"
    assert [s.value for s in iban_spans("NO9386011117947 too")] == ["NO9386011117947"]


def test_an_iban_in_place_keeps_its_country_and_last_four() -> None:
    """Hidden in place, an IBAN keeps its country code and last four, and no card is read in it."""
    text = "IBAN DE89 3704 0044 0532 0130 00."
    assert mask_numbers_in_place(text) == "IBAN DE** **** **** **** **30 00."


@pytest.mark.parametrize(
    "address",
    [
        '"john doe"@example.com', '"john\\"q\\"doe"@example.com', "john.o'brien+tag@mail.example.co.uk",
        "a!#$%&'*+/=?^_`{|}~-b@example.org", "用户@例子.广告", "jürgen@bücher.de", "x@xn--p1ai.xn--p1ai",
        "john.doe@[192.168.1.1]", "john . doe @ example . com", "john.doe @ example.com",
        "jane(at)bank(dot)co(dot)uk", "jane [at] bank [dot] com", "jane(at)bank dot com",
        "j.o.h.n @ gmail . com", "john\uff20example.com",
    ],
)
def test_email_addresses_with_any_legal_or_evasive_local_part_are_masked(address: str) -> None:
    """Quoted, tagged, any-atext, Unicode-domain, spaced and spelled-out addresses become [email]."""
    assert redact_text(f"mail me: {address} today") == "mail me: [email] today"


@pytest.mark.parametrize(
    "text",
    ["I bought it at amazon.com", "ping @john.smith", "meet at 5 (at the latest)", "price 5.99 dot com bubble"],
)
def test_words_that_only_resemble_addresses_stay(text: str) -> None:
    """"at" and "dot" as words, or an @handle, are no e-mail address."""
    assert email_spans(text) == [] and redact_text(text) == text


def test_spelled_out_addresses_give_the_typed_address() -> None:
    """The value of a spelled-out address is the address as one would type it."""
    assert [s.value for s in email_spans("jane(at)bank(dot)co(dot)uk")] == ["jane@bank.co.uk"]


def _ticket(**fields: object) -> Ticket:
    return Ticket.model_validate({"ticket_id": "T-4111111111111111", "customer_id": "C-1", **fields})


def test_redacted_ticket_at_the_body_limit_stays_valid() -> None:
    """A body at max_body_chars full of short PII (13-digit cards, a@b.io) stays within the limit."""
    limits = Limits()
    unit = "4222222222222 a@b.io NO9386011117947 "
    body = (unit * (limits.max_body_chars // len(unit) + 1))[:limits.max_body_chars]
    ticket = _ticket(body=body, subject=("a@b.io " * 200)[:limits.max_subject_chars])
    redacted = redact_ticket(ticket)
    Ticket.model_validate(redacted.model_dump())
    assert len(redacted.body) <= limits.max_body_chars and "4222222222222" not in redacted.body
    assert "a@b.io" not in redacted.subject and redacted.ticket_id == ticket.ticket_id


def test_redacted_ticket_keeps_the_usual_tokens_below_the_limit() -> None:
    """Below the limit the tokens are the usual ones, even where they are longer than the value."""
    assert redact_ticket(_ticket(body="card 4222222222222, a@b.io")).body == "card [card ****2222], [email]"


def test_redacted_ticket_honours_smaller_limits() -> None:
    """With configured limits passed in, masking fits those limits."""
    limits = Limits(max_body_chars=19)
    ticket = Ticket.model_validate({"ticket_id": "T-1", "customer_id": "C-1", "body": "card 4222222222222"},
                                   context={"limits": limits})
    redacted = redact_ticket(ticket, limits=limits)
    assert redacted.body == "card *********2222"
    Ticket.model_validate(redacted.model_dump(), context={"limits": limits})


def test_redacted_metadata_at_the_byte_limit_stays_valid() -> None:
    """Metadata at its byte limit with short PII, integer cards and PII keys stays valid, masked."""
    limits = Limits()
    metadata: dict[str, object] = {"4111111111111111": "key", "ints": [4222222222222] * 50}
    filler = 0
    while len(json.dumps(metadata, ensure_ascii=False).encode()) < limits.max_metadata_bytes - 40:
        metadata[f"k{filler}"] = "a@b.io 4222222222222"
        filler += 1
    ticket = _ticket(body="x", metadata=metadata)
    redacted = redact_ticket(ticket)
    encoded = json.dumps(redacted.metadata, ensure_ascii=False)
    Ticket.model_validate(redacted.model_dump())
    assert "4222222222222" not in encoded and "4111111111111111" not in encoded and "a@b.io" not in encoded


def test_metadata_keys_masked_alike_are_both_kept() -> None:
    """Two keys that mask to the same text are both kept."""
    masked = redact_value({"4111111111111111": 1, "4111 1111 1111 1111": 2})
    assert sorted(masked.values()) == [1, 2] and all("4111" not in key for key in masked)


def test_integer_card_numbers_are_masked() -> None:
    """A card number held as a JSON integer is masked; ordinary integers and booleans stay."""
    assert redact_value({"pan": 4111111111111111, "n": 42, "ok": True}) == {
        "pan": "[card ****1111]", "n": 42, "ok": True}


def test_redact_result_masks_cards_in_any_layout() -> None:
    """Result text, entities, transcripts, errors and cleaning lose cards written any way."""
    written = "4111\u200b1111\u20131111\n1111"
    result = TriageResult(
        ticket_id="T-1",
        reply={"action": "draft", "text": f"refunded {written}"},
        entities=[{"type": "card_last4", "text": written, "start": 0, "end": 4, "value": CARD}],
        transcripts=[{"text": f"my card is {written}"}],
        errors=[{"where": "x", "code": "y", "message": f"bad {written}"}],
        cleaning={"text": f"card {written}", "signature": written},
    )
    redacted = redact_result(result)
    assert redacted.reply is not None and redacted.cleaning is not None
    texts = [redacted.reply.text, redacted.entities[0].text, str(redacted.entities[0].value),
             redacted.transcripts[0]["text"], redacted.errors[0].message, redacted.cleaning.text,
             redacted.cleaning.signature]
    assert all(not leaked(CARD, text) for text in texts), texts


def test_redaction_is_idempotent_on_hard_layouts() -> None:
    """Redacting twice changes nothing, also where masking splits a run of digits."""
    for text in ["2024-01-154111111111111111 and 12345678901234567", "4111 1111 1111 1111 5500 0000 0000 0004",
                 "call 555-123-4567 4111 1111 1111 1111", "a@b.io GB82-WEST-1234-5698-7654-32"]:
        once = redact_text(text)
        assert redact_text(once) == once
        assert mask_numbers_in_place(mask_numbers_in_place(text)) == mask_numbers_in_place(text)
