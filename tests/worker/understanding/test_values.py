"""Normalised values: dates, date ranges, times and amounts, with NLU++'s conventions."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from worker.understanding.values import (
    parse_amount,
    parse_date,
    parse_date_range,
    parse_time,
)

NOW = datetime(2022, 3, 15, 9, 0)  # a Tuesday, NLU++'s reference moment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yesterday", date(2022, 3, 14)),
        ("tomorrow", date(2022, 3, 16)),
        ("day after tomorrow", date(2022, 3, 17)),
        ("a couple of days ago", date(2022, 3, 13)),
        ("8 weeks ago", date(2022, 1, 18)),
        ("6 months ago", date(2021, 9, 15)),
        ("in 10 days", date(2022, 3, 25)),
        ("a fortnight today", date(2022, 3, 29)),
    ],
)
def test_relative_dates_resolve_against_now(text: str, expected: date) -> None:
    """Relative phrases count days, weeks and months from the ticket's creation."""
    assert parse_date(text, now=NOW) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tuesday", date(2022, 3, 22)),  # a bare weekday is the next one, never today
        ("Wednesday", date(2022, 3, 16)),
        ("next Tuesday", date(2022, 3, 22)),
        ("next Sunday", date(2022, 3, 27)),  # next week's Sunday
        ("last Monday", date(2022, 3, 14)),
        ("last Thursday", date(2022, 3, 10)),
        ("last week Monday", date(2022, 3, 7)),
        ("Wednesday in a week", date(2022, 3, 23)),
    ],
)
def test_weekdays_follow_nlupp_conventions(text: str, expected: date) -> None:
    """Bare and "next" weekdays look ahead, "last" looks back to the most recent one."""
    assert parse_date(text, now=NOW) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15th of October", date(2022, 10, 15)),
        ("Jan the 19th", date(2023, 1, 19)),  # a past month means next year's
        ("6th of March", date(2022, 3, 6)),  # the current month stays this year
        ("the 3rd", date(2022, 4, 3)),  # a day already past means next month's
        ("16th", date(2022, 3, 16)),
        ("Tuesday 2nd", date(2022, 8, 2)),  # the next 2nd that is a Tuesday
        ("24th Jan 2016", date(2016, 1, 24)),
        ("9/3/2019", date(2019, 3, 9)),  # day first
        ("2024-01-15", date(2024, 1, 15)),
        ("new years eve 2025", date(2025, 12, 31)),
    ],
)
def test_calendar_dates_pick_the_coming_year_or_month(text: str, expected: date) -> None:
    """Dates without a year or month fall on the next matching calendar day."""
    assert parse_date(text, now=NOW) == expected


def test_a_bare_month_is_its_first_or_last_day() -> None:
    """A month alone starts a period, or with end=True ends one ("to May")."""
    assert parse_date("April", now=NOW) == date(2022, 4, 1)
    assert parse_date("May", now=NOW, end=True) == date(2022, 5, 31)
    assert parse_date("January", now=NOW, end=True) == date(2023, 1, 31)


@pytest.mark.parametrize("text", ["", "   ", "banana", "32nd", "Feb 30", "some days ago", "x" * 500])
def test_unreadable_dates_give_none(text: str) -> None:
    """Nonsense, impossible and vague dates give None instead of raising."""
    assert parse_date(text, now=NOW) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("next week", (date(2022, 3, 21), date(2022, 3, 27))),
        ("this week", (date(2022, 3, 14), date(2022, 3, 20))),
        ("this month", (date(2022, 3, 1), date(2022, 3, 31))),
        ("previous month", (date(2022, 2, 1), date(2022, 2, 28))),
        ("this quarter", (date(2022, 1, 1), date(2022, 3, 31))),
        ("last year", (date(2021, 1, 1), date(2021, 12, 31))),
        ("last 3 days", (date(2022, 3, 12), date(2022, 3, 15))),
        ("next few days", (date(2022, 3, 16), date(2022, 3, 19))),
        ("August", (date(2022, 8, 1), date(2022, 8, 31))),
        ("from 3 to 6 January", (date(2023, 1, 3), date(2023, 1, 6))),
        ("between the 20th and the 5th", (date(2022, 3, 20), date(2022, 4, 5))),
    ],
)
def test_date_ranges_have_both_bounds(text: str, expected: tuple[date, date]) -> None:
    """Named periods, counted periods and explicit from-to spans give first and last day."""
    assert parse_date_range(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["", "lately", "3 nights", "from Friday to Monday to"])
