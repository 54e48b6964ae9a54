"""Normalised values for the date, date-range, time and amount spans found in ticket text.

A hand-written grammar covers the phrasings customers actually use ("the 3rd", "Tuesday 2nd",
"25 to 7 p.m.", "80.24 pounds", "fifty dollars"); ``dateparser`` handles what the grammar does not.
The conventions follow NLU++: relative expressions resolve against ``now`` (the ticket's
``created_at``), a bare weekday, day or month means the next one to come, "next Friday" is the
Friday of next week, "last Monday" the most recent Monday, and a period's end ("to May") is its
last day. Nothing here raises on odd input: an unreadable span gives ``None``.

The parsers live in modules by job (:mod:`.words` for the shared tables, :mod:`.dates`,
:mod:`.periods`, :mod:`.ranges`, :mod:`.times`, :mod:`.durations`, :mod:`.amounts`); this package
re-exports the public API, so callers import from ``worker.understanding.values`` alone. A time
span's value is a clock time, a part of the day or a duration: :func:`read_time` tells which.
"""

from __future__ import annotations

from worker.understanding.values.amounts import parse_amount
from worker.understanding.values.dates import DATEPARSER_LOCK as DATEPARSER_LOCK
from worker.understanding.values.dates import parse_date
from worker.understanding.values.ranges import parse_date_range
from worker.understanding.values.durations import parse_duration
from worker.understanding.values.times import parse_part_of_day, parse_time, read_time

__all__ = ["parse_amount", "parse_date", "parse_date_range", "parse_duration", "parse_part_of_day",
           "parse_time", "read_time"]
