"""Normalised values for the date, date-range, time and amount spans found in ticket text.

A hand-written grammar covers the phrasings customers actually use ("the 3rd", "Tuesday 2nd",
"25 to 7 p.m.", "80.24 pounds", "fifty dollars"); ``dateparser`` handles what the grammar does not.
The conventions follow NLU++: relative expressions resolve against ``now`` (the ticket's
``created_at``), a bare weekday, day or month means the next one to come, "next Friday" is the
Friday of next week, "last Monday" the most recent Monday, and a period's end ("to May") is its
last day. Nothing here raises on odd input: an unreadable span gives ``None``.
"""

from __future__ import annotations

import calendar
import logging
import re
import threading
from datetime import date, datetime, timedelta
from typing import Any

__all__ = ["parse_amount", "parse_date", "parse_date_range", "parse_time"]

log = logging.getLogger(__name__)
#: dateparser keeps shared caches that are not thread-safe (scrapinghub/dateparser#441).
DATEPARSER_LOCK = threading.Lock()

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
# Fixed-date holidays as (month, day).
_HOLIDAYS = {
    "new year's eve": (12, 31), "new years eve": (12, 31), "new year eve": (12, 31),
    "new year's day": (1, 1), "new years day": (1, 1), "new year": (1, 1),
    "christmas eve": (12, 24), "christmas day": (12, 25), "christmas": (12, 25), "xmas": (12, 25),
    "boxing day": (12, 26), "halloween": (10, 31), "valentine's day": (2, 14),
    "valentines day": (2, 14), "independence day": (7, 4), "st patrick's day": (3, 17),
    "st patricks day": (3, 17),
}
# Seasons as ((month, day), (month, day)); NLU++'s summer runs to 24 September.
_SEASONS = {
    "spring": ((3, 20), (6, 20)), "summer": ((6, 21), (9, 24)), "autumn": ((9, 25), (12, 20)),
    "fall": ((9, 25), (12, 20)), "winter": ((12, 21), (3, 19)),
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


def _resolve_month_day(month: int, day: int | None, *, today: date, weekday: int | None,
                       prefer: str) -> date | None:
    """The year for a month (and day) with no year: this year unless the month is already past.

    With a weekday ("Tuesday March 3") the first coming year where the day falls on it wins.
    """
    step = 1 if prefer == "future" else -1
    if weekday is not None and day is not None:
        for offset in range(0, 30):
            candidate = _safe_date(today.year + step * offset, month, day)
            if candidate and candidate.weekday() == weekday and (candidate - today).days * step >= 0:
                return candidate
        return None
    year = today.year
    if prefer == "future" and month < today.month:
        year += 1
    elif prefer == "past" and month > today.month:
        year -= 1
    return _safe_date(year, month, day or 1)


def _resolve_day(day: int, *, today: date, weekday: int | None, prefer: str) -> date | None:
    """A bare day of the month: this month's if it is still to come (or today), else the next one's."""
    step = 1 if prefer == "future" else -1
    start = today.replace(day=1)
    for offset in range(0, 36):
        candidate = _safe_date(*_ym(_add_months(start, step * offset)), day)
        if candidate is None or (candidate - today).days * step < 0:
            continue
        if weekday is None or candidate.weekday() == weekday:
            return candidate
    return None


def _ym(day: date) -> tuple[int, int]:
    return day.year, day.month


def _relative_days(text: str, today: date) -> date | None:
    """Words for today, tomorrow, yesterday and their neighbours."""
    fixed = {"today": 0, "now": 0, "tonight": 0, "this morning": 0, "this afternoon": 0,
             "this evening": 0, "this day": 0, "right now": 0, "tomorrow": 1, "tmrw": 1,
             "tmr": 1, "day after tomorrow": 2, "overmorrow": 2, "yesterday": -1,
             "last night": -1, "day before yesterday": -2}
    stripped = re.sub(r"\s+(?:morning|afternoon|evening|night|noon|midday)$", "", text)
    for candidate in (text, stripped):
        if candidate in fixed:
            return today + timedelta(days=fixed[candidate])
    match = re.fullmatch(rf"(?:in\s+)?{_COUNT_RE}\s+{_UNIT_RE}\s+(today|tomorrow|yesterday)", text)
    if match:  # "a fortnight today", "a week tomorrow"
        base = _relative_days(match.group(3), today)
        return _shift(base, match.group(1), match.group(2), 1) if base else None
    match = re.fullmatch(
        rf"(in\s+)?{_COUNT_RE}\s+{_UNIT_RE}\s*(ago|before|back|earlier|from now|from today"
        rf"|later|time|hence|after)?", text)
    if match and (match.group(1) or match.group(4)):
        sign = -1 if match.group(4) in ("ago", "before", "back", "earlier") else 1
        return _shift(today, match.group(2), match.group(3), sign)
    return None


def _shift(base: date, count_text: str, unit: str, sign: int) -> date | None:
    count = _count(count_text)
    if count is None or count > 10_000:
        return None
    if unit in ("day", "night"):
        return base + timedelta(days=sign * count)
    if unit in ("week", "fortnight"):
        return base + timedelta(days=sign * count * (7 if unit == "week" else 14))
    return _add_months(base, sign * count * (12 if unit == "year" else 1))


def _weekday_phrase(text: str, today: date) -> date | None:
    """"next Friday" (next week's), "last Monday" (the most recent), "Saturday coming"."""
    wd = rf"({_WEEKDAY_RE})"
    if match := re.fullmatch(rf"(?:last|past|previous)\s+{wd}", text):
        back = (today.weekday() - _WEEKDAYS[match.group(1)]) % 7 or 7
        return today - timedelta(days=back)
    if match := re.fullmatch(rf"(?:last|previous)\s+week\s+{wd}|{wd}\s+(?:last|previous)\s+week", text):
        name = match.group(1) or match.group(2)
        return _week_start(today) - timedelta(days=7) + timedelta(days=_WEEKDAYS[name])
    if match := re.fullmatch(
        rf"next\s+week\s+{wd}|{wd}\s+(?:next\s+week|in\s+(?:a|one)\s+week|week)|next\s+{wd}", text
    ):
        name = next(group for group in match.groups() if group)
        return _week_start(today) + timedelta(days=7 + _WEEKDAYS[name])
    if match := re.fullmatch(rf"(?:this\s+coming|this|coming|upcoming)?\s*{wd}\s*(?:coming|this\s+week)?", text):
        ahead = (_WEEKDAYS[match.group(1)] - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    return None


def _calendar_phrase(text: str, today: date, *, end: bool, prefer: str) -> date | None:
    """Explicit calendar dates: "15th October", "Jan the 19th 2023", "Friday 29th", "9/3/2019"."""
    wd, month, day_re = rf"(?:({_WEEKDAY_RE})\s+)?", rf"({_MONTH_RE})", r"(\d{1,2}|[a-z]+(?:[ -][a-z]+)?)"
    patterns = [
        (rf"{wd}{day_re}\s+{month}(?:\s+{_YEAR_RE})?", ("weekday", "day", "month", "year")),
        (rf"{wd}{month}\s+{day_re}(?:\s+{_YEAR_RE})?", ("weekday", "month", "day", "year")),
    ]
    for pattern, names in patterns:
        match = re.fullmatch(pattern, text)
        if not match:
            continue
        parts = dict(zip(names, match.groups()))
        day = _day(parts["day"])
        if day is None:
            continue
        month_number, year = _MONTHS[parts["month"]], _year(parts["year"])
        weekday = _WEEKDAYS.get(parts["weekday"] or "")
        if year is not None:
            return _safe_date(year, month_number, day)
        return _resolve_month_day(month_number, day, today=today, weekday=weekday, prefer=prefer)
    match = re.fullmatch(rf"{wd}{day_re}(?:\s+(this|next|last)?\s*month)?", text)
    day = _day(match.group(2)) if match else None
    if match and day is not None:
        if match.group(3) in ("next", "last"):
            anchor = _add_months(today.replace(day=1), 1 if match.group(3) == "next" else -1)
            return _safe_date(anchor.year, anchor.month, day)
        if match.group(3) == "this" or (match.group(0).endswith("month")):
            return _safe_date(today.year, today.month, day)
        return _resolve_day(day, today=today, weekday=_WEEKDAYS.get(match.group(1) or ""),
                            prefer=prefer)
    if match := re.fullmatch(rf"(?:in\s+|early\s+|late\s+|end\s+|beginning\s+|start\s+)?{month}"
                             rf"(?:\s+{_YEAR_RE}|\s+this\s+year|\s+next\s+year)?", text):
        month_number, year = _MONTHS[match.group(1)], _year(match.group(2))
        if year is None and text.endswith("next year"):
            year = today.year + 1
        elif year is None and text.endswith("this year"):
            year = today.year
        first = (_safe_date(year, month_number, 1) if year else
                 _resolve_month_day(month_number, None, today=today, weekday=None, prefer=prefer))
        if first is None:
            return None
        return _month_end(first) if end or text.startswith(("end", "late")) else first
    return _numeric_date(text)


def _numeric_date(text: str) -> date | None:
    """Numeric dates: ISO year-first, otherwise day-first as written in the UK."""
    if match := re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", text):
        return _safe_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    if match := re.fullmatch(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})", text):
        year = int(match.group(3))
        year += 2000 if year < 100 else 0
        first, second = int(match.group(1)), int(match.group(2))
        if second > 12 >= first:  # unambiguously month-first (US)
            first, second = second, first
        return _safe_date(year, second, first)
    return None


def _holiday(text: str, today: date, *, prefer: str) -> date | None:
    match = re.fullmatch(rf"(.+?)(?:\s+{_YEAR_RE})?", text)
    if not match or match.group(1) not in _HOLIDAYS:
        return None
    month, day = _HOLIDAYS[match.group(1)]
    if year := _year(match.group(2)):
        return _safe_date(year, month, day)
    candidate = date(today.year, month, day)
    if prefer == "future" and candidate < today:
        return date(today.year + 1, month, day)
    if prefer == "past" and candidate > today:
        return date(today.year - 1, month, day)
    return candidate


def _dateparser(text: str, now: datetime, *, prefer: str) -> date | None:
    """The library's reading, for phrasings the grammar does not know."""
    try:
        import dateparser

        with DATEPARSER_LOCK:
            parsed = dateparser.parse(
                text,
                languages=["en"],
                settings={
                    "RELATIVE_BASE": now.replace(tzinfo=None),
                    "PREFER_DATES_FROM": prefer,
                    "DATE_ORDER": "DMY",
                    "PREFER_DAY_OF_MONTH": "first",
                    "RETURN_AS_TIMEZONE_AWARE": False,
                },
            )
    except Exception:  # the library raises on some odd inputs
        log.debug("dateparser failed on %r", text, exc_info=True)
        return None
    return parsed.date() if parsed else None


def parse_date(text: str, *, now: datetime, end: bool = False, prefer: str = "future") -> date | None:
    """The calendar day a date span means, relative to ``now``.

    ``end`` asks for the last day of a span that names a period ("to May", "until next week");
    ``prefer`` ("future" or "past") says where a date without a year or week falls.
    """
    try:
        return _parse_date(text, now=now, end=end, prefer=prefer)
    except (ValueError, OverflowError, TypeError):
        return None


def _parse_date(text: str, *, now: datetime, end: bool, prefer: str) -> date | None:
    if not isinstance(text, str) or not text.strip() or len(text) > 200:
        return None
    today = now.date()
    normal = _normalise(text)
    if not normal:
        return None
    for rule in (
        lambda: _relative_days(normal, today),
        lambda: _weekday_phrase(normal, today),
        lambda: _calendar_phrase(normal, today, end=end, prefer=prefer),
        lambda: _holiday(normal, today, prefer=prefer),
    ):
        if (found := rule()) is not None:
            return found
    if (span := _period(normal, today)) is not None:
        return span[1] if end else span[0]
    if re.search(r"\d|" + _MONTH_RE + "|" + _WEEKDAY_RE, normal) is None and not re.search(
        r"\b(?:ago|yesterday|tomorrow|today|week|month|year)\b", normal
    ):
        return None
    if re.fullmatch(r"\d{1,2}", normal) or normal.startswith("some ") or " some " in normal:
        return None  # "some days ago" has no one day
    return _dateparser(normal, now, prefer=prefer)


def _period(text: str, today: date) -> tuple[date, date] | None:
    """Named periods: this/next/last week, month, quarter, year; last/next N units; seasons."""
    if match := re.fullmatch(r"(this|current|the current|next|following|coming|last|previous|past|prior)"
                             r"\s+(week|weekend|month|quarter|year)", text):
        step = {"this": 0, "current": 0, "the current": 0, "next": 1, "following": 1,
                "coming": 1}.get(match.group(1), -1)
        return _unit_span(match.group(2), today, step)
    if match := re.fullmatch(r"(week|month|quarter|year)\s+to\s+date", text):
        return _unit_span(match.group(1), today, 0)[0], today
    if match := re.fullmatch(rf"(?:(?:in|over|during)\s+)?(last|past|previous|next|coming|following)"
                             rf"\s+{_COUNT_RE}\s+{_UNIT_RE}", text):
        count = _count(match.group(2))
        if count is None:
            return None
        forward = match.group(1) in ("next", "coming", "following")
        return _count_span(match.group(3), count, today, forward=forward)
    if match := re.fullmatch(r"(?:(this|next|last)\s+)?(spring|summer|autumn|fall|winter)"
                             rf"(?:\s+{_YEAR_RE})?", text):
        return _season(match.group(2), today, match.group(1), _year(match.group(3)))
    if match := re.fullmatch(r"weekend|this weekend|coming weekend|next weekend|last weekend", text):
        saturday = today + timedelta(days=(5 - today.weekday()) % 7)
        if text == "next weekend":
            saturday += timedelta(days=7 if today.weekday() < 5 else 0)
        elif text == "last weekend":
            saturday = _week_start(today) - timedelta(days=2)
        return saturday, saturday + timedelta(days=1)
    return None


def _unit_span(unit: str, today: date, step: int) -> tuple[date, date]:
    if unit == "week":
        start = _week_start(today) + timedelta(days=7 * step)
        return start, start + timedelta(days=6)
    if unit == "weekend":
        saturday = _week_start(today) + timedelta(days=5 + 7 * step)
        return saturday, saturday + timedelta(days=1)
    if unit == "month":
        start = _add_months(today.replace(day=1), step)
        return start, _month_end(start)
    if unit == "quarter":
        start = _add_months(today.replace(day=1, month=(today.month - 1) // 3 * 3 + 1), 3 * step)
        return start, _month_end(_add_months(start, 2))
    return date(today.year + step, 1, 1), date(today.year + step, 12, 31)


def _count_span(unit: str, count: int, today: date, *, forward: bool) -> tuple[date, date] | None:
    """"last 3 days" ends today; "next 2 months" starts with the next month (NLU++'s bounds)."""
    if count > 10_000:
        return None
    if unit in ("day", "night", "week", "fortnight"):
        days = count * {"day": 1, "night": 1, "week": 7, "fortnight": 14}[unit]
        if forward:
            return today + timedelta(days=1), today + timedelta(days=1 + days)
        return today - timedelta(days=days), today
    months = count * (12 if unit == "year" else 1)
    if unit == "year":
        anchor = date(today.year + (1 if forward else 0), 1, 1)
    else:
        anchor = _add_months(today.replace(day=1), 1 if forward else 0)
    if forward:
        return anchor, _add_months(anchor, months)
    return _add_months(anchor, -months), anchor


def _season(name: str, today: date, which: str | None, year: int | None) -> tuple[date, date] | None:
    (m1, d1), (m2, d2) = _SEASONS[name]
    if year is None:
        year = today.year
        end_guess = date(year + (1 if m2 < m1 else 0), m2, d2)
        if which == "next" or (which is None and end_guess < today):
            year += 1
        elif which == "last":
            year -= 1
    return date(year, m1, d1), date(year + (1 if m2 < m1 else 0), m2, d2)


def parse_date_range(text: str, *, now: datetime) -> tuple[date, date] | None:
    """First and last day of a period ("next week", "this month", "from 3 to 6 January")."""
    try:
        return _parse_date_range(text, now=now)
    except (ValueError, OverflowError, TypeError):
        return None


def _parse_date_range(text: str, *, now: datetime) -> tuple[date, date] | None:
    if not isinstance(text, str) or not text.strip() or len(text) > 200:
        return None
    today = now.date()
    normal = _normalise(text)
    normal = re.sub(r"^(?:for|during|in|over|within|throughout)\s+", "", normal)
    if (span := _period(normal, today)) is not None:
        return span
    if match := re.fullmatch(r"week\s+(.+)", normal):  # "the week of the 1st"
        day = parse_date(match.group(1), now=now)
        if day is None:
            return None
        # A week "of" a Friday to Sunday is the working week that follows it.
        start = _week_start(day) + timedelta(days=7 if day.weekday() >= 4 else 0)
        return start, start + timedelta(days=6)
    if match := re.fullmatch(rf"(?:(?:this|next)\s+)?({_MONTH_RE})(?:\s+{_YEAR_RE}|\s+(?:this|next)\s+year)?",
                             normal):
        first = parse_date(normal.removeprefix("this ").removeprefix("next "), now=now)
        return (first, _month_end(first)) if first else None
    if match := re.fullmatch(r"(?:since|from)\s+(.+?)(?:\s+(?:onwards|on|until now|till now|to date))?", normal):
        if not re.search(r"\s(?:to|till|until|through|thru|and)\s|-", match.group(1)):
            start = parse_date(match.group(1), now=now, prefer="past")
            return (start, today) if start and start <= today else None
    return _between(normal, now)


def _between(text: str, now: datetime) -> tuple[date, date] | None:
    """"from 3 to 6 January", "between the 3rd and the 10th", "Mon-Fri"."""
    match = re.fullmatch(r"(?:from|between)?\s*(.+?)\s*(?:\s(?:to|till|until|through|thru|and)\s|-|–)\s*(.+)",
                         text)
    if not match:
        return None
    left, right = match.group(1).strip(), match.group(2).strip()
    last = parse_date(right, now=now, end=True)
    if last is None:
        return None
    first = parse_date(left, now=now)
    tail = re.search(rf"(?:\s+(?:{_MONTH_RE}))?(?:\s+{_YEAR_RE})?$", " " + right)
    if re.fullmatch(r"\d{1,2}|[a-z]+", left) and tail and tail.group(0).strip():
        # "3 to 6 January": the first bound borrows the second's month and year.
        first = parse_date(f"{left} {tail.group(0).strip()}", now=now) or first
    if first is None or first > last:
        return None
    return first, last


_PERIOD_WORDS = [
    (r"(?<![a-z])(?:a\.?\s?m\.?|in the morning|morning)(?=\s|$)", "am"),
    (r"(?<![a-z])(?:p\.?\s?m\.?|in the afternoon|afternoon)(?=\s|$)", "pm"),
    (r"\b(?:in the evening|evening|this evening)(?=\s|$)", "evening"),
    (r"\b(?:at night|in the night|night|tonight)(?=\s|$)", "night"),
]


def _period_hour(hour: int, period: str | None) -> int:
    """The 24-hour clock hour for an hour said with a part of the day."""
    if period == "am":
        return 0 if hour == 12 else hour
    if period in ("pm", "evening"):
        return hour + 12 if hour < 12 else hour
    if period == "night":
        if hour == 12:
            return 0
        return hour + 12 if 6 <= hour < 12 else hour
    return hour


def _time_words(text: str) -> str:
    """Number words for hours and minutes as digits ("twenty five to seven" -> "25 to 7")."""
    def replace(match: re.Match[str]) -> str:
        value = _number_words(re.split(r"[ -]+", match.group(0)))
        return str(int(value)) if value is not None else match.group(0)

    ones = "|".join(sorted(_ONES, key=len, reverse=True))
    tens = "|".join(_TENS)
    units = "|".join(_ONES[1:10])
    return re.sub(rf"\b(?:(?:{tens})(?:[ -](?:{units}))?|{ones})\b", replace, text)


def parse_time(text: str, *, now: datetime | None = None) -> str | None:
    """A clock time as "HH:MM"; ``now`` resolves "in 2 hours", "15 minutes ago" and "now"."""
    try:
        return _parse_time(text, now=now)
    except (ValueError, OverflowError, TypeError):
        return None


def _parse_time(text: str, *, now: datetime | None) -> str | None:
    if not isinstance(text, str) or not text.strip() or len(text) > 100:
        return None
    normal = text.lower().replace("’", "'")
    if now is not None and (relative := _relative_time(_time_words(" ".join(normal.split())), now)):
        return relative
    normal = re.sub(r"\bo'?\s?clock\b|\bhrs\b|\bhours\b(?!\s+(?:ago|from|later))|\bsharp\b|\bish\b", " ", normal)
    normal = re.sub(r"\b(?:at|around|about|approximately|approx|exactly|just|roughly|by|before|after)\s+(?=\d|half|quarter|noon|midnight|midday)",
                    " ", normal)
    period = None
    for pattern, name in _PERIOD_WORDS:
        if re.search(pattern, normal):
            period = name
            normal = re.sub(pattern, " ", normal)
    normal = _time_words(" ".join(normal.replace(",", " ").split()))
    normal = re.sub(r"\b(?:this|in|the)$", "", normal).strip()
    normal = re.sub(r"(?<=past |. to )(?:midnight)$", "0", normal)
    normal = re.sub(r"(?<=past |. to )(?:noon|midday)$", "12", normal)
    if normal in ("noon", "midday", "12 noon", "lunchtime"):
        return "12:00"
    if normal in ("midnight", "12 midnight"):
        return "00:00"
    minutes = _clock_minutes(normal, period)
    if minutes is None:
        return None
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def _relative_time(text: str, now: datetime) -> str | None:
    if text in ("now", "right now", "just now", "immediately"):
        delta = timedelta()
    else:
        match = re.fullmatch(r"(in\s+)?(half an|an|a|a quarter of an|\d+(?:\.\d+)?|half)\s+"
                             r"(hour|hr|minute|min)s?\s*(ago|from now|later|earlier|back)?", text)
        if not match or not (match.group(1) or match.group(4)):
            return None
        amount = {"an": 1.0, "a": 1.0, "half an": 0.5, "half": 0.5, "a quarter of an": 0.25}.get(
            match.group(2)) or float(match.group(2))
        minutes = amount * (60 if match.group(3) in ("hour", "hr") else 1)
        sign = -1 if match.group(4) in ("ago", "earlier", "back") else 1
        delta = timedelta(minutes=sign * minutes)
    moment = now + delta
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _clock_minutes(text: str, period: str | None) -> int | None:
    """Minutes after midnight for "half past 3", "25 to 7", "9 05", "17:30", "8pm"."""
    if match := re.fullmatch(r"(half|quarter|\d{1,2})\s*(?:minutes?|mins?)?\s+(past|after|to|before|till|til)\s+(\d{1,2})",
                             text):
        offset = {"half": 30, "quarter": 15}.get(match.group(1)) or int(match.group(1))
        hour = int(match.group(3))
        if offset >= 60 or hour > 24:
            return None
        base = _period_hour(hour, period) * 60
        return base + offset if match.group(2) in ("past", "after") else (base - offset) % 1440
    if match := re.fullmatch(r"(\d{1,2})(?:\s*[:.h]\s*|\s+)(\d{2})(?:\s*h)?|(\d{1,2})(\d{2})|(\d{1,2})\s*h?", text):
        if match.group(5) is not None:
            hour, minute = int(match.group(5)), 0
        elif match.group(3) is not None:
            if period is None:
                return None  # "1730" alone could be anything
            hour, minute = int(match.group(3)), int(match.group(4))
        else:
            hour, minute = int(match.group(1)), int(match.group(2))
        if hour > 24 or minute > 59:
            return None
        return _period_hour(hour % 24 if hour == 24 else hour, period) * 60 + minute
    return None


_CURRENCY_SYMBOLS = {
    "us$": "USD", "a$": "AUD", "au$": "AUD", "c$": "CAD", "ca$": "CAD", "nz$": "NZD", "hk$": "HKD",
    "£": "GBP", "$": "USD", "€": "EUR", "¥": "JPY", "₹": "INR", "₩": "KRW", "₽": "RUB", "₺": "TRY",
    "zł": "PLN", "kr": "SEK",
}
_CURRENCY_WORDS = {
    "pounds sterling": "GBP", "pound sterling": "GBP", "pounds": "GBP", "pound": "GBP",
    "quid": "GBP", "sterling": "GBP", "gbp": "GBP", "pence": "GBP", "p": "GBP",
    "us dollars": "USD", "dollars": "USD", "dollar": "USD", "bucks": "USD", "usd": "USD",
    "euros": "EUR", "euro": "EUR", "eur": "EUR", "yen": "JPY", "jpy": "JPY",
    "swiss francs": "CHF", "francs": "CHF", "franc": "CHF", "chf": "CHF",
    "rupees": "INR", "rupee": "INR", "inr": "INR", "cad": "CAD", "aud": "AUD", "nzd": "NZD",
    "sek": "SEK", "nok": "NOK", "dkk": "DKK", "pln": "PLN", "zloty": "PLN", "czk": "CZK",
    "huf": "HUF", "zar": "ZAR", "sgd": "SGD", "hkd": "HKD", "cny": "CNY", "rmb": "CNY",
    "yuan": "CNY", "mxn": "MXN", "brl": "BRL", "try": "TRY", "rub": "RUB", "krw": "KRW",
    "cents": None, "cent": None,
}
_SUBUNITS = {"pence", "p", "cents", "cent"}
_MULTIPLIERS = {"k": 1_000, "thousand": 1_000, "grand": 1_000, "m": 1_000_000, "mn": 1_000_000,
                "million": 1_000_000, "bn": 1_000_000_000, "billion": 1_000_000_000}
_AMOUNT_NUMBER = re.compile(r"\d{1,3}(?:([,.  ])\d{3})(?:\1\d{3})*(?:[.,]\d{1,2})?(?!\d)|\d+(?:[.,]\d+)?")


def _number_value(raw: str) -> float | None:
    """A written number with thousands separators and a decimal point or comma."""
    raw = raw.replace(" ", "").replace("\u00a0", "").replace("\u202f", "")
    if "," in raw and "." in raw:
        decimal = "," if raw.rfind(",") > raw.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        raw = raw.replace(thousands, "").replace(decimal, ".")
    elif "," in raw:
        head, _, tail = raw.rpartition(",")
        raw = raw.replace(",", "") if len(tail) == 3 else head.replace(",", "") + "." + tail
    elif raw.count(".") > 1:
        raw = raw.replace(".", "")
    try:
        return float(raw)
    except ValueError:
        return None


def parse_amount(text: str) -> dict[str, Any] | None:
    """Amount and ISO currency ("£900" -> 900.0 GBP); currency is None when the span names none."""
    try:
        return _parse_amount(text)
    except (ValueError, OverflowError, TypeError):
        return None


def _parse_amount(text: str) -> dict[str, Any] | None:
    if not isinstance(text, str) or not text.strip() or len(text) > 100:
        return None
    normal = text.lower().replace("\u00a0", " ").strip()
    currency, subunit = None, False
    for symbol in sorted(_CURRENCY_SYMBOLS, key=len, reverse=True):
        if symbol.isalpha():
            if re.search(rf"(?<![a-z]){re.escape(symbol)}(?![a-z])", normal):
                currency = _CURRENCY_SYMBOLS[symbol]
                normal = re.sub(rf"(?<![a-z]){re.escape(symbol)}(?![a-z])", " ", normal)
                break
        elif symbol in normal:
            currency = _CURRENCY_SYMBOLS[symbol]
            normal = normal.replace(symbol, " ")
            break
    if currency is None:
        for word in sorted(_CURRENCY_WORDS, key=len, reverse=True):
            pattern = rf"(?<![a-z]){re.escape(word)}(?![a-z])"
            if re.search(pattern, normal):
                currency, subunit = _CURRENCY_WORDS[word], word in _SUBUNITS
                normal = re.sub(pattern, " ", normal)
                break
    normal = " ".join(normal.replace("-", " ").split())
    value = _amount_number(normal)
    if value is None:
        return None
    if subunit:
        value /= 100
    return {"amount": round(value, 2), "currency": currency}


def _amount_number(text: str) -> float | None:
    text = re.sub(r"^(?:about|around|roughly|approximately|approx|over|under|nearly|almost|just|only|some|exactly)\s+",
                  "", text)
    if match := _AMOUNT_NUMBER.search(text):
        value = _number_value(match.group(0))
        rest = text[match.end():].strip().split(" ")[0] if text[match.end():].strip() else ""
        if value is not None and rest in _MULTIPLIERS:
            value *= _MULTIPLIERS[rest]
        elif value is not None and (tail := re.match(r"\s*(k|m|mn|bn)\b", text[match.end():])):
            value *= _MULTIPLIERS[tail.group(1)]
        return value
    words = [w for w in re.split(r"[ -]+", text) if w]
    return _number_words(words) if words else None
