"""The deployment's time zone, as `jieneng db migrate` records it (``deployment_setting``, 0002_usage.sql).

The one home of the lookup, in both forms: ``TIMEZONE_SQL`` for queries that bucket by local calendar
(store.usage, store.savings, the dashboards) and ``deployment_timezone`` for Python that needs the name
(the rollup, the scoring loader). Days, months and years are local to this zone everywhere (docs/design.md §2).

A database without the row has not been migrated (migrate writes it before anything can be rolled up),
so ``deployment_timezone`` refuses rather than guessing a zone: a guess that differs from the zone the
rollups will be bucketed in would put a day's use into the wrong day and year without a sign.
"""

from __future__ import annotations

import psycopg

# A scalar subquery, embedded as ``ts AT TIME ZONE {TIMEZONE_SQL}``; NULL on a database never migrated.
TIMEZONE_SQL = "(SELECT value FROM deployment_setting WHERE key = 'timezone')"

_RECORDED_TIMEZONE = """
SELECT value FROM deployment_setting WHERE key = 'timezone'
"""


class TimezoneNotRecorded(RuntimeError):
    """The database has no deployment time zone: it was never migrated."""


def recorded_timezone(conn: psycopg.Connection) -> str | None:
    """The IANA zone recorded for this deployment, or None when there is none yet."""
    row = conn.execute(_RECORDED_TIMEZONE).fetchone()
    return None if row is None else row[0]


def deployment_timezone(conn: psycopg.Connection) -> str:
    """The IANA zone recorded for this deployment (e.g. ``Asia/Shanghai``).

    Raises TimezoneNotRecorded (a RuntimeError) when the row is missing: run ``jieneng db migrate``.
    """
    tz = recorded_timezone(conn)
    if tz is None:
        raise TimezoneNotRecorded("deployment_setting has no timezone: run `jieneng db migrate` first")
    return tz
