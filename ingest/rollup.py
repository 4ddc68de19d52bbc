"""Usage rollups kept current incrementally: recompute exactly the meter-hours that changed.

Each ingest transaction queues, per meter, the time range of the readings it inserted
(``usage_dirty``); so does a change of a meter's configuration (migration 0011's trigger: the span
whose configuration changed). A new reading at ``ts`` changes the increments to its previous and
next readings, so the hours to recompute run from the previous reading to the next one; the
readings of that window plus one neighbour on each side give every increment overlapping it
(ingest/counters.py), each under the configuration in force over it (``meter_config``). Days and
months above those hours are re-summed in the deployment time zone.

Memory is bounded whatever the backlog: readings stream from a server-side cursor ordered by meter
and time, ``chunk_rows`` at a time, and a meter's window is computed in hour-aligned pieces once
``chunk_rows`` readings of it are held; each piece's usage is written before the next is read.

With a raw-data retention (``raw_retention``), no hour starting before ``now() - raw_retention`` is
rewritten: its readings may be gone (ingest/retention.py), and kept rollups must not change.

One rollup at a time across all workers (a transaction-level advisory lock): two workers sharing a
stream never interleave rewrites of the same meter's hours.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from ingest.counters import ConfigPeriod, MeterSpec, ceil_hour, compute_usage, floor_hour
from ingest.retention import raw_horizon
from store.codes import UnitError, conversion_factor, normalize_unit

ROLLUP_LOCK_KEY = 0x6A6E726F6C6C7570  # "jnrollup"
# Readings held in Python at once, per fetch and per meter piece (about 100 bytes each).
CHUNK_ROWS = 50_000
_EPS = timedelta(microseconds=1)

# Ordered by meter and time so one pass over the cursor sees each meter's readings in order.
_LOAD = """
WITH w AS (SELECT * FROM unnest(%(m)s::text[], %(a)s::timestamptz[], %(b)s::timestamptz[]) AS w(meter_id, r_start, r_end))
SELECT w.meter_id, r.ts, r.value
FROM w CROSS JOIN LATERAL (SELECT
    coalesce((SELECT max(p.ts) FROM reading p WHERE p.meter_id = w.meter_id AND p.ts < w.r_start), w.r_start) AS lo,
    coalesce((SELECT min(n.ts) FROM reading n WHERE n.meter_id = w.meter_id AND n.ts > w.r_end), w.r_end) AS hi) b
JOIN reading r ON r.meter_id = w.meter_id AND r.ts >= b.lo AND r.ts <= b.hi
ORDER BY w.meter_id, r.ts
"""

_NEIGHBOURS = """
WITH d AS (SELECT * FROM unnest(%(m)s::text[], %(lo)s::timestamptz[], %(hi)s::timestamptz[]) AS d(meter_id, lo, hi))
SELECT d.meter_id,
    coalesce((SELECT r.ts FROM reading r WHERE r.meter_id = d.meter_id AND r.ts < d.lo ORDER BY r.ts DESC LIMIT 1), d.lo),
    coalesce((SELECT r.ts FROM reading r WHERE r.meter_id = d.meter_id AND r.ts > d.hi ORDER BY r.ts LIMIT 1), d.hi),
    m.unit, m.register, m.multiplier, m.rollover, m.max_rate_per_h
FROM d JOIN meter m ON m.id = d.meter_id
"""

_CONFIGS = """
SELECT meter_id, nullif(valid_from, '-infinity'), unit, register, multiplier, rollover, max_rate_per_h
FROM meter_config WHERE meter_id = ANY(%s) ORDER BY meter_id, valid_from
"""

_WINDOW = "unnest(%(m)s::text[], %(a)s::timestamptz[], %(b)s::timestamptz[]) AS w(meter_id, r_start, r_end)"

_DAYS_W = f"""
WITH w AS (SELECT meter_id, (r_start AT TIME ZONE %(tz)s)::date AS d0,
                  ((r_end - interval '1 microsecond') AT TIME ZONE %(tz)s)::date AS d1 FROM {_WINDOW})
"""
# Every DELETE also carries the batch's meters and time span as constants (the `_BOUNDS` parameters):
# on a TimescaleDB hypertable with compressed chunks, a condition that comes only from the join gives
# neither chunk exclusion nor segment filtering, so every compressed chunk would be decompressed.
_DEL_DAYS = _DAYS_W + (
    "DELETE FROM usage_daily u USING w WHERE u.meter_id = w.meter_id AND u.day BETWEEN w.d0 AND w.d1"
    " AND u.meter_id = ANY(%(m)s::text[])"
    " AND u.day BETWEEN (%(a_min)s::timestamptz AT TIME ZONE %(tz)s)::date"
    " AND ((%(b_max)s::timestamptz - interval '1 microsecond') AT TIME ZONE %(tz)s)::date"
)
_REDO_DAYS = (
    _DAYS_W
    + """
