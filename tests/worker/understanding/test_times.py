"""Times of day, lengths of time and numbers that are no times: values, finders and the extractor."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from worker.text.tagger import TaggedSpan
from worker.understanding.entities import EntityExtractor
from worker.understanding.finders import find_structured, find_times, identifier_number
from worker.understanding.values import parse_duration, parse_part_of_day, read_time

NOW = datetime(2022, 3, 15, 9, 0, tzinfo=timezone.utc)  # a Tuesday, NLU++'s reference moment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8 hours", {"duration": "PT8H"}),
        ("for 8 hours", {"duration": "PT8H"}),
        ("30 minutes", {"duration": "PT30M"}),
        ("45 mins", {"duration": "PT45M"}),
        ("2hrs", {"duration": "PT2H"}),
        ("half an hour", {"duration": "PT30M"}),
        ("a half hour", {"duration": "PT30M"}),
        ("an hour and a half", {"duration": "PT1H30M"}),
        ("2 and a half hours", {"duration": "PT2H30M"}),
        ("1.5 hours", {"duration": "PT1H30M"}),
        ("90 minutes", {"duration": "PT1H30M"}),
        ("twenty five minutes", {"duration": "PT25M"}),
        ("a couple of hours", {"duration": "PT2H"}),
        ("few more hours", {"duration": "PT3H"}),
        ("in the last 4 hours", {"duration": "PT4H", "direction": "past"}),
        ("last hour", {"duration": "PT1H", "direction": "past"}),
        ("the next 24 hours", {"duration": "PT24H", "direction": "future"}),
        ("next hour and a half", {"duration": "PT1H30M", "direction": "future"}),
    ],
)
def test_lengths_of_time_become_iso_durations(text: str, expected: dict) -> None:
    """Counts in digits, words or vaguely ("a couple of") give an ISO 8601 duration, windows a direction."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "hours", "minutes", "5 nights", "banana hours", "0 minutes", "9000 hours"])
def test_no_length_gives_no_duration(text: str) -> None:
    """A unit without a count, a date unit, or an impossible length is no duration."""
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("text", "before", "expected"),
    [
        ("this morning", "", {"part_of_day": "morning", "date": "2022-03-15"}),
        ("tonight", "", {"part_of_day": "night", "date": "2022-03-15"}),
        ("this evening", "from ", {"part_of_day": "evening", "date": "2022-03-15"}),
        ("evening", "I tried yesterday ", {"part_of_day": "evening", "date": "2022-03-14"}),
        ("night", "I want to stay tomorrow ", {"part_of_day": "night", "date": "2022-03-16"}),
        ("morning", "till Friday ", {"part_of_day": "morning", "date": "2022-03-18"}),
        ("early afternoon", "call me in the ", {"part_of_day": "afternoon", "qualifier": "early"}),
        ("mid-morning", "", {"part_of_day": "morning", "qualifier": "mid"}),
        ("overnight", "", {"part_of_day": "night"}),
        ("in the morning", "", {"part_of_day": "morning"}),
    ],
)
def test_times_of_day_have_a_part_and_the_day_they_name(text: str, before: str, expected: dict) -> None:
    """A part of the day carries the date its own words or the words just before it name."""
    assert parse_part_of_day(text, now=NOW, before=before) == expected


def test_a_time_of_day_needs_now_for_its_date() -> None:
    """Without a reference moment "tonight" is still night, with no date."""
    assert parse_part_of_day("tonight") == {"part_of_day": "night"}
    assert parse_part_of_day("good morning") is None


@pytest.mark.parametrize(
    ("text", "before", "expected"),
    [
        ("3 hours", "", {"duration": "PT3H"}),
        ("10 hrs", "", {"duration": "PT10H"}),
        ("10 hrs", "meet at ", "10:00"),
        ("in 2 hours", "", "11:00"),
        ("in a couple of hours", "", "11:00"),
        ("in half an hour", "", "09:30"),
        ("15 minutes ago", "", "08:45"),
        ("midday", "", "12:00"),
        ("noon", "", "12:00"),
        ("half past 3 p.m.", "", "15:30"),
        ("tonight", "", {"part_of_day": "night", "date": "2022-03-15"}),
        ("banana", "", None),
    ],
)
def test_read_time_tells_clock_times_parts_of_day_and_lengths_apart(text: str, before: str, expected) -> None:
    """A length is never read as an hour of the clock ("3 hours" is not 03:00); "in 2 hours" is a moment."""
    assert read_time(text, now=NOW, before=before) == expected


