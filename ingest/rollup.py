"""Usage rollups kept current incrementally: recompute exactly the meter-hours that changed.

Each ingest transaction queues, per meter, the time range of the readings it inserted
(``usage_dirty``). A new reading at ``ts`` changes the increments to its previous and next
readings, so the hours to recompute run from the previous reading to the next one; the readings
of that window plus one neighbour on each side give every increment overlapping it
(ingest/counters.py). Days and months above those hours are re-summed in the deployment time zone.

With a raw-data retention (``raw_retention``), no hour starting before ``now() - raw_retention`` is
rewritten: its readings may be gone (ingest/retention.py), and kept rollups must not change.

One rollup at a time across all workers (a transaction-level advisory lock): two workers sharing a
stream never interleave rewrites of the same meter's hours.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from ingest.counters import MeterSpec, ceil_hour, compute_usage, floor_hour
from ingest.retention import raw_horizon

ROLLUP_LOCK_KEY = 0x6A6E726F6C6C7570  # "jnrollup"
_EPS = timedelta(microseconds=1)

_LOAD = """
WITH w AS (SELECT * FROM unnest(%(m)s::text[], %(a)s::timestamptz[], %(b)s::timestamptz[]) AS w(meter_id, r_start, r_end))
SELECT w.meter_id, r.ts, r.value FROM w
    JOIN reading r ON r.meter_id = w.meter_id AND r.ts >= w.r_start AND r.ts <= w.r_end
UNION ALL
SELECT w.meter_id, p.ts, p.value FROM w CROSS JOIN LATERAL (
    SELECT ts, value FROM reading r WHERE r.meter_id = w.meter_id AND r.ts < w.r_start ORDER BY ts DESC LIMIT 1) p
UNION ALL
SELECT w.meter_id, n.ts, n.value FROM w CROSS JOIN LATERAL (
    SELECT ts, value FROM reading r WHERE r.meter_id = w.meter_id AND r.ts > w.r_end ORDER BY ts LIMIT 1) n
"""

_NEIGHBOURS = """
WITH d AS (SELECT * FROM unnest(%(m)s::text[], %(lo)s::timestamptz[], %(hi)s::timestamptz[]) AS d(meter_id, lo, hi))
SELECT d.meter_id,
    coalesce((SELECT r.ts FROM reading r WHERE r.meter_id = d.meter_id AND r.ts < d.lo ORDER BY r.ts DESC LIMIT 1), d.lo),
    coalesce((SELECT r.ts FROM reading r WHERE r.meter_id = d.meter_id AND r.ts > d.hi ORDER BY r.ts LIMIT 1), d.hi),
    m.register, m.multiplier, m.rollover, m.max_rate_per_h
FROM d JOIN meter m ON m.id = d.meter_id
"""

_WINDOW = "unnest(%(m)s::text[], %(a)s::timestamptz[], %(b)s::timestamptz[]) AS w(meter_id, r_start, r_end)"

_DAYS_W = f"""
WITH w AS (SELECT meter_id, (r_start AT TIME ZONE %(tz)s)::date AS d0,
                  ((r_end - interval '1 microsecond') AT TIME ZONE %(tz)s)::date AS d1 FROM {_WINDOW})
"""
_DEL_DAYS = _DAYS_W + "DELETE FROM usage_daily u USING w WHERE u.meter_id = w.meter_id AND u.day BETWEEN w.d0 AND w.d1"
_REDO_DAYS = _DAYS_W + """
INSERT INTO usage_daily (meter_id, day, consumption)
SELECT h.meter_id, (h.hour AT TIME ZONE %(tz)s)::date, sum(h.consumption)
FROM w JOIN usage_hourly h ON h.meter_id = w.meter_id
    AND h.hour >= (w.d0::timestamp AT TIME ZONE %(tz)s) AND h.hour < ((w.d1 + 1)::timestamp AT TIME ZONE %(tz)s)
GROUP BY 1, 2
"""

_MONTHS_W = f"""
WITH w AS (SELECT meter_id, date_trunc('month', (r_start AT TIME ZONE %(tz)s))::date AS m0,
                  date_trunc('month', ((r_end - interval '1 microsecond') AT TIME ZONE %(tz)s))::date AS m1
           FROM {_WINDOW})
"""
_DEL_MONTHS = _MONTHS_W + (
    "DELETE FROM usage_monthly u USING w WHERE u.meter_id = w.meter_id AND u.month BETWEEN w.m0 AND w.m1"
)
_REDO_MONTHS = _MONTHS_W + """
INSERT INTO usage_monthly (meter_id, month, consumption)
SELECT d.meter_id, date_trunc('month', d.day)::date, sum(d.consumption)
FROM w JOIN usage_daily d ON d.meter_id = w.meter_id
    AND d.day >= w.m0 AND d.day < (w.m1 + interval '1 month')::date
