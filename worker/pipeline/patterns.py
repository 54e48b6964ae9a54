"""Finders for the entities that have a fixed shape, shared by extraction and PII masking.

:func:`find_structured` finds e-mail addresses, phone numbers, payment cards (reported only by
their last four digits), IBANs and order / transaction / case references; :func:`find_values` is
the rule-based fallback for date, date-range, time and amount spans, normalised with
:mod:`worker.pipeline.values`. The detection primitives (Luhn, mod-97, the e-mail and phone
shapes) live here once; :mod:`worker.redact` masks what they find.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from worker.pipeline.values import DATEPARSER_LOCK, parse_amount, parse_date, parse_date_range, parse_time

__all__ = [
    "Match",
    "Span",
    "card_spans",
    "email_spans",
    "find_structured",
    "find_values",
    "iban_ok",
    "iban_spans",
    "luhn_ok",
    "phone_spans",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    """An entity found in text: ``text == source[start:end]``; ``value`` is normalised."""

    type: str
    start: int
    end: int
    text: str
    value: Any


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
        if not plausible or _overlaps(match.start(), match.end(), spans):
            continue
        regions = ["US", region] if match.group("nanp") else [region, "US"]
        value = _e164(candidate, regions)
        if value or not valid_only:
            spans.append(Span(match.start(), match.end(), value))
    return sorted(spans, key=lambda span: span.start)


def _overlaps(start: int, end: int, spans: Iterable[Span | Match]) -> bool:
    return any(start < span.end and span.start < end for span in spans)


# "card ending in 1234", "last four digits 1234", "**** **** **** 1234"
_LAST4_PHRASE = re.compile(
    r"(?:(?:ending|ends|finishing|finishes)\s++(?:in|with)|last\s++(?:four|4)(?:\s++(?:digits|numbers))?"
    r"(?:\s++(?:of|on)\s++(?:my|the|your)\s++(?:card|account))?(?:\s++(?:are|is|being|were))?\s*+[:=-]?)"
    r"\s*+(\d{4})(?![\d.,]\d|\d)",
    re.IGNORECASE,
)
_MASKED_CARD = re.compile(r"(?<![*xX•])(?:[*xX•]{4}[ -]?){1,3}(\d{4})\b|(?<!\*)\*{2,}+(\d{4})\b")

_REF_KEYWORDS = (r"order|transaction|txn|trans|case|ticket|reference|ref|invoice|booking|"
                 r"confirmation|tracking|claim|complaint|receipt|reservation|payment|transfer")
_REFERENCE = re.compile(
    rf"\b(?:{_REF_KEYWORDS})\b\.?"
    r"(?:\s*+(?:number|no\.?|num|nr|id|code|ref|reference|#))?"
    r"(?:\s*+(?:is|was|=)\b)?\s*+[:#]?\s*+#?\s*+"
    r"(?P<id>[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){2,39})(?![\w-]|[.,/:]\d)",
    re.IGNORECASE,
)
_PREFIXED_ID = re.compile(r"(?<![\w-])[A-Z]{2,6}-(?=[A-Z0-9-]*\d)[A-Z0-9]+(?:-[A-Z0-9]+)*(?![\w-])")
_DATE_LIKE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{1,2}(?:st|nd|rd|th)", re.IGNORECASE)


def _reference_id(candidate: str, *, hashed: bool) -> bool:
    """An id has a digit, is long enough not to be a count, and is no date."""
    if not any(char.isdigit() for char in candidate) or _DATE_LIKE.fullmatch(candidate):
        return False
    if candidate.isdigit():
        return len(candidate) >= (3 if hashed else 5)
    return len(candidate) >= 4


def _reference_matches(text: str) -> list[Match]:
    found = []
    for match in _REFERENCE.finditer(text):
        ident = match.group("id")
        hashed = "#" in text[match.start():match.start("id")]
        if _reference_id(ident, hashed=hashed):
            found.append(Match("reference", match.start("id"), match.end("id"), ident, ident))
    for match in _PREFIXED_ID.finditer(text):
        found.append(Match("reference", match.start(), match.end(), match.group(0), match.group(0)))
    return found


def _card_matches(text: str) -> list[tuple[Match, int, int]]:
    """card_last4 matches with the whole number's bounds, so that nothing else claims them."""
    found = []
    for span in card_spans(text):
        digits_seen, start = 0, span.end
        while digits_seen < 4:  # walk back over the last four digits, skipping separators
            start -= 1
            digits_seen += text[start].isdigit()
        last4 = span.value[-4:] if span.value else ""
        found.append((Match("card_last4", start, span.end, text[start:span.end], last4), span.start, span.end))
    for match in (*_LAST4_PHRASE.finditer(text), *_MASKED_CARD.finditer(text)):
        group = next(index for index in range(1, (match.lastindex or 1) + 1) if match.group(index))
        digits = match.group(group)
        found.append((Match("card_last4", match.start(group), match.end(group), digits, digits),
                      match.start(group), match.end(group)))
    return found