def test_ranges_without_calendar_bounds_give_none(text: str) -> None:
    """Durations and vague periods have no absolute bounds."""
    assert parse_date_range(text, now=NOW) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("half past 3 p.m.", "15:30"),
        ("25 to 7 p.m.", "18:35"),
        ("9 05 in the morning", "09:05"),
        ("17 30", "17:30"),
        ("10 past 9 night", "21:10"),
        ("3 night", "03:00"),
        ("12:25 night", "00:25"),
        ("0 45 p.m.", "12:45"),
        ("20 to 2", "01:40"),
        ("quarter to 9", "08:45"),
        ("8pm", "20:00"),
        ("seven thirty pm", "19:30"),
        ("noon", "12:00"),
        ("10 o'clock", "10:00"),
    ],
)
def test_times_become_24_hour_clock(text: str, expected: str) -> None:
    """Spoken and written times, with their part of the day, become HH:MM."""
    assert parse_time(text) == expected


def test_relative_times_need_now() -> None:
    """"in 2 hours" and "15 minutes ago" resolve only against a given moment."""
    assert parse_time("in 2 hours", now=NOW) == "11:00"
    assert parse_time("15 minutes ago", now=NOW) == "08:45"
    assert parse_time("now", now=NOW) == "09:00"
    assert parse_time("in 2 hours") is None


@pytest.mark.parametrize("text", ["", "banana", "25:00", "9:75", "1730"])
def test_unreadable_times_give_none(text: str) -> None:
    """Impossible or ambiguous clock readings give None."""
    assert parse_time(text) is None


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("£900", 900.0, "GBP"),
        ("68.26$", 68.26, "USD"),
        ("80.24 pounds", 80.24, "GBP"),
        ("1,200 euros", 1200.0, "EUR"),
        ("1.200,50 €", 1200.5, "EUR"),
        ("fifty dollars", 50.0, "USD"),
        ("two hundred and fifty quid", 250.0, "GBP"),
        ("50p", 0.5, "GBP"),
        ("USD 30", 30.0, "USD"),
        ("$1 million", 1_000_000.0, "USD"),
        ("400", 400.0, None),
    ],
)
def test_amounts_have_a_number_and_a_currency(text: str, amount: float, currency: str | None) -> None:
    """Symbols, words and ISO codes give the currency; thousands and decimals are read right."""
    assert parse_amount(text) == {"amount": amount, "currency": currency}


@pytest.mark.parametrize("text", ["", "pounds", "banana"])
def test_amounts_without_a_number_give_none(text: str) -> None:
    """A currency with no number, or no amount at all, gives None."""
    assert parse_amount(text) is None


@pytest.mark.data
def test_held_out_nlupp_dates_are_mostly_right(data_dir: Path) -> None:
    """On NLU++ folds 8-9 (not tuned on), at least 85 % of gold date spans get the right day."""
    from worker.training.evaluation.values_check import (
        HELD_OUT_FOLDS,
        nlupp_slots,
        score,
    )

    if not (data_dir / "nlupp" / "banking" / "fold8.json").is_file():
        pytest.skip(f"NLU++ not found under {data_dir / 'nlupp'}")
    tally = score(nlupp_slots(data_dir, HELD_OUT_FOLDS))
    assert tally.total["date"] >= 50
    assert tally.accuracy("date") >= 0.85, tally.misses.get("date")
