"""Finders for personal data with a fixed shape: e-mail addresses, phone numbers, payment cards
and IBANs.

The detection primitives (Luhn, mod-97, the e-mail and phone shapes) live here once, below every
stage that needs them: :mod:`worker.pii.redaction` masks what they find and
:mod:`worker.understanding.finders` reports them as entities.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Span",
    "card_spans",
    "email_spans",
    "iban_ok",
    "iban_spans",
    "luhn_ok",
    "overlaps",
    "phone_spans",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Span:
    """Where a piece of PII lies, and its normalised value (card digits, compact IBAN, E.164)."""

    start: int
    end: int
    value: str | None = None


EMAIL = re.compile(r"(?<![\w.+-])[\w.%+-]++@[^\W_][\w-]*(?:\.[\w-]+)*\.[^\W\d_]{2,}\b")

# An IBAN: country, two check digits, then 11-30 alphanumerics, optionally grouped by spaces or dashes.
# Greedy: the candidate may swallow a following word, so prefixes are checked longest first.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ -]{0,2}[A-Z0-9]){11,30}\b", re.IGNORECASE)

# A run of digit groups separated by up to three spaces, tabs, dashes or dots; card numbers are found
# inside it. Letters may touch it ("TX4111...", "...1111GBP"): a card number glued to a word is still one.
_DIGIT_RUN = re.compile(r"(?<!\d)(?<!\d[.,])\d++(?:[ \t\u00a0.-]{1,3}\d++)*+")
_DIGIT_GROUP = re.compile(r"\d+")

# Phone numbers: international (+CC ...), national trunk-prefixed (0...), or NANP 3-3-4.
_SEP = r"[ .-]?"
_PHONE = re.compile(
    rf"""
    (?<![\w+])(?<!\d[.,/:-])
    (?:
        (?:\+|00)\d{{1,3}}{_SEP}(?:\(0\){_SEP})?(?:\(\d{{1,4}}\){_SEP})?\d{{1,4}}(?:{_SEP}\d{{2,4}}){{1,5}}
      | \(0\d{{1,4}}\){_SEP}\d{{3,4}}{_SEP}\d{{3,4}}
      | 0\d{{2,4}}{_SEP}\d{{3,4}}{_SEP}\d{{3,4}}
      | (?P<nanp>\(\d{{3}}\){_SEP}\d{{3}}[ .-]\d{{4}}
      | \d{{3}}[ .-]\d{{3}}[ .-]\d{{4}})
    )
    (?![\w]|[.,/:-]\d)
    """,
    re.VERBOSE,
)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum that every payment-card number satisfies."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    """ISO 13616 mod-97 check: rotate the first four characters, map letters to 10..35."""
    text = candidate.replace(" ", "").upper()
    if not 15 <= len(text) <= 34 or not text[:2].isalpha() or not text[2:4].isdigit():
        return False
    if not text.isalnum() or not text.isascii():
        return False
    rotated = text[4:] + text[:4]
    return int("".join(str(int(char, 36)) for char in rotated)) % 97 == 1


def email_spans(text: str) -> list[Span]:
    """E-mail addresses; the value is the address as written."""
    return [Span(m.start(), m.end(), m.group(0)) for m in EMAIL.finditer(text)]


def iban_spans(text: str) -> list[Span]:
    """Mod-97-valid IBANs, grouped or compact; the value is the compact upper-case IBAN."""
    spans = []
    for match in _IBAN.finditer(text):
        candidate = match.group(0)
        # The greedy match may have swallowed a following word: try the longest prefix that
        # ends where a group ends.
        ends = [len(candidate)] + [i for i in range(len(candidate) - 1, 14, -1) if candidate[i] == " "]
        for end in ends:
            if iban_ok(candidate[:end]):
                compact = candidate[:end].replace(" ", "").upper()
                spans.append(Span(match.start(), match.start() + end, compact))
                break
    return spans


def _card_at(groups: list[re.Match[str]], i: int) -> int:
    """End index (exclusive) of the longest Luhn-valid 13-19 digit window from group i, or i."""
    best, digits = i, ""
    for j in range(i, len(groups)):
        digits += groups[j].group(0)
        if len(digits) > 19:
            break
        if len(digits) >= 13 and luhn_ok(digits):
            best = j + 1
    return best


def card_spans(text: str) -> list[Span]:
    """Luhn-valid 13-19 digit card numbers (spaces or dashes allowed); the value is the digits."""
    spans = []
    for run in _DIGIT_RUN.finditer(text):
        groups = list(_DIGIT_GROUP.finditer(run.group(0)))
        i = 0
        while i < len(groups):
            end = _card_at(groups, i)
            if end == i:
                i += 1
                continue
            digits = "".join(g.group(0) for g in groups[i:end])
            spans.append(Span(run.start() + groups[i].start(), run.start() + groups[end - 1].end(), digits))
            i = end
    return spans


def _e164(raw: str, regions: Iterable[str]) -> str | None:
    """The number in E.164 form, read in the first region where it is valid."""
    import phonenumbers

    for region in regions:
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def phone_spans(text: str, *, region: str = "GB", valid_only: bool = False) -> list[Span]:
    """Phone numbers: libphonenumber's valid matches plus the usual written shapes.

    Masking wants every phone-shaped number (``valid_only=False``, value None where
    libphonenumber does not know it); extraction wants only numbers it can give in E.164.
    """
    import phonenumbers

    spans: list[Span] = []
    try:
        for found in phonenumbers.PhoneNumberMatcher(text, region):
            spans.append(Span(found.start, found.end, phonenumbers.format_number(
                found.number, phonenumbers.PhoneNumberFormat.E164)))
    except Exception:  # libphonenumber must never break masking or extraction
        log.debug("phone matcher failed", exc_info=True)
    for match in _PHONE.finditer(text):
        candidate = match.group(0)
        digits = sum(char.isdigit() for char in candidate)
        plausible = 8 <= digits <= 15 if candidate.startswith("+") else 10 <= digits <= 11
        if not plausible or overlaps(match.start(), match.end(), spans):
            continue
        regions = ["US", region] if match.group("nanp") else [region, "US"]
        value = _e164(candidate, regions)
        if value or not valid_only:
            spans.append(Span(match.start(), match.end(), value))
    return sorted(spans, key=lambda span: span.start)


def overlaps(start: int, end: int, spans: Iterable[Any]) -> bool:
    """Whether ``[start, end)`` overlaps any of ``spans`` (anything with ``start`` and ``end``)."""
    return any(start < span.end and span.start < end for span in spans)