INSERT INTO usage_daily (meter_id, day, consumption)
SELECT h.meter_id, (h.hour AT TIME ZONE %(tz)s)::date, sum(h.consumption)
FROM w JOIN usage_hourly h ON h.meter_id = w.meter_id
    AND h.hour >= (w.d0::timestamp AT TIME ZONE %(tz)s) AND h.hour < ((w.d1 + 1)::timestamp AT TIME ZONE %(tz)s)
GROUP BY 1, 2
"""
)

_MONTHS_W = f"""
WITH w AS (SELECT meter_id, date_trunc('month', (r_start AT TIME ZONE %(tz)s))::date AS m0,
                  date_trunc('month', ((r_end - interval '1 microsecond') AT TIME ZONE %(tz)s))::date AS m1
           FROM {_WINDOW})
"""
_DEL_MONTHS = _MONTHS_W + (
    "DELETE FROM usage_monthly u USING w WHERE u.meter_id = w.meter_id AND u.month BETWEEN w.m0 AND w.m1"
    " AND u.meter_id = ANY(%(m)s::text[])"
    " AND u.month >= date_trunc('month', (%(a_min)s::timestamptz AT TIME ZONE %(tz)s))::date"
    " AND u.month <= date_trunc('month', ((%(b_max)s::timestamptz - interval '1 microsecond') AT TIME ZONE %(tz)s))::date"
)
_REDO_MONTHS = (
    _MONTHS_W
    + """
INSERT INTO usage_monthly (meter_id, month, consumption)
SELECT d.meter_id, date_trunc('month', d.day)::date, sum(d.consumption)
FROM w JOIN usage_daily d ON d.meter_id = w.meter_id
    AND d.day >= w.m0 AND d.day < (w.m1 + interval '1 month')::date
GROUP BY 1, 2
"""
)


@dataclass
class RollupStats:
    meters: int
    meter_hours: int
    lag_s: float
    queued: int
    pieces: int = 0  # compute steps (a meter's window is cut into several when it holds many readings)
    max_rows_held: int = 0  # most readings held in Python at once


def _unit_factor(unit: str, reporting_unit: str) -> float | None:
    if unit == reporting_unit:
        return 1.0
    try:
        return conversion_factor(normalize_unit(unit), normalize_unit(reporting_unit))
    except UnitError:
        return None  # the registry import refuses such a history; SQL written by hand may not


def load_histories(conn: psycopg.Connection, units: dict[str, str]) -> dict[str, list[ConfigPeriod]]:
    """Each meter's configuration periods, amounts converted to ``units[meter]`` (its current unit)."""
    out: dict[str, list[ConfigPeriod]] = defaultdict(list)
    for meter_id, valid_from, unit, register, mult, rollover, max_rate in conn.execute(
        _CONFIGS, (list(units),)
    ):
        factor = _unit_factor(unit, units[meter_id])
        out[meter_id].append(ConfigPeriod(valid_from, MeterSpec(register, mult, rollover, max_rate, factor)))
    return out


class _Writer:
    """Computed usage written as it comes, in batches, so none of it accumulates."""

    def __init__(self, conn: psycopg.Connection, batch_rows: int) -> None:
        self.conn = conn
        self.batch_rows = batch_rows
        self.hourly: list[tuple] = []
        self.quarantine: list[tuple] = []
        self.events: list[tuple] = []
        self.hours_written = 0

    def add(self, meter_id: str, res) -> None:
        self.hourly.extend((meter_id, h, v) for h, v in res.hourly.items())
        self.quarantine.extend((meter_id, q.ts_from, q.ts_to, q.increment, q.reason) for q in res.quarantined)
        self.events.extend((meter_id, e.ts_from, e.ts_to, e.kind) for e in res.events)
        if len(self.hourly) + len(self.quarantine) + len(self.events) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        with self.conn.cursor() as cur:
            if self.hourly:
                with cur.copy("COPY usage_hourly (meter_id, hour, consumption) FROM STDIN") as copy:
                    for row in self.hourly:
                        copy.write_row(row)
            # A quarantine or event straddling two pieces of a window is found by both: written once.
            if self.quarantine:
                cur.executemany(
                    "INSERT INTO usage_quarantine (meter_id, ts_from, ts_to, increment, reason)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    self.quarantine,
                )
            if self.events:
                cur.executemany(
                    "INSERT INTO usage_counter_event (meter_id, ts_from, ts_to, kind) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    self.events,
                )
        self.hours_written += len(self.hourly)
        self.hourly, self.quarantine, self.events = [], [], []


