"""Error responses: every 4xx is JSON saying what was wrong; no request makes a 500 it did not earn.

Errors raised by PostgreSQL because of the client's input (a value out of range, a bad format, a
key that does not exist) become 4xx here; anything else is logged with its traceback and answered
with a 500 that carries no internals.
"""

from __future__ import annotations

import logging

import anyio
import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("api.errors")


class ApiError(Exception):
    """A refusal with a status and a message for the client."""

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


def unauthorized(detail: str) -> ApiError:
    return ApiError(401, detail, headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str) -> ApiError:
    return ApiError(403, detail)


def not_found(detail: str) -> ApiError:
    return ApiError(404, detail)


def bad_request(detail: str) -> ApiError:
    return ApiError(400, detail)


def _json(status: int, detail, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path, from the app's OpenAPI paths (compiled once)."""
    import re

    app = request.app
    table = getattr(app.state, "allow_table", None)
    if table is None:
        table = [
            (
                re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$"),
                {m.upper() for m in item},
            )
            for path, item in app.openapi()["paths"].items()
        ]
        app.state.allow_table = table
    methods: set[str] = set()
    for pattern, served in table:
        if pattern.match(request.url.path):
            methods |= served
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        if exc.status in (401, 403) and request.url.path.startswith(("/v1/", "/metrics")):
            from api.audit import log_refusal

            key = getattr(request.state, "api_key", None)
            await anyio.to_thread.run_sync(log_refusal, request.scope, exc.status, key)
        return _json(exc.status, exc.detail, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            # Starlette names only the first matching route's methods; a path served by several routes
            # (PUT and DELETE of an assessed item) must list them all.
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return _json(exc.status_code, exc.detail, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return _json(422, errors)

    @app.exception_handler(psycopg.errors.DataError)
    async def _data_error(request: Request, exc: psycopg.errors.DataError):
        # The database refused a value the client sent (out of range, malformed): their input, a 400.
        return _json(400, f"invalid value: {exc.diag.message_primary or exc}")

    @app.exception_handler(psycopg.errors.IntegrityError)
    async def _integrity(request: Request, exc: psycopg.errors.IntegrityError):
        return _json(409, f"conflicts with stored data: {exc.diag.message_primary or exc}")

    @app.exception_handler(psycopg_pool.PoolTimeout)
    async def _pool_timeout(request: Request, exc: psycopg_pool.PoolTimeout):
        log.warning("database pool exhausted: %s", exc)
        return _json(503, "the database is busy; retry shortly", {"Retry-After": "1"})

    @app.exception_handler(psycopg.OperationalError)
    async def _db_down(request: Request, exc: psycopg.OperationalError):
        log.error("database unavailable: %s", exc)
        return _json(503, "the database is unavailable", {"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _json(500, "internal error; it has been logged")
