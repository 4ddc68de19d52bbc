"""Retention as ingest sees it: the raw-data horizon, and pruning of ingest and rollup statistics.

Intervals are PostgreSQL interval strings (``'30 days'``, ``'1 year'``) and PostgreSQL does the
arithmetic, so a month or a year means what it means to TimescaleDB's retention policy.

- ``raw_horizon``: readings older than ``now() - raw_retention`` may already have been dropped by
  TimescaleDB's retention policy (``store/timescale.py``). Ingest refuses them
  (``older_than_retention``) and the rollup never rewrites an hour that starts before it, so a late
  reading cannot recompute kept rollups against missing neighbours.
- ``prune_stats``: ``ingest_batch`` (one row per committed batch), ``rollup_run`` (one per
  rollup pass) and ``reading_received_hourly`` (readings received per meter and hour) are deleted
  past ``stats_retention``. Rejects, conflicts and quarantines are the
  record of what was refused or held out, and are kept.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

# Deleted in chunks so that a first prune after months of statistics does not hold one long transaction.
PRUNE_CHUNK_ROWS = 50_000

_STATS_TABLES = (
    ("ingest_batch", "committed_at"),
    ("rollup_run", "finished_at"),
    ("reading_received_hourly", "hour"),
)


class RetentionSettingInvalid(ValueError):
    pass


def check_interval(conn: psycopg.Connection, name: str, value: str | None) -> None:
    """Raise RetentionSettingInvalid unless ``value`` (when set) is a positive PostgreSQL interval."""
    if value is None:
        return
    try:
        with conn.transaction():
            positive = conn.execute("SELECT %s::interval > interval '0'", (value,)).fetchone()[0]
    except psycopg.errors.DataError as exc:  # invalid_datetime_format, interval_field_overflow, ...
        raise RetentionSettingInvalid(
            f"{name}={value!r} is not a PostgreSQL interval (e.g. '30 days', '1 year'): {str(exc).strip()}"
        ) from exc
    if not positive:
        raise RetentionSettingInvalid(f"{name}={value!r} must be a positive interval")


def raw_horizon(conn: psycopg.Connection, raw_retention: str | None) -> datetime | None:
    """``now() - raw_retention`` by the database's clock; None when raw data is kept forever."""
    if raw_retention is None:
        return None
    # In UTC, as every parsed reading is: validation compares each reading's ts with it.
    return conn.execute("SELECT now() - %s::interval", (raw_retention,)).fetchone()[0].astimezone(UTC)


def prune_stats(
    conn: psycopg.Connection, stats_retention: str, chunk_rows: int = PRUNE_CHUNK_ROWS
) -> dict[str, int]:
    """Delete the statistics (``_STATS_TABLES``) older than ``stats_retention``; rows deleted per table.

    ``conn`` must be in autocommit mode: each chunk is its own short transaction. Every time column
    is indexed, so a pass with nothing to delete is one index probe per table.
    """
    deleted: dict[str, int] = {}
    for table, column in _STATS_TABLES:
        total = 0
        cutoff = conn.execute("SELECT now() - %s::interval", (stats_retention,)).fetchone()[0]
        while True:
            n = conn.execute(
                f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
                f"SELECT ctid FROM {table} WHERE {column} < %s LIMIT %s))",
                (cutoff, chunk_rows),
            ).rowcount
            total += n
            if n < chunk_rows:
                break
        deleted[table] = total
    return deleted
