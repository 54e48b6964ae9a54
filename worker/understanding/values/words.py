"""Number words, counts, and the calendar tables and arithmetic every value parser shares.

One place for "a couple of", "twenty-fifth", month and weekday names and a month's last day, so
that dates, periods, times and amounts read them alike.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

_WEEKDAYS = {
    name: index
    for index, names in enumerate(
        [("monday", "mon"), ("tuesday", "tue", "tues"), ("wednesday", "wed", "weds"),
         ("thursday", "thu", "thur", "thurs"), ("friday", "fri"), ("saturday", "sat"),
         ("sunday", "sun")]
    )
    for name in names
}
_MONTHS = {
    name: index + 1
    for index, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
         ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
         ("october", "oct"), ("november", "nov"), ("december", "dec")]
    )
    for name in names
}
_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
         "nineteen"]
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1_000, "grand": 1_000, "million": 1_000_000,
           "billion": 1_000_000_000}
_VAGUE_COUNTS = {"a": 1, "an": 1, "one": 1, "a couple of": 2, "a couple": 2, "couple of": 2,
                 "couple": 2, "a few": 3, "few": 3, "several": 3, "a pair of": 2}
_ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}

_WEEKDAY_RE = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DAY_RE = r"(\d{1,2})(?:st|nd|rd|th)?"
_YEAR_RE = r"((?:19|20)\d\d|'\d\d)"
_UNIT_RE = r"(day|night|week|fortnight|month|year)s?"
_COUNT_RE = r"(\d+|[a-z]+(?:[ -][a-z]+)?)"


def _number_words(words: list[str]) -> float | None:
    """English number words ("two hundred and fifty") as a number; None if any word is not one."""
    total, current, seen = 0.0, 0.0, False
    for word in words:
        if word == "and" and seen:
            continue
        if word in ("a", "an") and not seen:
            current, seen = 1, True
        elif word in _ONES:
            current += _ONES.index(word)
            seen = True
        elif word in _TENS:
            current += _TENS[word]
            seen = True
        elif word in _SCALES and seen:
            scale = _SCALES[word]
            if scale == 100:
                current *= 100
            else:
                total, current = total + current * scale, 0
        elif re.fullmatch(r"\d+(?:\.\d+)?", word):
            current += float(word)
            seen = True
        else:
            return None
    return total + current if seen else None


def _count(text: str) -> int | None:
    """A small count written in digits, words or vaguely ("a couple of")."""
    text = text.strip()
    if text in _VAGUE_COUNTS:
        return _VAGUE_COUNTS[text]
    value = _number_words(re.split(r"[ -]+", text))
    return int(value) if value is not None and value == int(value) else None


def _normalise(text: str) -> str:
    """Lower-case, unify apostrophes, drop punctuation and words that carry no date meaning."""
    text = text.lower().replace("’", "'").replace("`", "'")
    text = re.sub(r"(?<=\d)(?:st|nd|rd|th)\b", "", text)
    text = re.sub(r"[,;!?()\"]|\.(?!\d)", " ", text)
    text = re.sub(r"\b(?:the|of|on|at|around|about|by|approximately|approx)\b", " ", text)
    return " ".join(text.split())


def _day(token: str) -> int | None:
    """A day of the month, as digits or an ordinal word."""
    if token.isdigit():
        return int(token) if 1 <= int(token) <= 31 else None
    if token in _ORDINAL_WORDS:
        return _ORDINAL_WORDS[token]
    parts = re.split(r"[ -]", token)
    if len(parts) == 2 and parts[0] in _TENS and parts[1] in _ORDINAL_WORDS:
        value = _TENS[parts[0]] + _ORDINAL_WORDS[parts[1]]
        return value if value <= 31 else None
    return None


def _year(token: str | None) -> int | None:
    if not token:
        return None
    return 2000 + int(token[1:]) if token.startswith("'") else int(token)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clipped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())