def _times(text: str) -> list[tuple[str, object]]:
    return [(m.text, m.value) for m in find_times(text, now=NOW)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My card was declined this morning.", [("this morning", {"part_of_day": "morning", "date": "2022-03-15"})]),
        ("I tried yesterday evening.", [("evening", {"part_of_day": "evening", "date": "2022-03-14"})]),
        ("The branch was closed at midday.", [("midday", "12:00")]),
        ("Call me at noon or in the early afternoon.",
         [("noon", "12:00"), ("early afternoon", {"part_of_day": "afternoon", "qualifier": "early"})]),
        ("My account has been locked for 8 hours.", [("8 hours", {"duration": "PT8H"})]),
        ("Nothing works in the last 4 hours.", [("last 4 hours", {"duration": "PT4H", "direction": "past"})]),
        ("I waited 30 minutes, then half an hour more.",
         [("30 minutes", {"duration": "PT30M"}), ("half an hour", {"duration": "PT30M"})]),
        ("Down for a couple of hours.", [("a couple of hours", {"duration": "PT2H"})]),
        ("Send it in 2 hours.", [("in 2 hours", "11:00")]),
    ],
)
def test_times_of_day_and_lengths_are_found(text: str, expected: list) -> None:
    """The phrasings the tagger was never taught are found by rule, with their values."""
    assert _times(text) == expected


@pytest.mark.parametrize(
    "text",
    ["Good morning, I lost my card.", "Good evening team", "It was stolen last night.",
     "We offer 24 hour support.", "I was paid £10 an hour.", "Open 24 hours a day.",
     "It is a 5 minute walk.", "What are your opening hours?", "I changed it at the last minute.",
     "It has been hours.", "My PIN 1234 does not work.", "I live at 12 Oak Street."],
)
def test_greetings_rates_and_numbers_are_no_times(text: str) -> None:
    """Greetings, "last night" (a date), rates, adjectives, bare units and identifiers give no time."""
    assert _times(text) == []


@pytest.mark.parametrize(
    ("text", "number"),
    [("My PIN 1234 does not work", "1234"), ("my pin is 4321", "4321"), ("I use PIN code 2580", "2580"),
     ("I live at 12 Oak Street", "12"), ("send it to 22 high road", "22"),
     ("Please deliver to 221B Baker Street", "221B"),
     ("flat 5, 22 High Road", "5"), ("Room 12 has no water", "12"), ("my house number is 7", "7"),
     ("account 12345678", "12345678")],
)
def test_pins_flats_rooms_and_street_numbers_are_identifiers(text: str, number: str) -> None:
    """A bare number after PIN, code, flat, room or house, or before a street's name, is an identifier."""
    start = text.index(number)
    assert identifier_number(text, start, start + len(number))


@pytest.mark.parametrize(
    ("text", "number"),
    [("call me at 5 on Church Road", "5"), ("At 10 we drive to the branch", "10"), ("table for 2 at 8", "8"),
     ("I paid 50 yesterday", "50"), ("my pin is 4321", "is")],
)
def test_other_numbers_are_not_identifiers(text: str, number: str) -> None:
    """A time said near an address, or a plain amount, is not mistaken for an identifier."""
    start = text.index(number)
    assert not identifier_number(text, start, start + len(number))


def test_a_card_ending_without_in_is_a_card() -> None:
    """"card ending 4455" is a card's last four digits, never a time."""
    assert [(m.type, m.value) for m in find_structured("My card ending 4455 was charged")] == [("card_last4", "4455")]


def _extract(text: str, tagger=None) -> list[tuple[str, str, object]]:
    (found,) = EntityExtractor(tagger).extract([text], sources=["text"], nows=[NOW])
    return [(e.type, e.text, e.value) for e in found]


def test_a_day_and_its_part_are_a_date_and_a_time() -> None:
    """"yesterday evening" is a date ("yesterday") and a time ("evening") with the same day."""
    assert _extract("I tried to log in yesterday evening.") == [
        ("date", "yesterday", "2022-03-14"),
        ("time", "evening", {"part_of_day": "evening", "date": "2022-03-14"}),
    ]


