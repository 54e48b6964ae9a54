"""Finders for personal data with a fixed shape: e-mail addresses, phone numbers, payment cards
and IBANs.

The detection primitives (Luhn, mod-97, the e-mail and phone shapes) live here once, below every
stage that needs them: :mod:`worker.pii.redaction` masks what they find and
:mod:`worker.understanding.finders` reports them as entities. Cards are read by
:mod:`worker.pii.cards` (any separator, next to other digits), e-mail addresses by
:mod:`worker.pii.emails` (any legal local part, spaced or spelled out), both over the characters
of :mod:`worker.pii.characters`; this module is their one front door.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from worker.pii.cards import card_covers, card_windows, luhn_ok
from worker.pii.characters import DASHES, INVISIBLE, regex_class
from worker.pii.emails import PLAIN, email_matches

__all__ = [
    "Span",
    "card_cover_spans",
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


#: The plain e-mail shape (see :mod:`worker.pii.emails` for the spaced and spelled-out ones).
EMAIL = PLAIN

# Between the characters of an IBAN: up to three spaces, dashes, dots or invisible characters
# (one line break at most, as a card's gaps; see worker.pii.cards).
_INVISIBLE = f"[{regex_class(INVISIBLE)}]*+"
_IBAN_GAP = (rf"{_INVISIBLE}(?:(?:[^\S\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]|[.{regex_class(DASHES)}]|\r?\n)"
             rf"{_INVISIBLE}){{0,3}}+")
# An IBAN: country and two check digits written together ("GB82", never "GB 82": "on 2024-..." is
# no IBAN), then 11-30 alphanumerics; the candidate may run on into the next word or number, so
# the country's registered length (or, for a country not listed and written in capitals, the
# longest prefix that ends where a group ends) says where it stops, never inside a number.
_IBAN = re.compile(rf"(?<![A-Za-z0-9])[A-Za-z]{{2}}{_INVISIBLE}\d{_INVISIBLE}\d(?:{_IBAN_GAP}(?:[A-Za-z]|\d)){{11,30}}+")
_ALNUM = re.compile(r"[A-Za-z0-9]|\d")

#: IBAN lengths by country (SWIFT's IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    code: int(length) for code, length in (item.split(":") for item in """
    AD:24 AE:23 AL:28 AT:20 AZ:28 BA:20 BE:16 BG:22 BH:22 BI:27 BR:29 BY:28 CH:21 CR:22 CY:28 CZ:24
    DE:22 DJ:27 DK:18 DO:28 EE:20 EG:29 ES:24 FI:18 FK:18 FO:18 FR:27 GB:22 GE:22 GI:23 GL:18 GR:27
    GT:28 HR:21 HU:28 IE:22 IL:23 IQ:23 IS:26 IT:27 JO:30 KW:30 KZ:20 LB:28 LC:32 LI:21 LT:20 LU:20
    LV:21 LY:25 MC:27 MD:24 ME:22 MK:19 MN:20 MR:27 MT:31 MU:30 NI:28 NL:18 NO:15 OM:23 PK:24 PL:28
    PS:29 PT:25 QA:29 RO:24 RS:22 RU:33 SA:24 SC:31 SD:18 SE:24 SI:19 SK:24 SM:27 SO:23 ST:25 SV:28
    TL:23 TN:24 TR:26 UA:29 VA:22 VG:24 XK:20 YE:30""".split())
}

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


def _compact(candidate: str) -> str:
    """An IBAN's letters and digits, upper case and ASCII, without its separators."""
    return "".join(char.upper() if char.isascii() else str(unicodedata.decimal(char))
                   for char in candidate if char.isalnum() and (char.isascii() or char.isdecimal()))


def iban_ok(candidate: str) -> bool:
    """ISO 13616 mod-97 check: rotate the first four characters, map letters to 10..35.

    Separators (spaces, dashes, dots, invisible characters) and case do not matter."""
    for char in candidate:
        if char.isalnum():
            if not (char.isascii() or char.isdecimal()):
                return False
        elif not (char.isspace() or char in DASHES or char in INVISIBLE or char == "."):
            return False
    text = _compact(candidate)
    if not 15 <= len(text) <= 34 or not text[:2].isalpha() or not text[2:4].isdigit():
        return False
    rotated = text[4:] + text[:4]
    return int("".join(str(int(char, 36)) for char in rotated)) % 97 == 1


def email_spans(text: str) -> list[Span]:
    """E-mail addresses, plain, quoted, spaced or spelled out ("jane(at)bank(dot)com"); the value
    is the address as it would be typed (the plain ones as written)."""
    return [Span(start, end, address) for start, end, address in email_matches(text)]


def _iban_at(text: str, match: re.Match[str]) -> Span | None:
    """The IBAN a candidate starts with: the country's registered length, else (a country not
    listed, in capitals) the longest prefix that ends where a group ends; never one that ends
    inside a number, which would leave the rest of that number, a card's maybe, unmasked."""
    candidate = match.group(0)
    chars = list(_ALNUM.finditer(candidate))
    ends = []
    length = IBAN_LENGTHS.get(candidate[:2].upper())
    if length is not None and len(chars) >= length:
        ends.append(length)
    if length is None and candidate[:2].isupper():
        ends += [count for count in range(min(len(chars), 34), 14, -1)
                 if count == len(chars) or chars[count].start() > chars[count - 1].end()]
    for count in ends:
        end = match.start() + chars[count - 1].end()
        if end < len(text) and text[end].isdecimal():
            continue
        if iban_ok(candidate[:chars[count - 1].end()]):
            return Span(match.start(), end, _compact(candidate[:chars[count - 1].end()]))
    return None


def iban_spans(text: str) -> list[Span]:
    """Mod-97-valid IBANs, grouped (spaces, dashes, dots), compact or lower case; the value is
    the compact upper-case IBAN."""
    spans, position = [], 0
    while (match := _IBAN.search(text, position)) is not None:
        span = _iban_at(text, match)
        if span is None:
            position = match.start() + 1
            continue
        spans.append(span)
        position = span.end
    return spans


def card_spans(text: str) -> list[Span]:
    """Luhn-valid 13-19 digit card numbers, one per number (see :mod:`worker.pii.cards` for the
    separators read); the value is the digits, in ASCII."""
    return [Span(w.start, w.end, w.digits) for w in card_windows(text, strict=True)]


def card_cover_spans(text: str) -> list[Span]:
    """What masking hides: every Luhn-valid window, merged (:func:`worker.pii.cards.card_covers`);
    the value is the digits of the most card-like window inside."""
    return [Span(c.start, c.end, c.digits) for c in card_covers(text)]


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
