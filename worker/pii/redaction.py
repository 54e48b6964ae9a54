"""PII masking applied before anything is persisted or logged.

Masks payment-card numbers (Luhn-checked, last four kept), IBANs (mod-97-checked, last four
kept), e-mail addresses and phone numbers. Checksums keep order numbers, amounts and dates
intact; a masking is idempotent, so redacting twice is harmless. Detection (Luhn, mod-97, the
e-mail and phone shapes) lives in :mod:`worker.pii.finders`, shared with entity extraction,
so every card, IBAN or phone the extractor reports is masked too. Masking hides more than the
extractor reports where a card may hide: every Luhn-valid window of a run of digits
(:func:`worker.pii.cards.card_covers`).

Masked values never make a valid ticket invalid: where a token (``[email]``, 7 characters) is
longer than what it hides (``a@b.io``, 6) and the field would pass its limit, that value is
hidden character for character instead (``*@*.**``), which never lengthens a text or its JSON.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from worker.contract import DEFAULT_LIMITS, Limits, Ticket, TriageResult
from worker.pii.cards import MAX_DIGITS, MIN_DIGITS, CardCover, card_covers, luhn_ok
from worker.pii.finders import Span, email_spans, iban_spans, phone_spans

__all__ = [
    "RedactingFilter",
    "mask_numbers_in_place",
    "redact_result",
    "redact_text",
    "redact_ticket",
    "redact_value",
]

Render = Callable[[str, Span], str]


def _mask(text: str, spans: list[Span], render: Render, *, fit: bool = False) -> str:
    """Replace each span (sorted, not overlapping) by its rendering; with ``fit``, a rendering
    longer than what it replaces becomes the same-length mask instead."""
    return _mask_all(text, [(span, render) for span in spans], fit=fit)


def _mask_all(text: str, items: list[tuple[Span, Render]], *, fit: bool = False) -> str:
    """:func:`_mask` for spans with renderings of their own, in order, none overlapping."""
    pieces, cursor = [], 0
    for span, render in sorted(items, key=lambda item: item[0].start):
        if span.start < cursor:
            continue
        original = text[span.start:span.end]
        rendered = render(original, span)
        if fit and len(rendered) > len(original):
            glued = span.end < len(text) and text[span.end].isdecimal()  # kept digits would join the next
            rendered = _hide(original, keep_first=2 if render is _iban else 0,
                             keep_last=4 if render in (_card, _iban) and not glued else 0)
        pieces += [text[cursor:span.start], rendered]
        cursor = span.end
    return "".join(pieces) + text[cursor:]


def _hide(original: str, *, keep_last: int = 0, keep_first: int = 0) -> str:
    """Letters and digits become ``*`` (the first and last few letters or digits kept); spaces and
    punctuation stay, so the text keeps its length and its offsets."""
    positions = [index for index, char in enumerate(original) if char.isalnum()]
    hidden = set(positions[keep_first:len(positions) - keep_last])
    return "".join("*" if index in hidden else char for index, char in enumerate(original))


def _email(original: str, span: Span) -> str:
    return "[email]"


def _iban(original: str, span: Span) -> str:
    compact = span.value or ""
    return f"[iban {compact[:2]}****{compact[-4:]}]"


def _card(original: str, span: Span) -> str:
    return f"[card ****{(span.value or '')[-4:]}]"


def _phone(original: str, span: Span) -> str:
    return "[phone]"


def redact_text(text: str, *, max_chars: int | None = None) -> str:
    """Mask e-mail addresses, IBANs, card numbers and phone numbers in free text.

    ``[email]``, ``[iban GB****5432]``, ``[card ****1111]``, ``[phone]``; where that would make the
    text longer than ``max_chars`` (a 13-digit card, ``a@b.io``), the values whose token is longer
    than themselves are hidden character for character instead ("*********2222"), so a field
    within its limit stays within it.
    """
    if not text:
        return text
    masked = _redact(text, fit=False)
    if max_chars is not None and len(masked) > max_chars:
        masked = _redact(text, fit=True)
    return masked


def _redact(text: str, *, fit: bool) -> str:
    """One pass after another until nothing changes (at most five): a token splits a run of
    digits, and what is left of the run is read again (cards glued end to end come out one by
    one), so that redacting twice changes nothing."""
    for _ in range(5):
        masked = _redact_once(text, fit=fit)
        if masked == text:
            break
        text = masked
    return text


def _redact_once(text: str, *, fit: bool) -> str:
    text = _mask(text, email_spans(text), _email, fit=fit)
    ibans, cards = _ibans_and_cards(text)
    items: list[tuple[Span, Render]] = [(grown, _iban) for _, grown in ibans]
    items += [(Span(cover.start, cover.end, cover.digits), _card) for cover in cards]
    text = _mask_all(text, items, fit=fit)
    return _mask(text, phone_spans(text), _phone, fit=fit)


def _ibans_and_cards(text: str) -> tuple[list[tuple[Span, Span]], list[CardCover]]:
    """IBANs, each with the extent to mask: itself grown over any card cover it overlaps (digits
    of an IBAN are no card, and an IBAN read by chance must not cut a card in two); and the card
    covers that overlap no IBAN. Both are read on the same text."""
    covers = card_covers(text)
    ibans: list[tuple[Span, Span]] = []
    for span in iban_spans(text):
        start, end = span.start, span.end
        for cover in covers:
            if cover.start < span.end and span.start < cover.end:
                start, end = min(start, cover.start), max(end, cover.end)
        if ibans and start < ibans[-1][1].end:  # a card joins two IBANs: one extent for both
            first, grown = ibans.pop()
            start, end, span = grown.start, max(end, grown.end), first
        ibans.append((span, Span(start, end, span.value)))
    free = [cover for cover in covers
            if not any(cover.start < grown.end and grown.start < cover.end for _, grown in ibans)]
    return ibans, free


def mask_numbers_in_place(text: str) -> str:
    """Card numbers and IBANs hidden character for character ("**** **** **** 6467"): the text keeps
    its length, so offsets into it still hold. For the text a result shows as read by the models.

    A card's last four digits stay (those of the most card-like number where digits around it were
    masked with it); an IBAN keeps its country code and last four characters, as its token does.
    """
    if not text:
        return text
    for _ in range(5):  # as redact_text: what a mask leaves of a run of digits is read again
        masked = _mask_in_place_once(text)
        if masked == text:
            break
        text = masked
    return text


def _mask_in_place_once(text: str) -> str:
    chars = list(text)
    ibans, cards = _ibans_and_cards(text)
    for span, grown in ibans:  # no digit inside an IBAN is kept as a card's last four
        chars[grown.start:grown.end] = (_hide(text[grown.start:span.start])
                                        + _hide(text[span.start:span.end], keep_first=2, keep_last=4)
                                        + _hide(text[span.end:grown.end]))
    for cover in cards:
        # The last four stay, unless digits right after them would make a longer run with them.
        glued = cover.shown_end == cover.end and cover.end < len(text) and text[cover.end].isdecimal()
        chars[cover.start:cover.end] = (_hide(text[cover.start:cover.shown_end],
                                              keep_last=0 if cover.hide_last_four or glued else 4)
                                        + _hide(text[cover.shown_end:cover.end]))
    return "".join(chars)


def _luhn_number(value: int) -> bool:
    digits = str(abs(value))
    return MIN_DIGITS <= len(digits) <= MAX_DIGITS and luhn_ok(digits)


def redact_value(value: Any, *, fit: bool = False) -> Any:
    """Mask every string inside a JSON-like value (keys too), and integers that are card numbers.

    With ``fit`` nothing grows: each string as :func:`redact_text` with ``max_chars`` its own
    length, a card number held as an integer as a string no longer than its JSON."""
    if isinstance(value, str):
        return redact_text(value, max_chars=len(value) if fit else None)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not _luhn_number(value):
            return value
        digits = str(abs(value))
        return "*" * (len(digits) - 6) + digits[-4:] if fit else f"[card ****{digits[-4:]}]"
    if isinstance(value, dict):
        redacted: dict[Any, Any] = {}
        for key, item in value.items():
            new_key = redact_value(key, fit=fit) if isinstance(key, str) else key
            if new_key in redacted:  # two keys masked alike: keep both
                number = 2
                while f"{new_key}#{number}" in redacted:
                    number += 1
                new_key = f"{new_key}#{number}"
            redacted[new_key] = redact_value(item, fit=fit)
        return redacted
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(item, fit=fit) for item in value)
    return value


_redact_value = redact_value  # the name callers of older versions used


def _json_bytes(value: Any) -> int:
    try:
        return len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError):
        return 0


def redact_ticket(ticket: Ticket, *, limits: Limits | None = None) -> Ticket:
    """A copy with subject, body and every string inside metadata masked.

    Never pushes a field past its limit (``limits``, else the contract's defaults): where the
    usual tokens would, the values are hidden character for character instead, which never
    lengthens a text or its metadata's JSON. Ids are never touched.
    """
    limits = limits or DEFAULT_LIMITS
    metadata = redact_value(ticket.metadata)
    if _json_bytes(metadata) > limits.max_metadata_bytes:
        metadata = redact_value(ticket.metadata, fit=True)
    return ticket.model_copy(
        update={
            "subject": redact_text(ticket.subject, max_chars=limits.max_subject_chars),
            "body": redact_text(ticket.body, max_chars=limits.max_body_chars),
            "metadata": metadata,
        }
    )


def redact_result(result: TriageResult) -> TriageResult:
    """A copy with the cleaned text, reply text, entities, transcripts and error messages masked.

    Entity offsets still point into the original text, which is never stored.
    """
    update: dict[str, Any] = {
        "entities": [
            entity.model_copy(
                update={"text": redact_text(entity.text), "value": redact_value(entity.value)}
            )
            for entity in result.entities
        ],
        "transcripts": [redact_value(item) for item in result.transcripts],
        "errors": [
            error.model_copy(update={"message": redact_text(error.message)})
            for error in result.errors
        ],
    }
    if result.cleaning is not None:
        update["cleaning"] = result.cleaning.model_copy(update={
            "text": redact_text(result.cleaning.text), "signature": redact_text(result.cleaning.signature)})
    if result.reply is not None:
        update["reply"] = result.reply.model_copy(update={
            "text": redact_text(result.reply.text),
            "reasons": [redact_text(reason) for reason in result.reply.reasons],
        })
    if result.priority is not None:
        update["priority"] = result.priority.model_copy(
            update={"reasons": [redact_text(reason) for reason in result.priority.reasons]})
    return result.model_copy(update=update)


class RedactingFilter(logging.Filter):
    """Masks PII in a record's message, arguments and traceback; never drops a record.

    The message is formatted once and frozen (``args`` cleared) so that no handler can
    re-format the unmasked arguments.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: mask what we have
            message = f"{record.msg} {record.args}"
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True
