"""``parse_duration``: how long something lasted or is to last, as an ISO 8601 duration.

Reads "8 hours", "30 minutes", "half an hour", "an hour and a half", "a couple of hours",
"few more hours", "2.5 hours", and the windows "the last 4 hours" (``direction: "past"``) and
"the next 24 hours" (``"future"``). Counts follow :mod:`.words` ("a couple of" is 2, "a few" 3),
as they do for days and weeks. Moments said with a length ("in 2 hours", "15 minutes ago") are
clock times: :func:`~worker.understanding.values.times.parse_time` reads those.
"""

from __future__ import annotations

import re
from typing import Any

from worker.understanding.values.words import _VAGUE_COUNTS, _number_words

_UNITS = {"hour": 3600, "hr": 3600, "minute": 60, "min": 60, "second": 1, "sec": 1}
_DIRECTIONS = {"last": "past", "past": "past", "previous": "past", "next": "future",
               "coming": "future", "following": "future"}
_FRACTIONS = {"half an": 0.5, "half a": 0.5, "a half": 0.5, "a quarter of an": 0.25,
              "quarter of an": 0.25, "three quarters of an": 0.75}
_LEAD = re.compile(r"^(?:(?:for|during|over|within|in|about|around|roughly|approximately|approx|nearly|"
                   r"almost|under|just|only|at least|more than|less than|the)\s+)+")
_SHAPE = re.compile(
    r"(?:(?P<direction>last|past|previous|next|coming|following)\s+)?"
    r"(?:(?P<count>[a-z0-9.]+(?:\s+[a-z0-9.]+)*?)\s*)??(?:more\s+)?"
    r"(?P<unit>hour|hr|minute|min|second|sec)(?P<plural>s)?(?P<half>\s+and\s+a\s+half)?")
#: Longest ISO duration we report (a week of hours): longer ones are dates' business.
MAX_SECONDS = 7 * 24 * 3600


def _quantity(words: str) -> float | None:
    """A count of units: digits, number words, "a couple of", "half an", "2 and a half"."""
    words = words.strip()
    if words in _FRACTIONS:
        return _FRACTIONS[words]
    if words in _VAGUE_COUNTS:
        return float(_VAGUE_COUNTS[words])
    half = 0.0
    if words.endswith(" and a half"):
        words, half = words[: -len(" and a half")].strip(), 0.5
    value = _number_words([w for w in re.split(r"[ -]+", words) if w])
    return value + half if value is not None else None


def iso_duration(seconds: int) -> str:
    """``PT8H``, ``PT1H30M``, ``PT45S``: hours are not folded into days."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}H" if hours else "", f"{minutes}M" if minutes else "", f"{secs}S" if secs else ""]
    return "PT" + "".join(parts)


def parse_duration(text: str) -> dict[str, Any] | None:
    """``{"duration": "PT8H"}``, with ``"direction"`` for "the last/next N hours"; None if no length."""
    try:
        return _parse_duration(text)
    except (ValueError, OverflowError, TypeError):
        return None


def _parse_duration(text: str) -> dict[str, Any] | None:
    if not isinstance(text, str) or not text.strip() or len(text) > 80:
        return None
    normal = " ".join(text.lower().replace("-", " ").replace("’", "'").split())
    normal = _LEAD.sub("", normal)
    if re.fullmatch(r"(?:an?|one)\s+(?:hour|hr)\s+and\s+a\s+half|(?:an?\s+)?(?:hour|hr)\s+and\s+a\s+half", normal):
        seconds = 5400.0
        direction = None
    else:
        match = _SHAPE.fullmatch(normal)
        if not match:
            return None
        count_text, direction = match.group("count"), _DIRECTIONS.get(match.group("direction") or "")
        if count_text is None:
            # "the last hour" is one; a bare "hours" says no length.
            if direction is None or match.group("plural"):
                return None
            count = 1.0
        else:
            count = _quantity(count_text)
            if count is None:
                return None
        if match.group("half"):
            count += 0.5
        seconds = count * _UNITS[match.group("unit")]
    if not 0 < seconds <= MAX_SECONDS or seconds != int(seconds):
        return None
    value: dict[str, Any] = {"duration": iso_duration(int(seconds))}
    if direction:
        value["direction"] = direction
    return value
