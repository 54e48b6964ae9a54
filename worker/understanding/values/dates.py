"""``parse_date``: the one calendar day a date span means, relative to the ticket's ``now``.

The grammar runs first (relative days, weekday phrases, calendar dates, holidays, named periods);
``dateparser`` reads only what it does not know, under ``DATEPARSER_LOCK``.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import date, datetime, timedelta

from worker.understanding.values.periods import _period
from worker.understanding.values.words import (
    _COUNT_RE,
    _MONTH_RE,
    _MONTHS,
    _UNIT_RE,
    _WEEKDAY_RE,
    _WEEKDAYS,
    _YEAR_RE,
    _add_months,
    _count,
    _day,
    _month_end,
    _normalise,
    _safe_date,
    _week_start,
    _year,
)

log = logging.getLogger(__name__)
#: dateparser keeps shared caches that are not thread-safe (scrapinghub/dateparser#441).
DATEPARSER_LOCK = threading.Lock()

# Fixed-date holidays as (month, day).
_HOLIDAYS = {
    "new year's eve": (12, 31), "new years eve": (12, 31), "new year eve": (12, 31),
    "new year's day": (1, 1), "new years day": (1, 1), "new year": (1, 1),
    "christmas eve": (12, 24), "christmas day": (12, 25), "christmas": (12, 25), "xmas": (12, 25),
    "boxing day": (12, 26), "halloween": (10, 31), "valentine's day": (2, 14),
    "valentines day": (2, 14), "independence day": (7, 4), "st patrick's day": (3, 17),
    "st patricks day": (3, 17),
}


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
