"""CalTRACK data sufficiency beyond span and coverage: the baseline is the year immediately before the
intervention, so a year long before it (other changes in between) is refused with the reason."""

from __future__ import annotations

import datetime as dt

from savings import methodology
from savings.sufficiency import baseline_problems, days_between

RULES = methodology.load().spec.sufficiency
BASE = (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
ALL = set(days_between(*BASE))


def test_baseline_ending_the_day_before_installation_passes():
    assert baseline_problems(*BASE, ALL, RULES, install_from=dt.date(2026, 1, 1)) == []


def test_baseline_long_before_installation_is_refused():
    problems = baseline_problems(*BASE, ALL, RULES, install_from=dt.date(2026, 6, 1))
    assert problems == [
        "baseline period ends 2025-12-31 but installation starts 2026-06-01: the method's "
        "baseline is the 365 days immediately before the intervention (151 days in between)"
    ]


def test_a_366_day_baseline_needs_a_leap_day():
    first, last = dt.date(2025, 1, 1), dt.date(2026, 1, 1)  # 366 days, no 29 February
    problems = baseline_problems(first, last, set(days_between(first, last)), RULES)
    assert problems == [
        "baseline period 2025-01-01..2026-01-01 spans 366 days without a 29 February; the method allows 365"
    ]
    first, last = dt.date(2024, 1, 1), dt.date(2024, 12, 31)  # the calendar leap year
    assert baseline_problems(first, last, set(days_between(first, last)), RULES) == []
