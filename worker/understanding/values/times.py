"""Times: ``parse_time`` (a clock time as "HH:MM"), ``parse_part_of_day`` ("this morning") and
``read_time``, the value of any time span.

``parse_time`` covers "half past 3", "25 to 7 p.m.", "17:30", "8pm", and, given ``now``,
"in 2 hours" or "in a couple of hours". A time span's value is one of three shapes:

- ``"HH:MM"``: a clock time ("17:30", "noon", "in 2 hours");
- ``{"part_of_day": "morning", "date": "2022-03-15", "qualifier": "early"}``: a time of day
  ("this morning", "tonight", "early afternoon"; ``date`` when the words name the day, before
  the span too: the "evening" of "yesterday evening"; ``qualifier`` for early, late, mid);
- ``{"duration": "PT8H", "direction": "past"}``: a length of time (:mod:`.durations`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from worker.understanding.values.dates import parse_date
from worker.understanding.values.durations import parse_duration
from worker.understanding.values.words import (
    _ONES,
    _TENS,
    _VAGUE_COUNTS,
    _WEEKDAY_RE,
    _number_words,
)

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
        match = re.fullmatch(r"(in\s+)?(half an|an|a|a quarter of an|\d+(?:\.\d+)?|half|a couple of"
                             r"|couple of|a few|few|several)\s+(hour|hr|minute|min)s?\s*"
                             r"(ago|from now|later|earlier|back)?", text)
        if not match or not (match.group(1) or match.group(4)):
            return None
        amount = {"an": 1.0, "a": 1.0, "half an": 0.5, "half": 0.5, "a quarter of an": 0.25}.get(
            match.group(2)) or float(_VAGUE_COUNTS.get(match.group(2)) or match.group(2))
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


_PARTS = {"morning": "morning", "afternoon": "afternoon", "evening": "evening", "night": "night",
          "tonight": "night", "overnight": "night", "nighttime": "night"}
_PART_OF_DAY = re.compile(
    r"(?:(?:in|at|during|for|from|since|until|till|by)\s+)?(?:the\s+)?"
    r"(?:(?P<this>this|tomorrow|tmrw|yesterday|today|(?:(?:last|next|this|coming|on)\s+)?(?:"
    + _WEEKDAY_RE + r"))\s+)?"
    r"(?:(?P<qualifier>early|late|mid)\s*)?(?P<part>morning|afternoon|evening|night|tonight|overnight|nighttime)")
# "yesterday evening": the day may be said just before the span.
_DAY_BEFORE = re.compile(r"\b(this|tomorrow|tmrw|yesterday|today|(?:(?:last|next|this|coming)\s+)?(?:"
                         + _WEEKDAY_RE + r"))\s+(?:the\s+)?$")


def parse_part_of_day(text: str, *, now: datetime | None = None, before: str = "") -> dict[str, Any] | None:
    """``{"part_of_day": ...}`` for "this morning", "tonight", "early afternoon", "Friday night"."""
    try:
        return _parse_part_of_day(text, now=now, before=before)
    except (ValueError, OverflowError, TypeError):
        return None


def _parse_part_of_day(text: str, *, now: datetime | None, before: str) -> dict[str, Any] | None:
    if not isinstance(text, str) or not text.strip() or len(text) > 60:
        return None
    normal = " ".join(text.lower().replace("-", " ").replace("’", "'").split())
    match = _PART_OF_DAY.fullmatch(normal)
    if not match:
        return None
    part = match.group("part")
    value: dict[str, Any] = {"part_of_day": _PARTS[part]}
    day = match.group("this")
    if day is None and part != "overnight" and (said := _DAY_BEFORE.search(before.lower()[-30:])):
        day = said.group(1)
    if part == "tonight":
        day = day or "today"
    if now is not None and day is not None and part != "overnight":
        found = parse_date("today" if day == "this" else day, now=now,
                           prefer="past" if day.startswith("last") else "future")
        if found is not None:
            value["date"] = found.isoformat()
    if match.group("qualifier"):
        value["qualifier"] = match.group("qualifier")
    return value


_RELATIVE = re.compile(r"^in\s+(?!the\b)|\s(?:ago|later|from now|earlier|back)$")
_DURATION_UNIT = re.compile(r"(?<![a-z])(?:hours?|hrs?|minutes?|mins?|seconds?|secs?)\b")


def read_time(text: str, *, now: datetime | None = None, before: str = "") -> str | dict[str, Any] | None:
    """The value of a time span: "HH:MM", a part of the day or a duration (shapes above); None
    when it reads as none of them. ``before`` is the text before the span ("yesterday " gives
    "evening" its day; "at " makes "10 hrs" a clock time)."""
    normal = " ".join(text.lower().split()) if isinstance(text, str) else ""
    if not normal:
        return None
    before = before[-40:]
    clock_said = re.search(r"\bat\s*$", before.lower())
    if _DURATION_UNIT.search(normal) and not _RELATIVE.search(normal) and not clock_said:
        return parse_duration(normal)
    return parse_time(text, now=now) or parse_part_of_day(text, now=now, before=before)