GROUP BY 1, 2
"""


@dataclass
class RollupStats:
    meters: int
    meter_hours: int
    lag_s: float
    queued: int


def deployment_timezone(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT value FROM deployment_setting WHERE key = 'timezone'").fetchone()
    if row is None:
        raise RuntimeError("deployment_setting has no timezone: run `jieneng db migrate` first")
    return row[0]


def run_rollup(
    conn: psycopg.Connection, tz: str, max_ranges: int = 20_000, raw_retention: str | None = None
) -> RollupStats | None:
    """Process queued ranges (up to ``max_ranges``) in one transaction.

    ``raw_retention`` (a PostgreSQL interval): hours starting before ``now() - raw_retention`` are
    never rewritten; ranges lying wholly before it are dropped from the queue with nothing recomputed.

    ``conn`` must be in autocommit mode (the transaction is ours). Returns None when another
    worker holds the rollup lock, else the statistics (meters=0 when nothing was queued).
    """
    with conn.transaction():
        if not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (ROLLUP_LOCK_KEY,)).fetchone()[0]:
            return None
        rows = conn.execute(
            "WITH q AS (DELETE FROM usage_dirty WHERE id IN (SELECT id FROM usage_dirty ORDER BY id LIMIT %s)"
            " RETURNING meter_id, ts_min, ts_max, queued_at)"
            " SELECT meter_id, min(ts_min), max(ts_max), min(queued_at),"
            " count(*) FROM q GROUP BY meter_id",
            (max_ranges,),
        ).fetchall()
        if not rows:
            return RollupStats(0, 0, 0.0, 0)
        queued = sum(r[4] for r in rows)
        nb = conn.execute(
            _NEIGHBOURS, {"m": [r[0] for r in rows], "lo": [r[1] for r in rows], "hi": [r[2] for r in rows]}
        ).fetchall()
        horizon = raw_horizon(conn, raw_retention)
        # The first hour that may be rewritten: the one starting at or after the horizon.
        first_hour = None if horizon is None else ceil_hour(horizon)
        windows: dict[str, tuple[datetime, datetime]] = {}
        specs: dict[str, MeterSpec] = {}
        for meter_id, prev_ts, next_ts, register, mult, rollover, max_rate in nb:
            start, end = floor_hour(prev_ts - _EPS), floor_hour(next_ts - _EPS) + timedelta(hours=1)
            if first_hour is not None:
                start = max(start, first_hour)
                if start >= end:
                    continue
            windows[meter_id] = (start, end)
            specs[meter_id] = MeterSpec(register, mult, rollover, max_rate)
        ids = list(windows)
        if not ids:
            return RollupStats(0, 0, 0.0, queued)
        wparams = {"m": ids, "a": [windows[m][0] for m in ids], "b": [windows[m][1] for m in ids]}

        by_meter: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
        for meter_id, ts, value in conn.execute(_LOAD, wparams).fetchall():
            by_meter[meter_id].append((ts, value))

        hourly_rows = []
        quarantine_rows = []
        event_rows = []
        for meter_id in ids:
            start, end = windows[meter_id]
            res = compute_usage(by_meter.get(meter_id, ()), specs[meter_id], start, end)
            hourly_rows.extend((meter_id, h, v) for h, v in res.hourly.items())
            quarantine_rows.extend((meter_id, q.ts_from, q.ts_to, q.increment, q.reason) for q in res.quarantined)
            event_rows.extend((meter_id, e.ts_from, e.ts_to, e.kind) for e in res.events)

        for table, lo_col, hi_col in (
            ("usage_hourly", "hour", None),
            ("usage_quarantine", "ts_from", "ts_to"),
            ("usage_counter_event", "ts_from", "ts_to"),
        ):
            if hi_col is None:
                cond = f"t.{lo_col} >= w.r_start AND t.{lo_col} < w.r_end"
            else:
                cond = f"t.{hi_col} > w.r_start AND t.{lo_col} < w.r_end"
            conn.execute(f"DELETE FROM {table} t USING {_WINDOW} WHERE t.meter_id = w.meter_id AND {cond}", wparams)
        with conn.cursor() as cur:
            if hourly_rows:
                with cur.copy("COPY usage_hourly (meter_id, hour, consumption) FROM STDIN") as copy:
                    for row in hourly_rows:
                        copy.write_row(row)
            if quarantine_rows:
                cur.executemany(
                    "INSERT INTO usage_quarantine (meter_id, ts_from, ts_to, increment, reason)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    quarantine_rows,
                )
            if event_rows:
                cur.executemany(
                    "INSERT INTO usage_counter_event (meter_id, ts_from, ts_to, kind) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    event_rows,
                )
            for stmt in (_DEL_DAYS, _REDO_DAYS, _DEL_MONTHS, _REDO_MONTHS):
                cur.execute(stmt, {**wparams, "tz": tz})
        # Lag: from the oldest queued range's commit to now, when its usage is about to commit.
        lag_s = conn.execute(
            "INSERT INTO rollup_run (meter_hours, lag_s) VALUES (%s, extract(epoch FROM clock_timestamp() - %s))"
            " RETURNING lag_s",
            (len(hourly_rows), min(r[3] for r in rows)),
        ).fetchone()[0]
        return RollupStats(len(ids), len(hourly_rows), float(lag_s), queued)


def rollup_until_idle(conn: psycopg.Connection, tz: str, raw_retention: str | None = None) -> int:
    """Run rollups until the queue is empty (tests, benchmarks, shutdown). Returns ranges processed."""
    total = 0
    while True:
        stats = run_rollup(conn, tz, raw_retention=raw_retention)
        if stats is None:
            time.sleep(0.05)
            continue
        if stats.queued == 0:
            return total
        total += stats.queued
