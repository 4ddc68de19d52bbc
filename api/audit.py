"""The access log from the API's side: served pulls of personal or registry data, and refusals.

Reports and rankings log in the same statement that reads them (store.api_pulls); everything else
that hands out personal or registry data (institution lists and details with addresses, usage and
quality series, assessed items and their trail, the registry export) logs a row here after the read,
before the response goes out. Every 401 and 403 on /v1 is logged too, with the key when there was one.
"""

from __future__ import annotations

import logging

from fastapi import Request

from store import access_log
from store.api_keys import ApiKey

log = logging.getLogger("api.audit")


def client_addr(scope: dict) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def request_path(request: Request) -> str:
    return str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")


def log_pull(
    request: Request,
    key: ApiKey,
    resource: str,
    *,
    fmt: str = "json",
    institution_id: str | None = None,
    year: int | None = None,
    run_id: int | None = None,
) -> None:
    pools = request.app.state.pools
    with pools.logging() as conn:
        access_log.log_access(
            conn,
            key=key,
            resource=resource,
            path=request_path(request),
            fmt=fmt,
            institution_id=institution_id,
            year=year,
            run_id=run_id,
            client_addr=client_addr(request.scope),
        )


def log_refusal(scope: dict, status: int, key: ApiKey | None) -> None:
    """A 401 or 403 (sync: call from a worker thread). Never raises: a refusal stays a refusal even when
    the log cannot be written (that failure is logged here)."""
    try:
        pools = scope["app"].state.pools
        path = scope["path"] + (
            f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else ""
        )
        with pools.logging() as conn:
            access_log.log_access(
                conn,
                key=key,
                resource="refused",
                path=path[:2000],
                fmt="-",
                status=status,
                client_addr=client_addr(scope),
            )
    except Exception:
        log.exception("could not log a refused request (%s %s)", status, scope.get("path"))
