"""The TimescaleDB path: hypertable, compression and retention for raw readings.

Written against TimescaleDB 2.x's documented API (2.13+ for ``by_range``; 2.28.x is the last
line that supports PostgreSQL 15). Every statement is built by a pure function so tests can
inspect the SQL on machines without the extension.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

CHUNK_INTERVAL = "7 days"


class TimescaleUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class TimescalePlan:
    compress_after: str
    raw_retention: str | None


def _interval_literal(value: str) -> sql.Composable:
    return sql.SQL("INTERVAL {}").format(sql.Literal(value))


def hypertable_statements(plan: TimescalePlan, *, compression_enabled: bool = False) -> list[sql.Composable]:
    """SQL that turns ``reading`` into a compressed hypertable and (re)sets its policies.

    Idempotent: safe on every ``db migrate``. A changed ``compress_after`` or ``raw_retention``
    replaces the existing policy (TimescaleDB keeps one policy of each kind per hypertable, and
    ``add_*_policy(if_not_exists => TRUE)`` would keep an old interval). Compression settings are
    set only once: TimescaleDB refuses to alter them while compressed chunks exist.
    """
    stmts: list[sql.Composable] = [
        sql.SQL("CREATE EXTENSION IF NOT EXISTS timescaledb"),
        sql.SQL(
            "SELECT create_hypertable('reading', by_range('ts', {chunk}), "
            "if_not_exists => TRUE, migrate_data => TRUE)"
        ).format(chunk=_interval_literal(CHUNK_INTERVAL)),
    ]
    if not compression_enabled:
        stmts.append(
            sql.SQL(
                "ALTER TABLE reading SET (timescaledb.compress, "
                "timescaledb.compress_segmentby = 'meter_id', timescaledb.compress_orderby = 'ts')"
            )
        )
    stmts += [
        sql.SQL("SELECT remove_compression_policy('reading', if_exists => TRUE)"),
        sql.SQL("SELECT add_compression_policy('reading', compress_after => {after})").format(
            after=_interval_literal(plan.compress_after)
        ),
        sql.SQL("SELECT remove_retention_policy('reading', if_exists => TRUE)"),
    ]
    if plan.raw_retention:
        stmts.append(
            sql.SQL("SELECT add_retention_policy('reading', drop_after => {drop})").format(
                drop=_interval_literal(plan.raw_retention)
            )
        )
    return stmts


def extension_available(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    return row is not None


def extension_installed(conn: psycopg.Connection) -> str | None:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return row[0] if row else None


def reading_is_hypertable(conn: psycopg.Connection) -> bool:
    if not extension_installed(conn):
        return False
    row = conn.execute(
        "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'reading'"
    ).fetchone()
    return row is not None


def compression_enabled(conn: psycopg.Connection) -> bool:
    if not reading_is_hypertable(conn):
        return False
    row = conn.execute(
        "SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'reading'"
    ).fetchone()
    return bool(row and row[0])


def apply(conn: psycopg.Connection, plan: TimescalePlan) -> None:
    """Run the hypertable statements in one transaction."""
    with conn.transaction():
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        for stmt in hypertable_statements(plan, compression_enabled=compression_enabled(conn)):
            conn.execute(stmt)
