"""Usage over a dashboard range, read as whole months plus the days around them, is the sum of its days.

dashboards.sql.range_usage answers the per-area, per-capita and by-city totals from usage_monthly for the whole
local months inside the range and usage_daily for the rest. Checked against the plain sum of usage_daily for
ranges that start and end on and off month boundaries, inside one month, across a year end and a leap February,
and for a single day; and it reads a year as twelve months and the days around them, not 365 days.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from dashboards.macros import expand
from dashboards.sql import LOCAL_DAY_FROM, LOCAL_DAY_TO, range_usage
from store.deployment import deployment_timezone

METERS = ("a", "b")
# (first local day, last local day), inclusive, as Grafana's range from local midnight to the last day's end
RANGES = [
    (date(2024, 1, 1), date(2024, 12, 31)),  # a whole year
    (date(2024, 1, 15), date(2025, 1, 14)),  # a year off the month boundaries
    (date(2024, 2, 1), date(2024, 2, 29)),  # one whole leap February
    (date(2024, 2, 3), date(2024, 2, 27)),  # inside one month
    (date(2024, 2, 3), date(2024, 3, 31)),  # a partial month then a whole one
    (date(2024, 3, 1), date(2024, 4, 10)),  # a whole month then a partial one
    (date(2024, 3, 31), date(2024, 4, 1)),  # two days across a month end
    (date(2024, 12, 20), date(2025, 2, 5)),  # across a year end
    (date(2024, 6, 7), date(2024, 6, 7)),  # one day
    (date(2023, 11, 20), date(2024, 1, 10)),  # begins before the data
]


def _seed(conn: psycopg.Connection) -> None:
    conn.execute(
        "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone) "
        "VALUES ('x', 'x', 'government', 'city', '320100', 'hot_summer_cold_winter')"
    )
    for k, mid in enumerate(METERS):
        conn.execute(
            "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at) "
            "VALUES (%s, 'x', 'electricity', 'kWh', 'cumulative', 'main', '2020-01-01+08')",
            (mid,),
        )
        # Every day a different amount, so a day counted twice or missed changes the sum.
        conn.execute(
            "INSERT INTO usage_daily (meter_id, day, consumption) "
            "SELECT %s, d::date, 100 + %s * 1000 + (d::date - '2024-01-01'::date) * 1.25 "
            "FROM generate_series('2024-01-01'::date, '2025-06-30'::date, interval '1 day') d",
            (mid, k),
        )
    conn.execute(
        "INSERT INTO usage_monthly (meter_id, month, consumption) "
        "SELECT meter_id, date_trunc('month', day)::date, sum(consumption) FROM usage_daily GROUP BY 1, 2"
    )
    conn.commit()


def _query(conn: psycopg.Connection, body: str, first: date, last: date) -> str:
    """``body`` expanded for Grafana's range from ``first``'s local midnight to the end of ``last``."""
    zone = ZoneInfo(deployment_timezone(conn))
    t_from = datetime.combine(first, time(), zone)
    t_to = datetime.combine(last + timedelta(days=1), time(), zone) - timedelta(milliseconds=1)
    return expand(body, {}, time_from=t_from, time_to=t_to)


@pytest.mark.parametrize(("first", "last"), RANGES, ids=[f"{a}..{b}" for a, b in RANGES])
def test_range_usage_is_the_sum_of_its_days(db_url, first, last):
    with psycopg.connect(db_url) as conn:
        _seed(conn)
        conn.execute("SET ROLE jieneng_grafana")
        got = conn.execute(
            _query(
                conn,
                f"SELECT m.id, sum(d.consumption) FROM meter m {range_usage('m.id')} GROUP BY 1 ORDER BY 1",
                first,
                last,
            )
        ).fetchall()
        want = conn.execute(
            _query(
                conn,
                "SELECT meter_id, sum(consumption) FROM usage_daily "
                f"WHERE day BETWEEN {LOCAL_DAY_FROM} AND {LOCAL_DAY_TO} GROUP BY 1 ORDER BY 1",
                first,
                last,
            )
        ).fetchall()
        assert [m for m, _ in got] == [m for m, _ in want]
        for (_, g), (_, w) in zip(got, want, strict=True):
            assert g == pytest.approx(w, rel=1e-12)


def test_a_year_is_read_as_months(db_url):
    with psycopg.connect(db_url) as conn:
        _seed(conn)
        rows = conn.execute(
            _query(
                conn,
                f"SELECT count(*) FROM meter m {range_usage('m.id')} WHERE m.id = 'a'",
                date(2024, 1, 15),
                date(2025, 1, 14),
            )
        ).fetchone()[0]
        assert rows == 11 + 17 + 14  # Feb–Dec whole; 15–31 Jan 2024 and 1–14 Jan 2025 by day
