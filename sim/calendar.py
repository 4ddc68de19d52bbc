"""Working days, public holidays and school terms in mainland China, 2024–2027.

Working days and holidays come from `store/calendar.py`, the calendar the dashboards' SQL uses too.

School terms follow the usual Jiangsu pattern: the winter vacation runs from about two weeks before the
Spring Festival to about two weeks after it; the summer vacation from early July to the end of August.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from store.calendar import _HOLIDAYS, YEARS, holiday_name, is_workday  # noqa: F401  (re-exported)

SPRING_FESTIVAL = {
    2024: dt.date(2024, 2, 10),
    2025: dt.date(2025, 1, 29),
    2026: dt.date(2026, 2, 17),
    2027: dt.date(2027, 2, 6),
    2028: dt.date(2028, 1, 26),
}


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
