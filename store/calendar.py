"""Working days and public holidays in mainland China, 2024–2027: the one calendar of the project.

Holidays and make-up working days (调休) follow the State Council General Office notices:
国办发明电〔2023〕7号 (2024), 〔2024〕12号 (2025), 〔2025〕7号 (2026). 2027 had not been announced when this
table was written: its dates are projected from the lunar calendar (Spring Festival 2027-02-06, Dragon Boat
06-09, Mid-Autumn 09-15) using the 2025 rules (8 days at Spring Festival, 5 at Labour Day); replace them
when the notice appears. `tests/sim/test_calendar.py` checks 2024–2026 against the `chinese-calendar` package.

The simulator reads it from here; `jieneng db migrate` writes it into the ``calendar_day`` table
(:func:`sync`) so SQL (the dashboards' base load, the night-load alert) classifies days the same way.
Outside the table's years a day is a working day when it is Monday to Friday.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import psycopg

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


def calendar_rows() -> list[tuple[dt.date, bool, str | None]]:
    """(day, working day, holiday name) for every day of :data:`YEARS`."""
    day, last = dt.date(YEARS[0], 1, 1), dt.date(YEARS[-1], 12, 31)
    out = []
    while day <= last:
        out.append((day, is_workday(day), holiday_name(day)))
        day += dt.timedelta(days=1)
    return out


_CREATE_NEW = """
CREATE TEMP TABLE calendar_new (day date, workday boolean, holiday text) ON COMMIT DROP
"""

_COPY_NEW = """
COPY calendar_new (day, workday, holiday) FROM STDIN
"""

_MERGE_NEW = """
INSERT INTO calendar_day (day, workday, holiday) SELECT day, workday, holiday FROM calendar_new
ON CONFLICT (day) DO UPDATE SET workday = excluded.workday, holiday = excluded.holiday
WHERE (calendar_day.workday, calendar_day.holiday) IS DISTINCT FROM (excluded.workday, excluded.holiday)
"""


def sync(conn: psycopg.Connection) -> int:
    """Make ``calendar_day`` match this table (idempotent); returns the number of rows changed."""
    rows = calendar_rows()
    with conn.cursor() as cur:
        cur.execute(_CREATE_NEW)
        with cur.copy(_COPY_NEW) as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(_MERGE_NEW)
        return cur.rowcount