def test_tonight_read_as_a_date_is_also_a_time() -> None:
    """A word that names both the day and its part gives both entities over the same words."""
    assert _extract("I need the money tonight") == [
        ("date", "tonight", "2022-03-15"),
        ("time", "tonight", {"part_of_day": "night", "date": "2022-03-15"}),
    ]


class _Tagger:
    """Stands in for the learned tagger: returns the given spans for every text."""

    def __init__(self, *spans: tuple[str, str]) -> None:
        self.spans = spans

    def tag(self, texts: list[str]) -> list[list[TaggedSpan]]:
        out = []
        for text in texts:
            found = []
            for kind, words in self.spans:
                start = text.index(words)
                found.append(TaggedSpan(kind, start, start + len(words), words, 0.9))
            out.append(found)
        return out


@pytest.mark.parametrize(
    ("text", "spans", "expected"),
    [
        ("The payment went out at 9 tonight", [("time", "9")], [("time", "9 tonight", "21:00")]),
        ("The payment went out at 9 tonight", [("time", "9"), ("date", "tonight")],
         [("time", "9", "21:00"), ("date", "tonight", "2022-03-15")]),
        ("Tonight at 9 I pay the rent", [("time", "9")], [("time", "Tonight at 9", "21:00")]),
        ("It was charged at 10:30 this morning", [], [("time", "10:30 this morning", "10:30")]),
        ("I will be free between 2 and 4 pm", [("time", "2"), ("time", "4 pm")],
         [("time", "2", "14:00"), ("time", "4 pm", "16:00")]),
        ("I will be free between 11 and 2 pm", [("time", "11"), ("time", "2 pm")],
         [("time", "11", "11:00"), ("time", "2 pm", "14:00")]),
    ],
)
def test_clock_times_take_the_part_of_day_said_with_them(text: str, spans: list, expected: list) -> None:
    """A bare hour next to a time of day, or before a time with its period, reads in that period."""
    assert _extract(text, _Tagger(*spans)) == expected


@pytest.mark.parametrize(
    ("text", "spans"),
    [("my pin is 4321 and it is blocked", [("time", "4321")]),
     ("I live at 12 Oak Street", [("time", "12")]),
     ("Send the card to flat 5, 22 High Road", [("time", "5, 22 High Road")]),
     ("My PIN 1234 does not work", [("amount", "1234")]),
     ("My code is 0930", [("time", "0930")]),
     ("sort code 12-34-56", [("time", "12-34-56")])],
)
def test_tagged_identifiers_are_dropped(text: str, spans: list) -> None:
    """PINs, codes, flat and street numbers the tagger took for times or amounts are not reported."""
    assert _extract(text, _Tagger(*spans)) == []


def test_a_length_replaces_the_number_tagged_inside_it() -> None:
    """"the next 24 hours" is one time, not a date range "24"."""
    text = "keep that booking for the next 24 hours please"
    assert _extract(text, _Tagger(("date_range", "24"))) == [
        ("time", "next 24 hours", {"duration": "PT24H", "direction": "future"})]


def test_a_tagged_date_keeps_its_day_and_gains_the_time_of_day() -> None:
    """When the tagger reads "this afternoon" as a date, the date stays and a time is added."""
    text = "freeze my account starting this afternoon"
    assert _extract(text, _Tagger(("date", "this afternoon"))) == [
        ("date", "this afternoon", "2022-03-15"),
        ("time", "this afternoon", {"part_of_day": "afternoon", "date": "2022-03-15"}),
    ]


def test_tagged_clock_times_are_kept() -> None:
    """A clock time the tagger found keeps its span and HH:MM value; rules add nothing over it."""
    text = "schedule the payment at 4 15 in the morning"
    assert _extract(text, _Tagger(("time", "4 15 in the morning"))) == [("time", "4 15 in the morning", "04:15")]


def test_a_window_with_minutes_is_found() -> None:
    """"during the next 8 minutes" is a length of time; "at the last minute" (no count) is not."""
    assert _times("during the next 8 minutes") == [("next 8 minutes", {"duration": "PT8M", "direction": "future"})]
