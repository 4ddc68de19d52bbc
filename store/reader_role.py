"""The read-only database role that Grafana logs in as (created NOLOGIN by migration 0007)."""

from __future__ import annotations

import psycopg
from psycopg import sql

READER_ROLE = "jieneng_grafana"


def enable_reader_login(conn: psycopg.Connection, password: str) -> None:
    """Let ``READER_ROLE`` log in with ``password``.

    The role is cluster-wide and migrations carry no secrets, so a deployment does this once (compose's
    ``grafana-reader`` step; the demo on its private PostgreSQL). Needs a role that may alter roles.
    """
    conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(READER_ROLE), sql.Literal(password)))
