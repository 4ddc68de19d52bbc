"""The access log (``report_access``): who pulled which personal or registry data, and every refusal."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from store.api_keys import ApiKey

# The columns every access-log row fills; the one-statement pulls (store.api_pulls) insert them too.
_LOG_COLS = "api_key_id, key_name, role, resource, institution_id, run_id, year, format, path"
_LOG_VALUES = "%(log_key_id)s, %(log_key_name)s, %(log_role)s, %(log_resource)s"

_LIST_ACCESS = """
SELECT id, accessed_at, api_key_id, key_name, role, resource, institution_id, run_id, year, format, path,
    status, client_addr
FROM report_access WHERE (%(inst)s::text IS NULL OR institution_id = %(inst)s)
ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s
"""

_LOG_ACCESS = f"""
INSERT INTO report_access ({_LOG_COLS}, status, client_addr)
VALUES ({_LOG_VALUES}, %(institution_id)s, %(run_id)s, %(year)s, %(log_format)s, %(log_path)s,
    %(status)s, %(log_client)s)
"""


def list_access(
    conn: psycopg.Connection, *, limit: int, offset: int, institution_id: str | None = None
) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            _LIST_ACCESS, {"inst": institution_id, "limit": limit, "offset": offset}
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
    params = _log_params(key, resource=resource, fmt=fmt, path=path, client_addr=client_addr)
    params.update(institution_id=institution_id, run_id=run_id, year=year, status=status)
    conn.execute(_LOG_ACCESS, params)


def _log_params(
    key: ApiKey | None, *, resource: str, fmt: str, path: str, client_addr: str | None = None
) -> dict[str, Any]:
    return {
        "log_key_id": key.id if key else None,
        "log_key_name": key.name if key else None,
        "log_role": key.role if key else None,
        "log_resource": resource,
        "log_format": fmt,
        "log_path": path,
        "log_client": client_addr,
    }
