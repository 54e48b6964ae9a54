"""``parse_date_range``: the first and last day of a period span.

Named periods come from :mod:`.periods`; bounds of "from 3 to 6 January", "since Monday" or
"the week of the 1st" are read by ``parse_date``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from worker.understanding.values.dates import parse_date
from worker.understanding.values.periods import _period
from worker.understanding.values.words import (
    _MONTH_RE,
    _YEAR_RE,
    _month_end,
    _normalise,
    _week_start,
)


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
