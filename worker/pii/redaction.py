"""PII masking applied before anything is persisted or logged.

Masks payment-card numbers (Luhn-checked, last four kept), IBANs (mod-97-checked, last four
kept), e-mail addresses and phone numbers. Checksums keep order numbers, amounts and dates
intact; a masking is idempotent, so redacting twice is harmless. Detection (Luhn, mod-97, the
e-mail and phone shapes) lives in :mod:`worker.pii.finders`, shared with entity extraction,
so every card, IBAN or phone the extractor reports is masked too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from worker.contract import Ticket, TriageResult
from worker.pii.finders import Span, card_spans, email_spans, iban_spans, phone_spans

__all__ = [
    "RedactingFilter",
    "mask_numbers_in_place",
    "redact_result",
    "redact_text",
    "redact_ticket",
]


def _mask(text: str, spans: list[Span], render: Callable[[Span], str]) -> str:
    """Replace each span (sorted, not overlapping) by its rendering."""
    pieces, cursor = [], 0
    for span in spans:
        if span.start < cursor:
            continue
        pieces += [text[cursor:span.start], render(span)]
        cursor = span.end
    return "".join(pieces) + text[cursor:]


def _iban_mask(span: Span) -> str:
    compact = span.value or ""
    return f"[iban {compact[:2]}****{compact[-4:]}]"


def redact_text(text: str) -> str:
    """Mask e-mail addresses, IBANs, card numbers and phone numbers in free text."""
    if not text:
        return text
    text = _mask(text, email_spans(text), lambda span: "[email]")
    text = _mask(text, iban_spans(text), _iban_mask)
    text = _mask(text, card_spans(text), lambda span: f"[card ****{(span.value or '')[-4:]}]")
    return _mask(text, phone_spans(text), lambda span: "[phone]")


def mask_numbers_in_place(text: str) -> str:
    """Card numbers and IBANs hidden character for character ("**** **** **** 6467"): the text keeps
    its length, so offsets into it still hold. For the text a result shows as read by the models."""
    chars = list(text)
    # An IBAN keeps its country code, as its redacted form does.
    hidden = [(span, 0) for span in card_spans(text)] + [(span, 2) for span in iban_spans(text)]
    for span, kept_prefix in hidden:
        for index in range(span.start + kept_prefix, span.end - 4):
            if chars[index].isalnum():
                chars[index] = "*"
    return "".join(chars)


def _redact_value(value: Any) -> Any:
    """Mask every string inside a JSON-like value (entity values, transcripts)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_value(item) for item in value)
    return value


def redact_ticket(ticket: Ticket) -> Ticket:
    """A copy with subject, body and every string inside metadata masked."""
    return ticket.model_copy(
        update={
            "subject": redact_text(ticket.subject),
            "body": redact_text(ticket.body),
            "metadata": _redact_value(ticket.metadata),
        }
    )


def redact_result(result: TriageResult) -> TriageResult:
    """A copy with the cleaned text, reply text, entities, transcripts and error messages masked.

    Entity offsets still point into the original text, which is never stored.
    """
    update: dict[str, Any] = {
        "entities": [
            entity.model_copy(
                update={"text": redact_text(entity.text), "value": _redact_value(entity.value)}
            )
            for entity in result.entities
        ],
        "transcripts": [_redact_value(item) for item in result.transcripts],
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
