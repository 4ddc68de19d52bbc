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


# The server-side functions that create a large object: PostgreSQL checks no privilege and no read-only
# transaction for them, so any role could fill pg_largeobject. Nothing in jieneng uses large objects.
LARGE_OBJECT_CREATORS = ("lo_create(oid)", "lo_creat(integer)", "lo_from_bytea(oid, bytea)")


def make_reader_read_only(conn: psycopg.Connection) -> bool:
    """Close the writes ``READER_ROLE`` could make without any table privilege; False if not allowed to.

    Its privileges grant only SELECT, but PostgreSQL lets any role create temporary tables and large
    objects (rows in pg_largeobject that persist). Its sessions in this database start read-only
    (refusing temporary tables, and any write a future grant might allow by mistake), and the functions
    that create large objects lose their default EXECUTE for PUBLIC in this database (read-only
    transactions do not refuse those). Per database, because the role is cluster-wide; PostgreSQL keeps
    role settings per database, so a copy made from a template has none until ``jieneng db migrate`` runs
    on it. Needs a superuser (else an administrator runs the same statements once). A session may turn
    read-only off for itself: this closes accidents and the query editor's defaults, not a determined
    editor, who can read everything the role can read anyway.
    """
    db = conn.execute("SELECT current_database()").fetchone()[0]
    try:
        with conn.transaction():
            conn.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} SET default_transaction_read_only = on").format(
                sql.Identifier(READER_ROLE), sql.Identifier(db)))
            for fn in LARGE_OBJECT_CREATORS:
                conn.execute(sql.SQL(f"REVOKE EXECUTE ON FUNCTION pg_catalog.{fn} FROM PUBLIC"))
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True