def find_structured(text: str, *, phone_region: str = "GB") -> list[Match]:
    """E-mails, phones (E.164), card last fours, IBANs and references, none overlapping.

    Earlier kinds win a clash: e-mail, IBAN, card, phone, then reference, so a reference is
    never read inside an IBAN, a card or a phone number.
    """
    if not text:
        return []
    claims: list[tuple[Match, int, int]] = []
    claims += [(Match("email", s.start, s.end, text[s.start:s.end], s.value), s.start, s.end)
               for s in email_spans(text)]
    claims += [(Match("iban", s.start, s.end, text[s.start:s.end], s.value), s.start, s.end)
               for s in iban_spans(text)]
    claims += _card_matches(text)
    claims += [(Match("phone", s.start, s.end, text[s.start:s.end], s.value), s.start, s.end)
               for s in phone_spans(text, region=phone_region, valid_only=True)]
    claims += [(m, m.start, m.end) for m in _reference_matches(text)]
    kept: list[tuple[Match, int, int]] = []
    for match, start, end in claims:  # already in priority order
        if not any(start < other_end and other_start < end for _, other_start, other_end in kept):
            kept.append((match, start, end))
    return sorted((match for match, _, _ in kept), key=lambda m: m.start)


_WD = r"(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?"
_MON = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
        r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_ORD = r"(?:[0-3]?\d(?:st|nd|rd|th)?)"
_COUNT = r"(?:\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a\s+couple\s+of|a\s+few|few|several)"
_UNIT = r"(?:days?|nights?|weeks?|fortnights?|months?|years?)"
_DATE_ATOM = (
    rf"(?:(?:the\s+)?day\s+(?:after|before)\s+(?:tomorrow|yesterday)|today|tonight|tomorrow|yesterday|last\s+night"
    rf"|(?:in\s+)?{_COUNT}\s+{_UNIT}\s+ago|in\s+{_COUNT}\s+{_UNIT}(?:\s+time)?"
    rf"|(?:(?:last|next|this|coming|previous)\s+)?{_WD}(?:\s+(?:the\s+)?{_ORD}(?:\s+(?:of\s+)?{_MON})?(?:,?\s+\d{{4}})?"
    rf"|\s+{_MON}\s+{_ORD}(?:,?\s+\d{{4}})?|\s+(?:next|last)\s+week|\s+coming)?"
    rf"|(?:the\s+)?{_ORD}\s+(?:of\s+)?{_MON}(?:,?\s+\d{{4}})?"
    rf"|{_MON}\s+(?:the\s+)?{_ORD}(?:,?\s+\d{{4}})?"
    rf"|\d{{4}}-\d{{1,2}}-\d{{1,2}}|\d{{1,2}}[/.]\d{{1,2}}[/.](?:\d{{4}}|\d{{2}})"
    rf"|the\s+[0-3]?\d(?:st|nd|rd|th))"
)
_RANGE = (
    rf"(?:(?:this|current|next|last|previous|past|coming)\s+(?:week|month|quarter|year)"
    rf"|(?:the\s+)?(?:last|past|next|coming)\s+{_COUNT}\s+{_UNIT}"
    rf"|(?:from|between)\s+{_DATE_ATOM}\s+(?:to|till|until|and)\s+{_DATE_ATOM}"
    rf"|(?:from\s+)?[0-3]?\d(?:st|nd|rd|th)?\s*(?:-|to|till|until)\s*{_DATE_ATOM})"
)
_AMOUNT_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?"
_CURRENCY_WORD = (r"(?:pounds?(?:\s+sterling)?|quid|pence|dollars?|bucks|euros?|cents?|yen|francs?|"
                  r"rupees?|GBP|USD|EUR|CHF|CAD|AUD|JPY|INR)")
_NUMBER_WORD = (r"(?:an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
                r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
                r"eighty|ninety|hundred|thousand|million)")
