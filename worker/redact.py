"""PII masking applied before anything is persisted or logged.

Masks payment-card numbers (Luhn-checked, last four kept), IBANs (mod-97-checked, last four
kept), e-mail addresses and phone numbers. Checksums keep order numbers, amounts and dates
intact; a masking is idempotent, so redacting twice is harmless.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from worker.contract import Ticket, TriageResult

__all__ = [
    "RedactingFilter",
    "redact_result",
    "redact_text",
    "redact_ticket",
]

_EMAIL = re.compile(r"(?<![\w.+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")

# An IBAN: country, two check digits, then 11-30 alphanumerics, optionally grouped by spaces.
# Greedy: the candidate may swallow a following word, so prefixes are checked longest first.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b", re.IGNORECASE)

# A run of digits separated by single spaces or dashes; card numbers are found inside it.
_DIGIT_RUN = re.compile(r"(?<!\w)(?<!\d[.,])\d+(?:[ -]\d+)*(?![\w]|[.,]\d)")
_DIGIT_GROUP = re.compile(r"\d+")

# Phone numbers: international (+CC ...), national trunk-prefixed (0...), or NANP 3-3-4.
_SEP = r"[ .-]?"
_PHONE = re.compile(
    rf"""
    (?<![\w+])(?<!\d[.,/:-])
    (?:
        \+\d{{1,3}}{_SEP}(?:\(0\){_SEP})?(?:\(\d{{1,4}}\){_SEP})?\d{{1,4}}(?:{_SEP}\d{{2,4}}){{1,5}}
      | \(0\d{{1,4}}\){_SEP}\d{{3,4}}{_SEP}\d{{3,4}}
      | 0\d{{2,4}}{_SEP}\d{{3,4}}{_SEP}\d{{3,4}}
      | \(\d{{3}}\){_SEP}\d{{3}}[ .-]\d{{4}}
      | \d{{3}}[ .-]\d{{3}}[ .-]\d{{4}}
    )
    (?![\w]|[.,/:-]\d)
    """,
    re.VERBOSE,
)


def _luhn_ok(digits: str) -> bool:
    """The Luhn checksum that every payment-card number satisfies."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _iban_ok(candidate: str) -> bool:
    """ISO 13616 mod-97 check: rotate the first four characters, map letters to 10..35."""
    text = candidate.replace(" ", "").upper()
    if not 15 <= len(text) <= 34 or not text[:2].isalpha() or not text[2:4].isdigit():
        return False
    rotated = text[4:] + text[:4]
    return int("".join(str(int(char, 36)) for char in rotated)) % 97 == 1


def _mask_ibans(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        candidate = match.group(0)
        # The greedy match may have swallowed a following word: try the longest prefix that
        # ends where a group ends, and keep the rest as it was.
        ends = [len(candidate)]
        ends += [i for i in range(len(candidate) - 1, 14, -1) if candidate[i] == " "]
        for end in ends:
            if _iban_ok(candidate[:end]):
                compact = candidate[:end].replace(" ", "").upper()
                return f"[iban {compact[:2]}****{compact[-4:]}]" + candidate[end:]
        return candidate

    return _IBAN.sub(replace, text)


def _card_at(groups: list[re.Match[str]], i: int) -> int:
    """End index (exclusive) of the longest Luhn-valid 13-19 digit window from group i, or i."""
    best, digits = i, ""
    for j in range(i, len(groups)):
        digits += groups[j].group(0)
        if len(digits) > 19:
            break
        if len(digits) >= 13 and _luhn_ok(digits):
            best = j + 1
    return best


def _mask_cards(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        run = match.group(0)
        groups = list(_DIGIT_GROUP.finditer(run))
        pieces: list[str] = []
        cursor = i = 0
        while i < len(groups):
            end = _card_at(groups, i)
            if end == i:
                i += 1
                continue
            digits = "".join(g.group(0) for g in groups[i:end])
            pieces.append(run[cursor : groups[i].start()] + f"[card ****{digits[-4:]}]")
            cursor, i = groups[end - 1].end(), end
        return "".join(pieces) + run[cursor:]

    return _DIGIT_RUN.sub(replace, text)


def _mask_phones(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        candidate = match.group(0)
        digits = sum(char.isdigit() for char in candidate)
        if candidate.startswith("+"):
            return "[phone]" if 8 <= digits <= 15 else candidate
        return "[phone]" if 10 <= digits <= 11 else candidate

    return _PHONE.sub(replace, text)


def redact_text(text: str) -> str:
    """Mask e-mail addresses, IBANs, card numbers and phone numbers in free text."""
    if not text:
        return text
    text = _EMAIL.sub("[email]", text)
    text = _mask_ibans(text)
    text = _mask_cards(text)
    return _mask_phones(text)


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
    """A copy with reply text, entities, transcripts and error messages masked.

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
    if result.reply is not None:
        update["reply"] = result.reply.model_copy(update={"text": redact_text(result.reply.text)})
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
