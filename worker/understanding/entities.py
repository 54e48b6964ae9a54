"""Key information in a ticket's texts: the learned tagger's spans with normalised values, plus
the structured identifiers (e-mail, phone, card, IBAN, reference) that patterns find exactly.

The tagger finds what needs context (is "cloyd" a person, is "17 30" a time); the parsers in
``values.py`` turn each span into a value. A structured find wins over a tagged span it overlaps:
"4111 1111 1111 1111" is a card, never an amount. Without a built tagger, the rule-based finders
of :mod:`worker.understanding.finders` stand in for dates, times and amounts, and names go unfound.

On either path, :func:`~worker.understanding.finders.find_times` adds the times the tagger was not
taught: times of day and lengths of time (a time's value is "HH:MM", ``{"part_of_day": ...}`` or
``{"duration": "PT8H"}``, see :mod:`worker.understanding.values.times`). A phrase that names a
day and a part of it gives both: "yesterday evening" a date ("yesterday") and a time ("evening");
"tonight" or "this morning", when read as a date, also a time over the same words. A time of day
next to a bare clock time joins it ("9 tonight" is 21:00). PINs, flat, room and street numbers
are no times, dates or amounts, and a tagged time that reads as no time is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal

from worker.contract import Entity
from worker.pii.finders import card_spans
from worker.text.tagger import EntityTagger
from worker.understanding.finders import (
    Match,
    find_structured,
    find_times,
    find_values,
    identifier_number,
)
from worker.understanding.values import (
    parse_amount,
    parse_date,
    parse_date_range,
    parse_time,
    read_time,
)

Source = Literal["text", "image", "audio"]

# "until May", "to the 19th": the end of a named period is meant, not its start.
_ENDS_BEFORE = re.compile(r"\b(?:until|till|til|to|through|thru|up to|before)\s+(?:the\s+)?$", re.IGNORECASE)
# "since Monday": the last one, not the next.
_SINCE_BEFORE = re.compile(r"\bsince\s+(?:the\s+)?$", re.IGNORECASE)


# "almost 38 days ago", "about £20": a hedge does not change the value we can read.
_HEDGE = re.compile(r"^(?:almost|nearly|about|around|approximately|approx\.?|roughly|over|under|just|some|like)\s+",
                    re.IGNORECASE)
_YEAR = re.compile(r"^(?:in\s+)?((?:19|20)\d\d)$")


def normalise(kind: str, span: str, *, before: str, now: datetime) -> Any:
    """The value of a tagged span; None when its text cannot be read as its type."""
    span = _HEDGE.sub("", span.strip())
    if kind == "date":
        year = _YEAR.match(span)
        if year:  # a bare year is its first day (dateparser would borrow today's month and day)
            return f"{year.group(1)}-01-01"
        end = bool(_ENDS_BEFORE.search(before[-24:]))
        prefer = "past" if _SINCE_BEFORE.search(before[-24:]) else "future"
        found = parse_date(span, now=now, end=end, prefer=prefer)
        return found.isoformat() if found else None
    if kind == "date_range":
        found_range = parse_date_range(span, now=now)
        if found_range is None:
            return None
        return {"from": found_range[0].isoformat(), "to": found_range[1].isoformat()}
    if kind == "time":
        return read_time(span, now=now, before=before)
    if kind == "amount":
        return parse_amount(span)
    return " ".join(span.split())


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


class EntityExtractor:
    """Runs the tagger over a batch of texts and merges in the structured finds."""

    def __init__(self, tagger: EntityTagger | None, *, phone_region: str = "GB") -> None:
        self.tagger = tagger
        self.phone_region = phone_region

    def extract(self, texts: Sequence[str], *, sources: Sequence[Source], nows: Sequence[datetime]
                ) -> list[list[Entity]]:
        """Entities of each text, sorted by offset; ``nows`` resolve relative dates per text."""
        tagged = self.tagger.tag(list(texts)) if self.tagger is not None and texts else None
        out = []
        for index, (text, source, now) in enumerate(zip(texts, sources, nows)):
            structured = find_structured(text, phone_region=self.phone_region)
            spans = tagged[index] if tagged is not None else find_values(text, now=now)
            entities = [_entity(m.type, m.start, m.end, m.text, m.value, source) for m in structured]
            # A card's entity covers its last four digits only; the whole number is still taken.
            taken = [(m.start, m.end) for m in structured] + [(c.start, c.end) for c in card_spans(text)]
            blocked = list(taken)
            for span in spans:
                if any(_overlaps((span.start, span.end), other) for other in taken):
                    continue
                if span.type in _NUMBER_TYPES and identifier_number(text, span.start, span.end):
                    continue  # "PIN 1234", "flat 5", "12 Oak Street"
                value = (_json_value(span.value) if isinstance(span, Match)
                         else normalise(span.type, span.text, before=text[: span.start], now=now))
                if span.type == "time" and value is None and re.fullmatch(r"[\d\s.,:/-]+", span.text):
                    continue  # "4321", "12-34-56": a number the tagger took for a time
                entities.append(_entity(span.type, span.start, span.end, span.text, value, source))
                taken.append((span.start, span.end))
            entities = _add_times(text, entities, find_times(text, now=now), blocked=blocked, now=now, source=source)
            entities = _shared_periods(text, entities, now=now)
            out.append(sorted(entities, key=lambda e: (e.start, e.end)))
        return out


_NUMBER_TYPES = ("time", "date", "amount")
# Between a clock time and a time of day that belong together: "9 tonight", "8 in the evening".
_CLOCK_JOIN = re.compile(r"\s+(?:(?:in\s+the|at|around|about)\s+)?")


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "part_of_day" if "part_of_day" in value else "duration"
    return "clock"


def _add_times(text: str, entities: list[Entity], found: Sequence[Match], *, blocked: Sequence[tuple[int, int]],
               now: datetime, source: Source) -> list[Entity]:
    """``entities`` with the rule-found times merged in (see the module's docstring)."""
    entities = list(entities)
    for match in found:
        where = (match.start, match.end)
        if any(_overlaps(where, other) for other in blocked):
            continue
        over = [e for e in entities if _overlaps(where, (e.start, e.end))]
        kind = _kind_of(match.value)
        if kind == "part_of_day" and all(e.type == "date" and e.start <= match.start and match.end <= e.end
                                         for e in over):
            # alone, or inside a date that names its day ("tonight", "Friday morning")
            if joined := _joined_clock(text, entities, match, now=now):
                clock, merged = joined
                merged = merged if not over else clock.model_copy(update={"value": merged.value})
                entities = [e for e in entities if e is not clock] + [merged]
            else:
                entities.append(_entity("time", match.start, match.end, match.text, match.value, source))
        elif not over:
            entities.append(_entity("time", match.start, match.end, match.text, match.value, source))
        elif kind != "part_of_day" and all(
                e.type in ("time", "date", "date_range") and match.start <= e.start and e.end <= match.end
                for e in over) and any(e.type != "time" or (e.start, e.end) != where for e in over):
            # hours and minutes are no dates: "the next 24 hours" over a tagged "24", "2hrs" tagged a range
            entities = [e for e in entities if e not in over]
            entities.append(_entity("time", match.start, match.end, match.text, match.value, source))
    return entities


# "between 2 and 4 pm", "from 9 to 11 in the morning": the first hour borrows the second's period.
_RANGE_JOIN = re.compile(r"\s*(?:-|–|to|and|till|until)\s*", re.IGNORECASE)
_PERIOD_END = re.compile(r"(?:a\.?\s?m\.?|p\.?\s?m\.?|(?:in\s+the\s+)?(?:morning|afternoon|evening)|(?:at\s+)?night)$",
                         re.IGNORECASE)


def _shared_periods(text: str, entities: list[Entity], *, now: datetime) -> list[Entity]:
    """A bare hour before a time said with its period takes the period, if it stays the earlier."""
    times = sorted((e for e in entities if e.type == "time" and isinstance(e.value, str)), key=lambda e: e.start)
    for first, second in zip(times, times[1:]):
        period = _PERIOD_END.search(second.text)
        if period and re.fullmatch(r"\d{1,2}", first.text) and _RANGE_JOIN.fullmatch(text, first.end, second.start):
            value = parse_time(f"{first.text} {period.group(0)}", now=now)
            if value is not None and value <= str(second.value):
                entities = [first.model_copy(update={"value": value}) if e is first else e for e in entities]
    return entities


def _joined_clock(text: str, entities: Sequence[Entity], part: Match, *, now: datetime
                  ) -> tuple[Entity, Entity] | None:
    """(the bare clock time next to ``part``, the two as one clock entity), or None."""
    for clock in entities:
        if clock.type != "time" or not isinstance(clock.value, str) or not re.fullmatch(r"[\d:.\s]+", clock.text):
            continue
        if clock.end <= part.start and _CLOCK_JOIN.fullmatch(text, clock.end, part.start):
            start, end = clock.start, part.end
        elif part.end <= clock.start and _CLOCK_JOIN.fullmatch(text, part.end, clock.start):
            start, end = part.start, clock.end
        else:
            continue
        value = parse_time(f"{clock.text} {part.text}", now=now)
        if value is not None:
            return clock, _entity("time", start, end, text[start:end], value, clock.source)
    return None


def _json_value(value: Any) -> Any:
    """Dates as ISO strings and ranges as ``{from, to}``, as the tagger's path gives them."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, date) for v in value):
        return {"from": value[0].isoformat(), "to": value[1].isoformat()}
    return value


def _entity(kind: str, start: int, end: int, text: str, value: Any, source: Source) -> Entity:
    return Entity(type=kind, text=text, start=start, end=end, value=value, source=source)


__all__ = ["EntityExtractor", "normalise"]
