"""How far ingest and the rollups have got: what the demo (and anything that waits on ingest) polls.

Read from ingest's small per-batch statistics (``ingest_batch``, 0005_ingest.sql) and the rollup queue
(``usage_dirty``) rather than by counting ``reading``, which would scan millions of rows twice a second
and slow the ingest being waited for; ``stored_in_range`` counts readings once, at the end.
"""

from __future__ import annotations

import datetime as dt

import psycopg

_NOW = """
SELECT clock_timestamp()
"""

_ACCOUNTED_ITEMS = """
SELECT coalesce(sum(items), 0) FROM ingest_batch WHERE committed_at >= %(since)s
"""

_COMMIT_RATE = """
SELECT sum(inserted), min(committed_at), max(committed_at) FROM ingest_batch WHERE committed_at >= %(since)s
"""

_STORED_IN_RANGE = """
SELECT count(*) FROM reading WHERE ts > %(start)s::timestamptz AND ts <= %(end)s::timestamptz
"""

_STORED_ON_GRID = """
SELECT count(*) FROM reading WHERE ts > %(start)s::timestamptz AND ts <= %(end)s::timestamptz
    AND extract(epoch FROM ts AT TIME ZONE %(tz)s)::bigint %% %(interval_s)s = 0
"""

_PENDING_ROLLUPS = """
SELECT count(*) FROM usage_dirty
"""


def db_now(conn: psycopg.Connection) -> dt.datetime:
    """The database server's clock (``committed_at`` is stamped by it, not by ours)."""
    return conn.execute(_NOW).fetchone()[0]


def accounted_items(conn: psycopg.Connection, since: dt.datetime) -> int:
    """Reading items ingest has committed since ``since``: stored, duplicate, conflicting or rejected.

    ``ingest_batch.items`` (0026_batch_items.sql) counts each item of a message once per delivery, a
    message ingest has seen before included: one published twice with the same bytes (a gateway's retry,
    a repeated backfill) counts twice, as it was published twice; so does one the broker delivers twice
    after a reconnect (a batch whose COMMIT lost its connection is not: ingest looks for its statistics row
    first, ingest.writer.CommitUnknown), which makes this an upper bound on what was published. A message
    rejected whole counts the items the parser counted in it, one when it held none it could count (not
    JSON, too large). Batches committed before the column existed have none (NULL) and count nothing.
    """
    return conn.execute(_ACCOUNTED_ITEMS, {"since": since}).fetchone()[0]


def commit_rate(
    conn: psycopg.Connection, since: dt.datetime
) -> tuple[int | None, dt.datetime | None, dt.datetime | None]:
    """Readings inserted since ``since``, with the first and the last commit time (all None: no batch)."""
    return tuple(conn.execute(_COMMIT_RATE, {"since": since}).fetchone())


def stored_in_range(
    conn: psycopg.Connection,
    start: str | dt.datetime,
    end: str | dt.datetime,
    interval_s: int | None = None,
    tz: str | None = None,
) -> int:
    """Readings stored in (start, end], on a reading grid of ``interval_s`` seconds in local time ``tz``
    when given (readings between grid points are not a backfill's). One scan of ``reading``."""
    if interval_s is None:
        return conn.execute(_STORED_IN_RANGE, {"start": start, "end": end}).fetchone()[0]
    params = {"start": start, "end": end, "tz": tz or "UTC", "interval_s": interval_s}
    return conn.execute(_STORED_ON_GRID, params).fetchone()[0]


def pending_rollups(conn: psycopg.Connection) -> int:
    """Meter-hours that ingest has touched and the rollup step has not yet recomputed."""
    return conn.execute(_PENDING_ROLLUPS).fetchone()[0]
