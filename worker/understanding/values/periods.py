"""Named periods as first and last day: this/next/last week, month, quarter, year; last/next N
units; seasons; the weekend.

Apart from ``parse_date_range`` because ``parse_date`` needs them too (a period's start or end),
and ``parse_date_range`` in turn builds on ``parse_date``.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from worker.understanding.values.words import (
    _COUNT_RE,
    _UNIT_RE,
    _YEAR_RE,
    _add_months,
    _count,
    _month_end,
    _week_start,
    _year,
)

# Seasons as ((month, day), (month, day)); NLU++'s summer runs to 24 September.
_SEASONS = {
    "spring": ((3, 20), (6, 20)), "summer": ((6, 21), (9, 24)), "autumn": ((9, 25), (12, 20)),
    "fall": ((9, 25), (12, 20)), "winter": ((12, 21), (3, 19)),
}


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
