"""Savings test helpers: a building of known truth written into a real database."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from .synthetic import building

TZ = ZoneInfo("Asia/Shanghai")


def seed_building(
    conn,
    meter_id: str,
    region: str,
    seed: int,
    cut: float,
    first=dt.date(2025, 1, 1),
    last=dt.date(2026, 11, 30),
    retrofit=dt.date(2026, 2, 1),
) -> dict:
    """Weather of ``region`` and complete hourly usage of ``meter_id``; returns the counterfactual per day."""
    temp, metered, _work, cf = building(seed, first, last, retrofit, cut)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO weather_daily (region_code, day, mean_temp_c) VALUES (%s, %s, %s)",
            [(region, d, t) for d, t in temp.items()],
        )
        with cur.copy("COPY usage_hourly (meter_id, hour, consumption) FROM STDIN") as cp:
            for d, v in metered.items():
                t0 = dt.datetime(d.year, d.month, d.day, tzinfo=TZ)
                for h in range(24):
                    cp.write_row((meter_id, t0 + dt.timedelta(hours=h), v / 24))
    return cf
