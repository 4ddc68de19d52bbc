"""Schema migrations with yoyo-migrations, serialised by a PostgreSQL advisory lock.

yoyo has its own lock table, but creating that table races when two processes start on an
empty database; the advisory lock (held on a separate connection for the whole run) makes
``db migrate`` safe to run concurrently from any number of processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql
from yoyo import get_backend, read_migrations
from yoyo.migrations import default_migration_table

from store import calendar, intervals, timescale
from store.deployment import recorded_timezone
from store.reader_role import revoke_large_object_creation

# Arbitrary constant: "jieneng" as an int64 key for pg_advisory_lock.
MIGRATE_LOCK_KEY = 0x6A69656E656E67

_LOCK = """
SELECT pg_advisory_lock(%(key)s)
"""

_UNLOCK = """
SELECT pg_advisory_unlock(%(key)s)
"""

_RECORD_TIMEZONE = """
INSERT INTO deployment_setting (key, value) VALUES ('timezone', %(timezone)s)
"""

_TABLE_EXISTS = """
SELECT to_regclass(%(table)s)
"""

# yoyo's bookkeeping table, whose name yoyo decides (an identifier, not a value).
_APPLIED_MIGRATIONS = sql.SQL("SELECT migration_id FROM {table}")

_SERVER_VERSION = """
SHOW server_version
"""


@dataclass
class MigrateResult:
    applied: list[str]
    timescale: str  # "on (x.y.z)", "off", "unavailable"


@dataclass
class DbStatus:
    applied: list[str]
    pending: list[str]
    timescale: str
    postgres_version: str
    timezone: str | None


def migrations_dir() -> str:
    return str(resources.files("store") / "migrations")


def _yoyo_url(url: str) -> str:
    # yoyo picks its driver from the scheme: postgresql+psycopg means psycopg 3.
    for prefix in ("postgresql+psycopg://", "postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def _timescale_state(conn: psycopg.Connection) -> str:
    version = timescale.extension_installed(conn)
    if version and timescale.reading_is_hypertable(conn):
        tables = timescale.hypertables(conn)
        return f"on (TimescaleDB {version}, hypertables: {', '.join(tables)})"
    if timescale.extension_available(conn):
        return "off (extension available, not in use)"
    return "off (extension not available: plain PostgreSQL)"


def migrate(
    url: str,
    *,
    timezone: str,
    timescaledb: str = "auto",
    compress_after: str = "30 days",
    raw_retention: str | None = None,
    rollup_compress_after: str | None = None,
    hourly_retention: str | None = None,
) -> MigrateResult:
    """Apply pending migrations, record the deployment time zone, then the TimescaleDB decision.

    ``timescaledb``: ``auto`` uses the extension when it can be created, ``require`` raises
    :class:`store.timescale.TimescaleUnavailable` without it, ``off`` never touches it.
    ``rollup_compress_after`` and ``hourly_retention`` apply to the rollup hypertables
    (store/timescale.py); an hourly retention the rollup could see through raises ValueError.
    """
    plan = timescale.TimescalePlan(compress_after, raw_retention, rollup_compress_after, hourly_retention)
    with psycopg.connect(url, autocommit=True) as lock_conn:
        lock_conn.execute(_LOCK, {"key": MIGRATE_LOCK_KEY})
        try:
            backend = get_backend(_yoyo_url(url))
            migrations = read_migrations(migrations_dir())
            with backend.lock():
                pending = backend.to_apply(migrations)
                backend.apply_migrations(pending)
            applied = [m.id for m in pending]
            backend.connection.close()

            with psycopg.connect(url) as conn:
                _record_timezone(conn, timezone)
                calendar.sync(conn)
                intervals.sync(conn)
                revoke_large_object_creation(conn)
                state = _apply_timescale(conn, timescaledb, plan)
                conn.commit()
        finally:
            lock_conn.execute(_UNLOCK, {"key": MIGRATE_LOCK_KEY})
    return MigrateResult(applied=applied, timescale=state)


def _record_timezone(conn: psycopg.Connection, timezone: str) -> None:
    recorded = recorded_timezone(conn)
    if recorded is None:
        conn.execute(_RECORD_TIMEZONE, {"timezone": timezone})
    elif recorded != timezone:
        # Rollups are bucketed in the recorded zone; silently mixing zones would corrupt day totals.
        raise ValueError(
            f"database was set up for time zone {recorded!r} but JIENENG_TIMEZONE is {timezone!r}; "
            "rollups are bucketed in the recorded zone, so use that one"
        )


def _apply_timescale(conn: psycopg.Connection, mode: str, plan: timescale.TimescalePlan) -> str:
    mode = getattr(mode, "value", mode)
    if mode == "off":
        return _timescale_state(conn)
    if not timescale.extension_available(conn):
        if mode == "require":
            raise timescale.TimescaleUnavailable(
                "JIENENG_TIMESCALEDB=require but the timescaledb extension is not available on this "
                "PostgreSQL server (install TimescaleDB 2.x and add it to shared_preload_libraries)"
            )
        return _timescale_state(conn)
    conn.commit()
    try:
        timescale.apply(conn, plan)
    except psycopg.Error as exc:
        conn.rollback()
        if mode == "require":
            raise timescale.TimescaleUnavailable(f"could not set up TimescaleDB: {exc}") from exc
        return f"off (TimescaleDB could not be set up: {exc.diag.message_primary or exc})"
    return _timescale_state(conn)


def code_migrations() -> list[str]:
    """Ids of the migrations this code ships, oldest first."""
    return [m.id for m in read_migrations(migrations_dir())]


def pending_migrations(conn: psycopg.Connection) -> list[str]:
    """Ids of this code's migrations that the database has not applied, oldest first.

    Every id on a database yoyo never touched. Only reads: yoyo's own backend creates its
    bookkeeping tables on first use, which a check run by every CLI verb must not do.
    """
    code_ids = code_migrations()
    if conn.execute(_TABLE_EXISTS, {"table": default_migration_table}).fetchone()[0] is None:
        return code_ids
    applied_sql = _APPLIED_MIGRATIONS.format(table=sql.Identifier(default_migration_table))
    applied = {r[0] for r in conn.execute(applied_sql)}
    return [i for i in code_ids if i not in applied]


def status(url: str) -> DbStatus:
    backend = get_backend(_yoyo_url(url))
    migrations = read_migrations(migrations_dir())
    applied_ids = [m.id for m in migrations if backend.is_applied(m)]
    pending_ids = [m.id for m in backend.to_apply(migrations)]
    backend.connection.close()
    with psycopg.connect(url) as conn:
        version = conn.execute(_SERVER_VERSION).fetchone()[0]
        tz = None
        if conn.execute(_TABLE_EXISTS, {"table": "deployment_setting"}).fetchone()[0]:
            tz = recorded_timezone(conn)
        state = _timescale_state(conn)
    return DbStatus(
        applied=applied_ids, pending=pending_ids, timescale=state, postgres_version=version, timezone=tz
    )
