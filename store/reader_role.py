"""The read-only database role that Grafana logs in as (created NOLOGIN by migration 0007)."""

from __future__ import annotations

import psycopg
from psycopg import sql

READER_ROLE = "jieneng_grafana"

# Utility statements take no bound parameters: the role is an identifier and the password a literal,
# both quoted by psycopg.sql.
_ENABLE_LOGIN = sql.SQL("ALTER ROLE {role} LOGIN PASSWORD {password}")


def enable_reader_login(conn: psycopg.Connection, password: str) -> None:
    """Let ``READER_ROLE`` log in with ``password``.

    The role is cluster-wide and migrations carry no secrets, so a deployment does this once (compose's
    ``grafana-reader`` step; the demo on its private PostgreSQL). Needs a role that may alter roles.
    """
    conn.execute(_ENABLE_LOGIN.format(role=sql.Identifier(READER_ROLE), password=sql.Literal(password)))


# The server-side functions that create a large object: PostgreSQL checks no privilege and no read-only
# transaction for them, so any role could fill pg_largeobject. Nothing in jieneng uses large objects.
LARGE_OBJECT_CREATORS = ("lo_create(oid)", "lo_creat(integer)", "lo_from_bytea(oid, bytea)")

# ``{function}``: one of LARGE_OBJECT_CREATORS, a signature (constant SQL, not a value).
_REVOKE_EXECUTE = "REVOKE EXECUTE ON FUNCTION pg_catalog.{function} FROM PUBLIC"


def revoke_large_object_creation(conn: psycopg.Connection) -> bool:
    """Close the one lasting write ``READER_ROLE`` could make without any table privilege; False if not allowed.

    Its privileges grant only SELECT, but PostgreSQL lets any role create large objects (rows in
    pg_largeobject that persist), and a read-only transaction does not refuse them: the functions that create
    one lose their default EXECUTE for PUBLIC in this database (nothing in jieneng uses large objects).
    Temporary tables stay possible, as for any role; they end with the session. Needs a superuser (the
    functions are the bootstrap superuser's); else an administrator runs the same REVOKE once.
    """
    try:
        with conn.transaction():
            for fn in LARGE_OBJECT_CREATORS:
                conn.execute(sql.SQL(_REVOKE_EXECUTE.format(function=fn)))
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True