def run_rollup(
    conn: psycopg.Connection,
    tz: str,
    max_ranges: int = 20_000,
    raw_retention: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> RollupStats | None:
    """Process queued ranges (up to ``max_ranges``) in one transaction.

    ``raw_retention`` (a PostgreSQL interval): hours starting before ``now() - raw_retention`` are
    never rewritten; ranges lying wholly before it are dropped from the queue with nothing recomputed.
    ``chunk_rows``: readings fetched at a time, and held per meter before its window is cut at an
    hour (a meter with more readings than this in one hour holds that hour's readings).

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
        units: dict[str, str] = {}
        current: dict[str, MeterSpec] = {}
        for meter_id, prev_ts, next_ts, unit, register, mult, rollover, max_rate in nb:
            start, end = floor_hour(prev_ts - _EPS), floor_hour(next_ts - _EPS) + timedelta(hours=1)
            if first_hour is not None:
                start = max(start, first_hour)
                if start >= end:
                    continue
            windows[meter_id] = (start, end)
            units[meter_id] = unit
            current[meter_id] = MeterSpec(register, mult, rollover, max_rate)
        ids = list(windows)
        if not ids:
            return RollupStats(0, 0, 0.0, queued)
        histories = load_histories(conn, units)
        wparams = {"m": ids, "a": [windows[m][0] for m in ids], "b": [windows[m][1] for m in ids]}
        wparams["a_min"], wparams["b_max"] = min(wparams["a"]), max(wparams["b"])

        for table, lo_col, hi_col in (
            ("usage_hourly", "hour", None),
            ("usage_quarantine", "ts_from", "ts_to"),
            ("usage_counter_event", "ts_from", "ts_to"),
        ):
            if hi_col is None:
                cond = f"t.{lo_col} >= w.r_start AND t.{lo_col} < w.r_end"
            else:
                cond = f"t.{hi_col} > w.r_start AND t.{lo_col} < w.r_end"
            first = f"t.{lo_col} >= %(a_min)s" if hi_col is None else f"t.{hi_col} > %(a_min)s"
            bounds = f"t.meter_id = ANY(%(m)s::text[]) AND {first} AND t.{lo_col} < %(b_max)s"
            conn.execute(
                f"DELETE FROM {table} t USING {_WINDOW} WHERE t.meter_id = w.meter_id AND {cond} AND {bounds}",
                wparams,
            )

        out = _Writer(conn, chunk_rows)
        pieces = 0
        max_held = 0
        meter: str | None = None
        buf: list[tuple[datetime, float]] = []
        piece_start: datetime | None = None

        def compute(upto: datetime) -> None:
            nonlocal pieces
            hist = histories.get(meter) or [ConfigPeriod(None, current[meter])]
            out.add(meter, compute_usage(buf, hist, piece_start, upto))
            pieces += 1

        with conn.cursor(name="jieneng_rollup_load") as cur:
            cur.execute(_LOAD, wparams)
            while fetched := cur.fetchmany(chunk_rows):
                for meter_id, ts, value in fetched:
                    if meter_id != meter:
                        if meter is not None:
                            compute(windows[meter][1])
                        meter, buf, piece_start = meter_id, [], windows[meter_id][0]
                    buf.append((ts, value))
                    if len(buf) >= chunk_rows:
                        max_held = max(max_held, len(buf) + len(fetched))
                        # Every increment touching an hour before the last reading's hour is complete.
                        cut = min(floor_hour(buf[-1][0]), windows[meter][1])
                        if cut > piece_start:
                            compute(cut)
                            keep = max(0, bisect_left([t for t, _ in buf], cut) - 1)
                            buf, piece_start = buf[keep:], cut
                max_held = max(max_held, len(buf) + len(fetched))
            if meter is not None:
                compute(windows[meter][1])
        out.flush()

        with conn.cursor() as cur:
            for stmt in (_DEL_DAYS, _REDO_DAYS, _DEL_MONTHS, _REDO_MONTHS):
                cur.execute(stmt, {**wparams, "tz": tz})
        # Lag: from the oldest queued range's commit to now, when its usage is about to commit.
        lag_s = conn.execute(
            "INSERT INTO rollup_run (meter_hours, lag_s) VALUES (%s, extract(epoch FROM clock_timestamp() - %s))"
            " RETURNING lag_s",
            (out.hours_written, min(r[3] for r in rows)),
        ).fetchone()[0]
        return RollupStats(len(ids), out.hours_written, float(lag_s), queued, pieces, max_held)


def rollup_until_idle(
    conn: psycopg.Connection, tz: str, raw_retention: str | None = None, chunk_rows: int = CHUNK_ROWS
) -> int:
    """Run rollups until the queue is empty (tests, benchmarks, shutdown). Returns ranges processed."""
    total = 0
    while True:
        stats = run_rollup(conn, tz, raw_retention=raw_retention, chunk_rows=chunk_rows)
        if stats is None:
            time.sleep(0.05)
            continue
        if stats.queued == 0:
            return total
        total += stats.queued
