"""The access log (``report_access``): who pulled which personal or registry data, and every refusal."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from store.api_keys import ApiKey


def list_access(
    conn: psycopg.Connection, *, limit: int, offset: int, institution_id: str | None = None
) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, accessed_at, api_key_id, key_name, role, resource, institution_id, run_id, year, format, path,"
            " status, client_addr FROM report_access WHERE (%(inst)s::text IS NULL OR institution_id = %(inst)s)"
            " ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s",
            {"inst": institution_id, "limit": limit, "offset": offset},
        ).fetchall()


def log_access(
    conn: psycopg.Connection,
    *,
    key: ApiKey | None,
    resource: str,
    path: str,
    fmt: str = "json",
    status: int = 200,
    institution_id: str | None = None,
    run_id: int | None = None,
    year: int | None = None,
    client_addr: str | None = None,
) -> None:
    """One access-log row: a served pull (status 200) or a refusal (401/403, possibly without a key)."""
    conn.execute(
        f"INSERT INTO report_access ({_LOG_COLS}, status, client_addr)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            key.id if key else None,
            key.name if key else None,
            key.role if key else None,
            resource,
            institution_id,
            run_id,
            year,
            fmt,
            path,
            status,
            client_addr,
        ),
    )


_LOG_COLS = "api_key_id, key_name, role, resource, institution_id, run_id, year, format, path"


def _log_params(
    key: ApiKey, *, resource: str, fmt: str, path: str, client_addr: str | None = None
) -> dict[str, Any]:
    return {
        "log_key_id": key.id,
        "log_key_name": key.name,
        "log_role": key.role,
        "log_resource": resource,
        "log_format": fmt,
        "log_path": path,
        "log_client": client_addr,
    }


_LOG_VALUES = "%(log_key_id)s, %(log_key_name)s, %(log_role)s, %(log_resource)s"
