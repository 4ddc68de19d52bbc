"""Working days, public holidays and school terms in mainland China, 2024–2027 (shared: the simulator and savings use it).

Holidays and make-up working days (调休) follow the State Council General Office notices:
国办发明电〔2023〕7号 (2024), 〔2024〕12号 (2025), 〔2025〕7号 (2026). 2027 had not been announced when this
table was written: its dates are projected from the lunar calendar (Spring Festival 2027-02-06, Dragon Boat
06-09, Mid-Autumn 09-15) using the 2025 rules (8 days at Spring Festival, 5 at Labour Day); replace them
when the notice appears. `tests/sim/test_calendar.py` checks 2024–2026 against the `chinese-calendar` package.

School terms follow the usual Jiangsu pattern: the winter vacation runs from about two weeks before the
Spring Festival to about two weeks after it; the summer vacation from early July to the end of August.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np

YEARS = (2024, 2025, 2026, 2027)


def _days(first: str, last: str) -> list[dt.date]:
    a, b = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [a + dt.timedelta(days=i) for i in range((b - a).days + 1)]


# (name, days off, make-up working days)
_HOLIDAYS: dict[int, list[tuple[str, list[dt.date], list[str]]]] = {
    2024: [
        ("new_year", _days("2024-01-01", "2024-01-01"), []),
        ("spring_festival", _days("2024-02-10", "2024-02-17"), ["2024-02-04", "2024-02-18"]),
        ("qingming", _days("2024-04-04", "2024-04-06"), ["2024-04-07"]),
        ("labour_day", _days("2024-05-01", "2024-05-05"), ["2024-04-28", "2024-05-11"]),
        ("dragon_boat", _days("2024-06-10", "2024-06-10"), []),
        ("mid_autumn", _days("2024-09-15", "2024-09-17"), ["2024-09-14"]),
        ("national_day", _days("2024-10-01", "2024-10-07"), ["2024-09-29", "2024-10-12"]),
    ],
    2025: [
        ("new_year", _days("2025-01-01", "2025-01-01"), []),
        ("spring_festival", _days("2025-01-28", "2025-02-04"), ["2025-01-26", "2025-02-08"]),
        ("qingming", _days("2025-04-04", "2025-04-06"), []),
        ("labour_day", _days("2025-05-01", "2025-05-05"), ["2025-04-27"]),
        ("dragon_boat", _days("2025-05-31", "2025-06-02"), []),
        ("national_day", _days("2025-10-01", "2025-10-08"), ["2025-09-28", "2025-10-11"]),  # with Mid-Autumn
    ],
    2026: [
        ("new_year", _days("2026-01-01", "2026-01-03"), ["2026-01-04"]),
        ("spring_festival", _days("2026-02-15", "2026-02-23"), ["2026-02-14", "2026-02-28"]),
        ("qingming", _days("2026-04-04", "2026-04-06"), []),
        ("labour_day", _days("2026-05-01", "2026-05-05"), ["2026-05-09"]),
        ("dragon_boat", _days("2026-06-19", "2026-06-21"), []),
        ("mid_autumn", _days("2026-09-25", "2026-09-27"), []),
        ("national_day", _days("2026-10-01", "2026-10-07"), ["2026-09-20", "2026-10-10"]),
    ],
    2027: [  # projected, see the module docstring
        ("new_year", _days("2027-01-01", "2027-01-03"), []),
        ("spring_festival", _days("2027-02-05", "2027-02-12"), ["2027-02-20"]),
        ("qingming", _days("2027-04-03", "2027-04-05"), []),
        ("labour_day", _days("2027-05-01", "2027-05-05"), ["2027-04-25", "2027-05-08"]),
        ("dragon_boat", _days("2027-06-09", "2027-06-09"), []),
        ("mid_autumn", _days("2027-09-15", "2027-09-15"), []),
        ("national_day", _days("2027-10-01", "2027-10-07"), ["2027-09-26", "2027-10-09"]),
    ],
}

SPRING_FESTIVAL = {
    2024: dt.date(2024, 2, 10),
    2025: dt.date(2025, 1, 29),
    2026: dt.date(2026, 2, 17),
    2027: dt.date(2027, 2, 6),
    2028: dt.date(2028, 1, 26),
}


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[dt.date, str], set[dt.date]]:
    off: dict[dt.date, str] = {}
    makeup: set[dt.date] = set()
    for entries in _HOLIDAYS.values():
        for name, days, work in entries:
            for d in days:
                off[d] = name
            makeup.update(dt.date.fromisoformat(w) for w in work)
    return off, makeup


def holiday_name(day: dt.date) -> str | None:
    """The public holiday ``day`` belongs to (days off only), or None."""
    return _tables()[0].get(day)


def is_workday(day: dt.date) -> bool:
    """True on a working day: Monday–Friday unless a public holiday, plus make-up working Saturdays/Sundays."""
    off, makeup = _tables()
    if day in makeup:
        return True
    if day in off:
        return False
    return day.weekday() < 5


def in_school_term(day: dt.date) -> bool:
    """True while schools teach: outside the winter vacation (Spring Festival −14 d … +16 d) and the
    summer vacation (6 July … 31 August)."""
    if dt.date(day.year, 7, 6) <= day <= dt.date(day.year, 8, 31):
        return False
    for year in (day.year, day.year + 1):
        sf = SPRING_FESTIVAL.get(year)
        if sf is not None and sf - dt.timedelta(days=14) <= day <= sf + dt.timedelta(days=16):
            return False
    return True


def day_flags(ordinals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For proleptic-Gregorian day ordinals: (workday, holiday, school term) boolean arrays."""
    uniq, inverse = np.unique(ordinals, return_inverse=True)
    days = [dt.date.fromordinal(int(o)) for o in uniq]
    work = np.array([is_workday(d) for d in days], dtype=bool)
    hol = np.array([holiday_name(d) is not None for d in days], dtype=bool)
    term = np.array([in_school_term(d) for d in days], dtype=bool)
    return work[inverse], hol[inverse], term[inverse]
