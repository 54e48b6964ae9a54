"""Finders for entities with a fixed shape, on top of the PII finders.

:func:`find_structured` reports e-mail addresses, phone numbers, payment cards (by their last
four digits only), IBANs and order / transaction / case references; :func:`find_values` is the
rule-based fallback for date, date-range, time and amount spans, normalised with
:mod:`worker.understanding.values`. :func:`find_times` finds what the tagger was never taught
(NLU++'s ``time_period`` is not among its labels): times of day ("this morning", "tonight",
the "evening" of "yesterday evening"), lengths of time ("for 8 hours", "the last 4 hours",
"half an hour") and named or relative clock times ("midday", "in 2 hours"); the extractor adds
them whichever path found the rest. :func:`identifier_number` tells a PIN, a flat or a street
number from a time, date or amount.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from worker.pii.finders import (
    card_spans,
    email_spans,
    iban_spans,
    overlaps,
    phone_spans,
)
from worker.understanding.values import (
    DATEPARSER_LOCK,
    parse_amount,
    parse_date,
    parse_date_range,
    parse_time,
    read_time,
)

__all__ = ["Match", "find_structured", "find_times", "find_values", "identifier_number"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    """An entity found in text: ``text == source[start:end]``; ``value`` is normalised."""

    type: str
    start: int
    end: int
    text: str
    value: Any



# "card ending in 1234", "last four digits 1234", "**** **** **** 1234"
_LAST4_PHRASE = re.compile(
    r"(?:(?:ending|ends|finishing|finishes)\s++(?:in|with)|last\s++(?:four|4)(?:\s++(?:digits|numbers))?"
    r"(?:\s++(?:of|on)\s++(?:my|the|your)\s++(?:card|account))?(?:\s++(?:are|is|being|were))?\s*+[:=-]?)"
    r"\s*+(\d{4})(?![\d.,]\d|\d)",
    re.IGNORECASE,
)
# "card ending 1234": with no "in" or "with", only right after the card or account is named.
_CARD_ENDING = re.compile(r"\b(?:card|account|acct)\s++(?:number\s++)?(?:ending|ends|finishing|finishes)\s++"
                          r"(\d{4})(?![\d.,]\d|\d)", re.IGNORECASE)
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
    for match in (*_LAST4_PHRASE.finditer(text), *_CARD_ENDING.finditer(text), *_MASKED_CARD.finditer(text)):
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
    rf"|{_NUMBER_WORD}(?:[\s-]++(?:and\s+)?{_NUMBER_WORD}){{0,7}}+\s+{_CURRENCY_WORD}\b)"
)
_PERIOD = r"(?:\s?(?:a\.m\.|p\.m\.|am|pm)(?![a-z])|\s+in\s+the\s+(?:morning|afternoon|evening)|\s+(?:at\s+)?night)?"
_TIME = (
    rf"(?:(?:half|quarter|\d{{1,2}})\s+(?:past|to)\s+\d{{1,2}}{_PERIOD}"
    rf"|(?:[01]?\d|2[0-3]):[0-5]\d(?![:.]\d){_PERIOD}"
    rf"|(?:1[0-2]|0?\d)(?:\.[0-5]\d)?\s?(?:a\.m\.|p\.m\.|am|pm)(?![a-z])"
    rf"|noon|midnight|midday|lunchtime)"
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
            if value is not None and not identifier_number(text, match.start(), match.end()):
                candidates.append(Match(kind, match.start(), match.end(), match.group(0), value))
    kept: list[Match] = []
    for match in sorted(candidates, key=lambda m: (-(m.end - m.start), m.start)):
        if not overlaps(match.start, match.end, kept):
            kept.append(match)
    kept += [m for m in _dateparser_dates(text, now=now) if not overlaps(m.start, m.end, kept)]
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


# Times of day: the part alone after a day ("yesterday *evening*", "Friday *morning*": the day is
# the date's), the whole phrase otherwise ("this morning", "tonight", "early afternoon").
# "last night" stays a date, and greetings ("good morning") are no times.
_PART_WORD = r"(?:(?:early|late|mid)[\s-]?)?(?:morning|afternoon|evening|night)"
_DAYTIME = re.compile(
    rf"\b(?:(?:today|tomorrow|tmrw|yesterday|{_WD})\s+(?P<after_day>{_PART_WORD})"
    rf"|(?P<whole>this\s+{_PART_WORD}|tonight|overnight|(?:early|late|mid)[\s-]?(?:morning|afternoon|evening))"
    rf"|(?:in|during)\s+the\s+(?P<in_the>{_PART_WORD})|at\s+(?P<at>night))\b",
    re.IGNORECASE,
)
_DUR_COUNT = (rf"(?:half\s+an?|a\s+half|(?:a\s+)?quarter\s+of\s+an|(?:a\s+)?couple\s+of|a\s+few|few|several"
              rf"|\d{{1,3}}(?:\.\d+)?|{_NUMBER_WORD}(?:[\s-]+(?:and\s+)?{_NUMBER_WORD}){{0,3}})(?:\s+and\s+a\s+half)?")
_DUR_UNIT = r"(?P<unit>hour|hr|minute|min|second|sec)(?P<plural>s)?"
# "for 8 hours", "the last 4 hours", "in 2 hours", "15 minutes ago"; "in the" is a window, not "in".
_DURATION = re.compile(
    rf"(?<![\w.,:£$€-])(?:in\s+(?!the\b))?"
    rf"(?:(?:last|past|previous|next|coming|following)\s+(?:(?P<dcount>{_DUR_COUNT})\s+)?"
    rf"|(?P<count>{_DUR_COUNT})\s*)(?:more\s+)?{_DUR_UNIT}(?:\s+and\s+a\s+half)?"
    rf"(?:\s+(?:ago|later|from\s+now|earlier))?\b",
    re.IGNORECASE,
)
_ONE = re.compile(r"(?:an?|one|1|half\s+an?|a\s+half|(?:a\s+)?quarter\s+of\s+an)", re.IGNORECASE)
# "£10 an hour", "twice a minute", "24 hours a day": rates, not lengths.
_RATE_BEFORE = re.compile(r"(?:\d|[£$€]|pounds?|dollars?|euros?|per|every|once|twice|times)\s*$", re.IGNORECASE)
_RATE_AFTER = re.compile(r"\s+(?:a|per|each|every)\s+(?:day|week|month|year)\b", re.IGNORECASE)
_CLOCK = re.compile(rf"(?<![\w.:,£$€]){_TIME}", re.IGNORECASE)


def _time_spans(text: str) -> list[tuple[int, int]]:
    """Candidate time spans: clock rules, lengths of time and times of day."""
    spans = [(m.start(), m.end()) for m in _CLOCK.finditer(text)]
    for match in _DURATION.finditer(text):
        count = match.group("count") or match.group("dcount")
        if not match.group("plural") and count is not None and not _ONE.fullmatch(count.strip()):
            continue  # "a 24 hour service", "a 5 minute walk": an adjective, not a length
        if count is None and match.group("unit").lower() in ("minute", "min", "second", "sec"):
            continue  # "at the last minute"
        one = bool(count) and _ONE.fullmatch(count.strip()) is not None
        if (one and _RATE_BEFORE.search(text, max(0, match.start() - 12), match.start())) or \
                _RATE_AFTER.match(text, match.end()):
            continue
        spans.append((match.start(), match.end()))
    for match in _DAYTIME.finditer(text):
        group = next(name for name in ("after_day", "whole", "in_the", "at") if match.group(name))
        spans.append(match.span(group))
    return spans


def find_times(text: str, *, now: datetime) -> list[Match]:
    """Times of day, lengths of time and clock times found by rule, none overlapping (the longest
    wins), each with its :func:`~worker.understanding.values.read_time` value."""
    if not text:
        return []
    candidates = []
    for start, end in _time_spans(text):
        value = read_time(text[start:end], now=now, before=text[max(0, start - 40):start])
        if value is not None and not identifier_number(text, start, end):
            candidates.append(Match("time", start, end, text[start:end], value))
    kept: list[Match] = []
    for match in sorted(candidates, key=lambda m: (-(m.end - m.start), m.start)):
        if not overlaps(match.start, match.end, kept):
            kept.append(match)
    return sorted(kept, key=lambda m: m.start)


_STREET = (r"(?:street|st|road|rd|avenue|ave|lane|ln|boulevard|blvd|highway|hwy|crescent|terrace|mews|"
           r"gardens|grove|parade)")
_STREET_NAMED = r"(?:Drive|Close|Way|Place|Court|Square|Row|Hill|Walk|Park|Green|Rise|View)"
# "PIN 1234", "my pin is 4321", "flat 5", "room 12", "number 7", "account 12345678".
_ID_BEFORE = re.compile(
    r"\b(?:pin|pin\s+(?:code|number|no\.?)|passcode|password|security\s+code|access\s+code|code|cvv|cvc|"
    r"otp|flat|apartment|apt|unit|house|room|suite|plot|building|block|floor|no\.|number|nr|"
    r"post\s?code|zip|account|acct|sort\s+code|card|ext|extension)\.?\s*(?:(?:is|was|number|no\.?|[#:=-])\s*)*$",
    re.IGNORECASE)
# "12 Oak Street", "22 high road", "5 Acacia Avenue", "10 Downing Street".
_STREET_AFTER = re.compile(rf"\s+(?:(?:[A-Z][\w'’-]*\s+){{1,3}}(?:(?i:{_STREET})|{_STREET_NAMED})"
                           rf"|(?:[a-z][\w'’-]*\s+)?(?i:{_STREET}))\b")
_STREET_INSIDE = re.compile(rf"\d[A-Za-z]?,?\s+(?:[A-Za-z][\w'’-]*\s+){{1,3}}(?:(?i:{_STREET})|{_STREET_NAMED})\b")
_BARE_NUMBER = re.compile(r"#?\d{1,8}[A-Za-z]?")


def identifier_number(text: str, start: int, end: int) -> bool:
    """``text[start:end]`` is a PIN, code, flat, room, house or street number, not a value: a bare
    number after such a word or before a street's name, or a span that runs into an address."""
    span = text[start:end]
    if _STREET_INSIDE.search(span):
        return True
    if not _BARE_NUMBER.fullmatch(span.strip()):
        return False
    return bool(_ID_BEFORE.search(text[max(0, start - 40):start]) or _STREET_AFTER.match(text, end))
