"""Key information in a ticket's texts: the learned tagger's spans with normalised values, plus
the structured identifiers (e-mail, phone, card, IBAN, reference) that patterns find exactly.

The tagger finds what needs context (is "cloyd" a person, is "17 30" a time); the parsers in
``values.py`` turn each span into a value. A structured find wins over a tagged span it overlaps:
"4111 1111 1111 1111" is a card, never an amount. Without a built tagger, the rule-based finders
of :mod:`worker.understanding.finders` stand in for dates, times and amounts, and names go unfound.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal

from worker.contract import Entity
from worker.pii.finders import card_spans
from worker.text.tagger import EntityTagger
from worker.understanding.finders import Match, find_structured, find_values
from worker.understanding.values import (
    parse_amount,
    parse_date,
    parse_date_range,
    parse_time,
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
        return parse_time(span, now=now)
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
            for span in spans:
                if any(_overlaps((span.start, span.end), other) for other in taken):
                    continue
                value = (_json_value(span.value) if isinstance(span, Match)
                         else normalise(span.type, span.text, before=text[: span.start], now=now))
                entities.append(_entity(span.type, span.start, span.end, span.text, value, source))
                taken.append((span.start, span.end))
            out.append(sorted(entities, key=lambda e: (e.start, e.end)))
        return out


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
