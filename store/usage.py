"""Usage series that scoring, the API and dashboards read (tables written by ingest/rollup.py).

Consumption is in each meter's unit with its multiplier applied. Day, month and year buckets are
local calendar buckets in the deployment time zone (``deployment_setting.timezone``); a bucket is
returned when its local start lies in [start, end).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import psycopg

from store.deployment import TIMEZONE_SQL

Bucket = Literal["hour", "day", "month", "year"]

_TZ = TIMEZONE_SQL

_QUERIES: dict[str, str] = {
    "hour": """
        SELECT meter_id, hour, consumption FROM usage_hourly
        WHERE (%(all)s OR meter_id = ANY(%(ids)s)) AND hour >= %(start)s AND hour < %(end)s
        ORDER BY meter_id, hour""",
    "day": f"""
        SELECT meter_id, (day::timestamp AT TIME ZONE {_TZ}) AS b, consumption FROM usage_daily
        WHERE (%(all)s OR meter_id = ANY(%(ids)s))
          AND day >= (%(start)s AT TIME ZONE {_TZ})::date - 1 AND day <= (%(end)s AT TIME ZONE {_TZ})::date
          AND (day::timestamp AT TIME ZONE {_TZ}) >= %(start)s AND (day::timestamp AT TIME ZONE {_TZ}) < %(end)s
        ORDER BY meter_id, day""",
    "month": f"""
        SELECT meter_id, (month::timestamp AT TIME ZONE {_TZ}) AS b, consumption FROM usage_monthly
        WHERE (%(all)s OR meter_id = ANY(%(ids)s))
          AND (month::timestamp AT TIME ZONE {_TZ}) >= %(start)s AND (month::timestamp AT TIME ZONE {_TZ}) < %(end)s
        ORDER BY meter_id, month""",
    "year": f"""
        SELECT meter_id, (date_trunc('year', month)::timestamp AT TIME ZONE {_TZ}) AS b, sum(consumption)
        FROM usage_monthly
        WHERE (%(all)s OR meter_id = ANY(%(ids)s))
        GROUP BY meter_id, date_trunc('year', month)
        HAVING (date_trunc('year', month)::timestamp AT TIME ZONE {_TZ}) >= %(start)s
           AND (date_trunc('year', month)::timestamp AT TIME ZONE {_TZ}) < %(end)s
        ORDER BY meter_id, 2""",
}


def usage_series(
    conn: psycopg.Connection,
    meter_ids: list[str] | None,
    start: datetime,
    end: datetime,
    bucket: Bucket,
) -> list[tuple[str, datetime, float]]:
    """(meter_id, bucket_start, consumption) for buckets starting in [start, end); None: every meter."""
    if bucket not in _QUERIES:
        raise ValueError(f"bucket must be one of {', '.join(_QUERIES)}, not {bucket!r}")
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    params = {"all": meter_ids is None, "ids": list(meter_ids or []), "start": start, "end": end}
    return [(m, b, float(c)) for m, b, c in conn.execute(_QUERIES[bucket], params).fetchall()]


_METER_TOTAL = """
SELECT coalesce(sum(consumption), 0) FROM usage_hourly
WHERE meter_id = %(meter_id)s AND hour >= %(start)s AND hour < %(end)s
"""


def meter_total(conn: psycopg.Connection, meter_id: str, start: datetime, end: datetime) -> float:
    """Sum of hourly usage in [start, end) for one meter (hour-aligned bounds are exact)."""
    row = conn.execute(_METER_TOTAL, {"meter_id": meter_id, "start": start, "end": end}).fetchone()
    return float(row[0])
