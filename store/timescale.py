"""The TimescaleDB path: hypertables, compression and retention for raw readings and rollups.

Written against TimescaleDB 2.x's documented API (2.13+ for ``by_range``; 2.28.x is the last
line that supports PostgreSQL 15). Every statement is built by a pure function so tests can
inspect the SQL on machines without the extension.

Rollups (``usage_hourly``, ``usage_daily``) become hypertables too, compressed by meter after
``rollup_compress_after`` when it is set; ``usage_hourly`` may be dropped after ``hourly_retention``
while daily and monthly usage are kept forever (``usage_monthly`` stays a plain table: twelve rows a
meter a year do not pay for chunks). The rollup recomputes late data with DELETE and COPY, which
TimescaleDB 2.11+ runs on compressed chunks by decompressing the batches concerned
(docs/scale.md gives the cost, and why rollup compression is off unless configured). From 2.18 the compression API is called the columnstore; the
statements use those names on 2.18+ and the older ones before.
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
    rollup_compress_after: str | None = None  # None: rollup hypertables stay uncompressed
    hourly_retention: str | None = None


@dataclass(frozen=True)
class RollupTable:
    name: str
    time_column: str
    chunk_interval: str
    retention: bool  # whether hourly_retention applies (daily usage is kept forever)


# Chunk sizes: a week of hours and a quarter of days each hold about 40 M rows at 250,000 meters,
# small enough for a chunk and its index to sit in memory while it is written.
ROLLUP_TABLES = (
    RollupTable("usage_hourly", "hour", "7 days", retention=True),
    RollupTable("usage_daily", "day", "91 days", retention=False),
)

# First releases with: the columnstore names; the DML decompression limit (100,000 tuples a
# transaction by default, which a rollup over a large late backlog would exceed and then fail).
COLUMNSTORE_SINCE = (2, 18)
DML_LIMIT_SINCE = (2, 14)


def parse_version(version: str | None) -> tuple[int, int]:
    """``'2.18.1'`` → ``(2, 18)``; an unknown version is taken as the oldest supported (2.13)."""
    try:
        major, minor = (version or "").split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return (2, 13)


# --- statements ------------------------------------------------------------------------------------
# TimescaleDB's setup is DDL and policy calls that tests inspect as text (tests/test_migrate.py), so these
# are psycopg.sql templates: tables and columns are composed as literals or identifiers, intervals as
# quoted literals (_interval_literal), never spliced as text. ALTER TABLE/DATABASE and CREATE EXTENSION
# take no bound parameters.

_CREATE_EXTENSION = sql.SQL("CREATE EXTENSION IF NOT EXISTS timescaledb")
_CREATE_HYPERTABLE = sql.SQL(
    "SELECT create_hypertable({name}, by_range({col}, {chunk}), if_not_exists => TRUE, migrate_data => TRUE)"
)
_ENABLE_COMPRESSION = sql.SQL(
    "ALTER TABLE {table} SET (timescaledb.compress, "
    "timescaledb.compress_segmentby = 'meter_id', timescaledb.compress_orderby = {col})"
)
_ENABLE_COLUMNSTORE = sql.SQL(
    "ALTER TABLE {table} SET (timescaledb.enable_columnstore = true, timescaledb.segmentby = 'meter_id', "
    "timescaledb.orderby = {col})"
)
_REMOVE_COMPRESSION_POLICY = sql.SQL("SELECT remove_compression_policy({name}, if_exists => TRUE)")
_ADD_COMPRESSION_POLICY = sql.SQL("SELECT add_compression_policy({name}, compress_after => {after})")
_REMOVE_COLUMNSTORE_POLICY = sql.SQL("CALL remove_columnstore_policy({name}, if_exists => TRUE)")
_ADD_COLUMNSTORE_POLICY = sql.SQL("CALL add_columnstore_policy({name}, after => {after})")
_REMOVE_RETENTION_POLICY = sql.SQL("SELECT remove_retention_policy({name}, if_exists => TRUE)")
_ADD_RETENTION_POLICY = sql.SQL("SELECT add_retention_policy({name}, drop_after => {drop})")
_LIFT_DML_DECOMPRESSION_LIMIT = sql.SQL(
    "ALTER DATABASE {db} SET timescaledb.max_tuples_decompressed_per_dml_transaction = 0"
)
_INTERVAL = sql.SQL("INTERVAL {value}")

# ``reading`` by name: its table stays unquoted in ALTER TABLE, as it always was.
_READING = sql.Literal("reading")
_READING_TABLE = sql.SQL("reading")


def _interval_literal(value: str) -> sql.Composable:
    return _INTERVAL.format(value=sql.Literal(value))


def hypertable_statements(plan: TimescalePlan, *, compression_enabled: bool = False) -> list[sql.Composable]:
    """SQL that turns ``reading`` into a compressed hypertable and (re)sets its policies.

    Idempotent: safe on every ``db migrate``. A changed ``compress_after`` or ``raw_retention``
    replaces the existing policy (TimescaleDB keeps one policy of each kind per hypertable, and
    ``add_*_policy(if_not_exists => TRUE)`` would keep an old interval). Compression settings are
    set only once: TimescaleDB refuses to alter them while compressed chunks exist.
    """
    ts = sql.Literal("ts")
    stmts: list[sql.Composable] = [
        _CREATE_EXTENSION,
        _CREATE_HYPERTABLE.format(name=_READING, col=ts, chunk=_interval_literal(CHUNK_INTERVAL)),
    ]
    if not compression_enabled:
        stmts.append(_ENABLE_COMPRESSION.format(table=_READING_TABLE, col=ts))
    stmts += [
        _REMOVE_COMPRESSION_POLICY.format(name=_READING),
        _ADD_COMPRESSION_POLICY.format(name=_READING, after=_interval_literal(plan.compress_after)),
        _REMOVE_RETENTION_POLICY.format(name=_READING),
    ]
    if plan.raw_retention:
        stmts.append(_ADD_RETENTION_POLICY.format(name=_READING, drop=_interval_literal(plan.raw_retention)))
    return stmts


def _remove_compression_policy(name: sql.Composable, columnstore: bool) -> sql.Composable:
    if columnstore:
        return _REMOVE_COLUMNSTORE_POLICY.format(name=name)
    return _REMOVE_COMPRESSION_POLICY.format(name=name)


def rollup_statements(
    plan: TimescalePlan,
    *,
    version: str | None,
    compressed: frozenset[str] = frozenset(),
    database: str | None = None,
) -> list[sql.Composable]:
    """SQL that makes the rollups hypertables, compressed if configured, and (re)sets their policies.

    Parameters
    ----------
    plan : TimescalePlan
        ``rollup_compress_after`` (interval, or None: no compression; a policy set earlier is removed,
        chunks already compressed stay so) and ``hourly_retention`` (interval or None: keep).
    version : str or None
        The installed extension's version: 2.18+ gets the columnstore names.
    compressed : frozenset of str
        Rollup tables whose compression is already enabled: their settings are not altered again
        (TimescaleDB refuses while compressed chunks exist).
    database : str or None
        Current database: its default for the DML decompression limit is lifted (2.14+), so a
        rollup rewriting a long late window never fails half-way for having decompressed much.

    Idempotent, like :func:`hypertable_statements`: policies are removed and added again so a
    changed interval takes effect, and daily usage loses any retention policy (kept forever).
    """
    ver = parse_version(version)
    columnstore = ver >= COLUMNSTORE_SINCE
    stmts: list[sql.Composable] = []
    for t in ROLLUP_TABLES:
        name, col = sql.Literal(t.name), sql.Literal(t.time_column)
        stmts.append(_CREATE_HYPERTABLE.format(name=name, col=col, chunk=_interval_literal(t.chunk_interval)))
        if plan.rollup_compress_after is None:
            if t.name in compressed:
                stmts.append(_remove_compression_policy(name, columnstore))
        elif t.name not in compressed:
            enable = _ENABLE_COLUMNSTORE if columnstore else _ENABLE_COMPRESSION
            stmts.append(enable.format(table=sql.Identifier(t.name), col=col))
        if plan.rollup_compress_after is not None:
            after = _interval_literal(plan.rollup_compress_after)
            stmts.append(_remove_compression_policy(name, columnstore))
            if columnstore:
                stmts.append(_ADD_COLUMNSTORE_POLICY.format(name=name, after=after))
            else:
                stmts.append(_ADD_COMPRESSION_POLICY.format(name=name, after=after))
        stmts.append(_REMOVE_RETENTION_POLICY.format(name=name))
        if t.retention and plan.hourly_retention:
            stmts.append(
                _ADD_RETENTION_POLICY.format(name=name, drop=_interval_literal(plan.hourly_retention))
            )
    if database and ver >= DML_LIMIT_SINCE:
        stmts.append(_LIFT_DML_DECOMPRESSION_LIMIT.format(db=sql.Identifier(database)))
    return stmts


# The rollup never rewrites hours before now() - raw_retention, but it re-sums whole local days
# from usage_hourly: the hours of the oldest rewritable day must still be there.
_RETENTION_MARGIN = "2 days"

_HOURLY_RETENTION_COVERS = """
SELECT %(hourly)s::interval >= %(raw)s::interval + %(margin)s::interval
"""

_HYPERTABLES = """
SELECT hypertable_name FROM timescaledb_information.hypertables
WHERE hypertable_name IN ('reading', 'usage_hourly', 'usage_daily') ORDER BY hypertable_name
"""

_EXTENSION_AVAILABLE = """
SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'
"""

_EXTENSION_VERSION = """
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'
"""

_IS_HYPERTABLE = """
SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = %(table)s
"""

_COMPRESSION_ENABLED = """
SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = %(table)s
"""

_CURRENT_DATABASE = """
SELECT current_database()
"""


def check_hourly_retention(conn: psycopg.Connection, plan: TimescalePlan) -> None:
    """Refuse an hourly retention the rollup could see through (raises ValueError).

    A late reading recomputes its hours from raw readings and then re-sums its days from
    ``usage_hourly``; if that day's other hours were dropped, the day would shrink. So dropping
    hourly usage needs raw readings to be dropped (and refused by ingest) at least
    ``_RETENTION_MARGIN`` earlier.
    """
    if not plan.hourly_retention:
        return
    if not plan.raw_retention:
        raise ValueError(
            f"JIENENG_HOURLY_RETENTION={plan.hourly_retention!r} needs JIENENG_RAW_RETENTION set to at most "
            f"that minus {_RETENTION_MARGIN}: a late reading older than the hourly horizon would re-sum its "
            "day from dropped hours"
        )
    ok = conn.execute(
        _HOURLY_RETENTION_COVERS,
        {"hourly": plan.hourly_retention, "raw": plan.raw_retention, "margin": _RETENTION_MARGIN},
    ).fetchone()[0]
    if not ok:
        raise ValueError(
            f"JIENENG_HOURLY_RETENTION={plan.hourly_retention!r} must be at least JIENENG_RAW_RETENTION="
            f"{plan.raw_retention!r} plus {_RETENTION_MARGIN}: the rollup re-sums days from hourly usage "
            "back to the raw horizon"
        )


def hypertables(conn: psycopg.Connection) -> list[str]:
    if not extension_installed(conn):
        return []
    rows = conn.execute(_HYPERTABLES).fetchall()
    return [r[0] for r in rows]


def extension_available(conn: psycopg.Connection) -> bool:
    row = conn.execute(_EXTENSION_AVAILABLE).fetchone()
    return row is not None


def extension_installed(conn: psycopg.Connection) -> str | None:
    row = conn.execute(_EXTENSION_VERSION).fetchone()
    return row[0] if row else None


def reading_is_hypertable(conn: psycopg.Connection) -> bool:
    if not extension_installed(conn):
        return False
    row = conn.execute(_IS_HYPERTABLE, {"table": "reading"}).fetchone()
    return row is not None


def compression_enabled(conn: psycopg.Connection, table: str = "reading") -> bool:
    if not extension_installed(conn):
        return False
    row = conn.execute(_COMPRESSION_ENABLED, {"table": table}).fetchone()
    return bool(row and row[0])


def apply(conn: psycopg.Connection, plan: TimescalePlan) -> None:
    """Run the hypertable statements, readings and then rollups, in one transaction."""
    with conn.transaction():
        check_hourly_retention(conn, plan)
        conn.execute(_CREATE_EXTENSION)
        for stmt in hypertable_statements(plan, compression_enabled=compression_enabled(conn)):
            conn.execute(stmt)
        compressed = frozenset(t.name for t in ROLLUP_TABLES if compression_enabled(conn, t.name))
        version = extension_installed(conn)
        database = conn.execute(_CURRENT_DATABASE).fetchone()[0]
        for stmt in rollup_statements(plan, version=version, compressed=compressed, database=database):
            conn.execute(stmt)