_AMOUNT = (
    rf"(?:(?:[£$€¥]|US\$|GBP|USD|EUR)\s?(?:{_AMOUNT_NUM})(?:\s?(?:k|m|bn|million|thousand)\b)?"
    rf"|(?:{_AMOUNT_NUM})\s?(?:k|m|bn|million|thousand)?\s?(?:[£$€¥]|{_CURRENCY_WORD}\b)"
    rf"|{_NUMBER_WORD}(?:[\s-]++(?:and\s+)?{_NUMBER_WORD})*+\s+{_CURRENCY_WORD}\b)"
)
_PERIOD = r"(?:\s?(?:a\.m\.|p\.m\.|am|pm)(?![a-z])|\s+in\s+the\s+(?:morning|afternoon|evening)|\s+(?:at\s+)?night)?"
_TIME = (
    rf"(?:(?:half|quarter|\d{{1,2}})\s+(?:past|to)\s+\d{{1,2}}{_PERIOD}"
    rf"|(?:[01]?\d|2[0-3]):[0-5]\d(?![:.]\d){_PERIOD}"
    rf"|(?:1[0-2]|0?\d)(?:\.[0-5]\d)?\s?(?:a\.m\.|p\.m\.|am|pm)(?![a-z])"
    rf"|noon|midnight|midday)"
)
_VALUE_FINDERS: list[tuple[str, re.Pattern[str]]] = [
    ("amount", re.compile(rf"(?<![\w.,]){_AMOUNT}", re.IGNORECASE)),
    ("date_range", re.compile(rf"\b{_RANGE}\b", re.IGNORECASE)),
    ("time", re.compile(rf"(?<![\w.:,£$€]){_TIME}", re.IGNORECASE)),
    ("date", re.compile(rf"\b{_DATE_ATOM}\b", re.IGNORECASE)),
]
_DATEPARSER_HINT = re.compile(rf"\b(?:{_MON}|{_WD}|ago|tomorrow|yesterday|today)\b", re.IGNORECASE)


def _normaliser(kind: str, now: datetime) -> Callable[[str], Any]:
    return {
        "amount": parse_amount,
        "date_range": lambda text: parse_date_range(text, now=now),
        "time": lambda text: parse_time(text, now=now),
        "date": lambda text: parse_date(text, now=now),
    }[kind]


def find_values(text: str, *, now: datetime) -> list[Match]:
    """Date, date-range, time and amount spans found by rule, with values from values.py.

    The tagger is the primary finder; this fallback favours precision. Longer spans win a
    clash ("from 3 to 6 January" over "6 January"); dateparser's search adds only dates with a
    month, weekday or relative word that no rule found.
    """
    if not text:
        return []
    candidates: list[Match] = []
    for order, (kind, pattern) in enumerate(_VALUE_FINDERS):
        normalise = _normaliser(kind, now)
        for match in pattern.finditer(text):
            value = normalise(match.group(0))
            if value is not None:
                candidates.append(Match(kind, match.start(), match.end(), match.group(0), value))
    kept: list[Match] = []
    for match in sorted(candidates, key=lambda m: (-(m.end - m.start), m.start)):
        if not _overlaps(match.start, match.end, kept):
            kept.append(match)
    kept += [m for m in _dateparser_dates(text, now=now) if not _overlaps(m.start, m.end, kept)]
    return sorted(kept, key=lambda m: m.start)


MAX_SEARCH_CHARS = 1_000


def _dateparser_dates(text: str, *, now: datetime) -> list[Match]:
    """dateparser.search's dates, kept only where a month, weekday or relative word shows.

    Its search grows faster than the text (seconds on a few thousand characters of digits), so
    longer texts rely on the rules alone."""
    if len(text) > MAX_SEARCH_CHARS:
        return []
    try:
        from dateparser.search import search_dates

        with DATEPARSER_LOCK:
            found = search_dates(text, languages=["en"], settings={
                "RELATIVE_BASE": now.replace(tzinfo=None), "PREFER_DATES_FROM": "future",
                "DATE_ORDER": "DMY", "RETURN_AS_TIMEZONE_AWARE": False}) or []
    except Exception:  # the library raises on some odd inputs
        log.debug("dateparser search failed", exc_info=True)
        return []
    matches, cursor = [], 0
    for snippet, _ in found:
        start = text.find(snippet, cursor)
        if start < 0:
            continue
        cursor = start + len(snippet)
        stripped = snippet.strip()
        if not _DATEPARSER_HINT.search(stripped) or re.fullmatch(r"(?i)may|march|sun|sat|wed", stripped):
            continue
        start += snippet.index(stripped)
        value = parse_date(stripped, now=now)
        if value is not None:
            matches.append(Match("date", start, start + len(stripped), stripped, value))
    return matches
