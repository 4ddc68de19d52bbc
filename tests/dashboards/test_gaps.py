"""The meter-health gaps panel lists every gap longer than the threshold that ends inside the range.

A gap that began before the range's start is shown from the meter's last reading before it: the
panel once paired only readings inside the range, so a dashboard opened an hour after a gap began
showed nothing for it (and the demo-data check failed when its seeding and its query fell either
side of an hour). Fixed times; run as jieneng_grafana, expanded as Grafana expands it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from dashboards import meters
from dashboards.macros import ALL, Variable, expand
from dashboards.sql import ALL_VALUE

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)
READINGS = {
    # readings at these hours after T0
    "x.gappy": [0, 1, 6, 7],  # a 5 h gap from T0+1h to T0+6h
    "x.steady": list(range(0, 9)),
    "x.late": [5, 6, 7],  # installed inside the range: nothing before it, no gap
    "y.gappy": [0, 1, 6, 7],  # another institution's, not chosen
}


def _seed(conn: psycopg.Connection) -> None:
    for iid in ("x", "y"):
        conn.execute(
            "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone) "
            "VALUES (%s, %s, 'government', 'city', '320100', 'hot_summer_cold_winter')",
            (iid, iid),
        )
    for mid, hours in READINGS.items():
        conn.execute(
            "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at) "
            "VALUES (%s, %s, 'electricity', 'kWh', 'cumulative', 'main', '2020-01-01+08')",
            (mid, mid.split(".")[0]),
        )
        for k, h in enumerate(hours):
            conn.execute(
                "INSERT INTO reading (meter_id, ts, value) VALUES (%s, %s, %s)", (mid, T0 + h * H, k)
            )
    conn.commit()
    conn.execute("SET ROLE jieneng_grafana")


def _gaps(conn, start_h: float, end_h: float, gap_hours: int = 2) -> list[tuple]:
    variables = {
        "region": Variable("region", ALL, multi=True, include_all=True, all_value=ALL_VALUE),
        "institution": Variable("institution", ["x"], multi=True, include_all=True, all_value=ALL_VALUE),
        "meter": Variable("meter", ALL, multi=True, include_all=True, all_value=ALL_VALUE),
        "gap_hours": Variable("gap_hours", str(gap_hours)),
    }
    q = expand(meters.GAPS, variables, time_from=T0 + start_h * H, time_to=T0 + end_h * H)
    return [(r[0], r[1], r[2], float(r[3])) for r in conn.execute(q).fetchall()]


def test_a_gap_that_began_before_the_range_is_listed_whole(db_url):
    with psycopg.connect(db_url) as conn:
        _seed(conn)
        gap = [("x.gappy", T0 + 1 * H, T0 + 6 * H, 5.0)]
        assert _gaps(conn, 0.5, 8) == gap  # wholly inside
        assert _gaps(conn, 2, 8) == gap  # began before the range
        assert _gaps(conn, 5.5, 8) == gap  # the range holds only the gap's end
        assert _gaps(conn, 2, 5) == []  # has not ended inside the range (the silent panels' case)
        assert _gaps(conn, 6.5, 8) == []  # ended before the range
        assert _gaps(conn, 0.5, 8, gap_hours=6) == []  # shorter than the threshold
