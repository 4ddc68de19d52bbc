"""The holiday table against the published State Council notices (via chinese-calendar), and school terms."""

from __future__ import annotations

import datetime as dt

import pytest

from sim.calendar import in_school_term, is_workday


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_working_days_match_the_state_council_notices(year):
    chinese_calendar = pytest.importorskip("chinese_calendar")
    day = dt.date(year, 1, 1)
    mismatches = []
    while day.year == year:
        if is_workday(day) != chinese_calendar.is_workday(day):
            mismatches.append(day.isoformat())
        day += dt.timedelta(days=1)
    assert mismatches == []


def test_make_up_saturday_is_a_working_day_and_national_day_is_not():
    assert is_workday(dt.date(2025, 10, 11))  # Saturday, make-up day
    assert not is_workday(dt.date(2025, 10, 8))  # Wednesday, National Day holiday
    assert not is_workday(dt.date(2027, 10, 4))  # projected 2027 National Day


def test_2027_has_every_statutory_holiday():
    from sim.calendar import _HOLIDAYS

    names = {name for name, _, _ in _HOLIDAYS[2027]}
    assert {
        "new_year",
        "spring_festival",
        "qingming",
        "labour_day",
        "dragon_boat",
        "mid_autumn",
        "national_day",
    } <= names


@pytest.mark.parametrize(
    ("day", "term"),
    [
        ("2025-03-10", True),
        ("2025-07-20", False),
        ("2025-08-31", False),
        ("2025-09-01", True),
        ("2025-02-05", False),
        ("2026-01-10", True),
        ("2026-02-10", False),
        ("2026-12-01", True),
    ],
)
def test_school_terms(day, term):
    assert in_school_term(dt.date.fromisoformat(day)) is term
