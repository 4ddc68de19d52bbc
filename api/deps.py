"""Dependencies: database pools, the caller's API key, the methodology, role and visibility checks.

Auth reads the key on the primary (write) pool so that a revocation takes effect on the next request
even when reads go to a replica. Connections are checked out and returned per step, never nested, so
a full pool cannot deadlock requests that each wait for a second connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import psycopg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from api.auth_limit import FailedAuthLimiter
from api.cache import RankingTotals
from api.config import ApiConfig
from api.errors import ApiError, forbidden, not_found, unauthorized
from store import api_keys
from store.api_keys import ApiKey, KeyRefused

if TYPE_CHECKING:
    from scoring.methodology import Methodology


@dataclass
class Pools:
    write: ConnectionPool
    read: ConnectionPool
    config: ApiConfig
    totals: RankingTotals = field(default_factory=RankingTotals)  # per app: apps in one process never share
    auth_failures: FailedAuthLimiter | None = None

    def __post_init__(self) -> None:
        if self.auth_failures is None:
            self.auth_failures = FailedAuthLimiter(
                self.config.auth_max_failures, self.config.auth_failure_window_s
            )

    @contextmanager
    def reading(self) -> Iterator[psycopg.Connection]:
        """A connection in autocommit mode: reads need no BEGIN/COMMIT round trips."""
        with self.read.connection() as conn:
            conn.autocommit = True
            yield conn

    @contextmanager
    def authenticating(self) -> Iterator[psycopg.Connection]:
        """The primary, so a revocation holds on the next request; one read, so autocommit."""
        with self.write.connection() as conn:
            conn.autocommit = True
            yield conn

    @contextmanager
    def logging(self) -> Iterator[psycopg.Connection]:
        """The primary in autocommit: a single INSERT is its own durable transaction, one round trip."""
        with self.write.connection() as conn:
            conn.autocommit = True
            yield conn

    @contextmanager
    def writing(self) -> Iterator[psycopg.Connection]:
        """A connection whose transaction commits when the block ends without error."""
        with self.write.connection() as conn:
            conn.autocommit = False
            yield conn


def get_pools(request: Request) -> Pools:
    return request.app.state.pools


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `jieneng keys create`, sent as `Authorization: Bearer jn_<prefix>_<secret>`.",
)


# The credentials as sent (or None); handlers that authenticate on a connection of their own pass them
# to key_on, which counts a missing key as a failed authentication like a bad one.
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _too_many(retry_s: int) -> ApiError:
    return ApiError(
        429,
        f"too many failed authentications from your address; retry in {retry_s} s",
        headers={"Retry-After": str(retry_s)},
    )


def authenticate_on(conn: psycopg.Connection, pools: Pools, scope: dict, token: str | None) -> ApiKey:
    """The live key for ``token`` looked up on ``conn``, with the failed-authentication limit per client:
    429 while the client is over it (even with a good key), 401 for a missing, bad, revoked or expired key."""
    client = (scope.get("client") or ("-",))[0]
    limiter = pools.auth_failures
    retry = limiter.retry_after(client)
    if retry is not None:
        raise _too_many(retry)
    if not token:
        limiter.failed(client)
        raise unauthorized("missing API key: send Authorization: Bearer jn_<prefix>_<secret>")
    try:
        key = api_keys.authenticate(conn, token.strip())
    except KeyRefused as exc:
        limiter.failed(client)
        raise unauthorized(str(exc)) from exc
    if key is None:
        limiter.failed(client)
        raise unauthorized("invalid or revoked API key")
    limiter.succeeded(client)
    scope.setdefault("state", {})["api_key"] = key
    return key


def authenticate_token(scope: dict, token: str | None) -> ApiKey:
    """For api.limits.BodyGuard (in a worker thread): the live key for ``token``, or the refusal."""
    pools: Pools = scope["app"].state.pools
    with pools.authenticating() as conn:
        return authenticate_on(conn, pools, scope, token)


def key_on(conn: psycopg.Connection, request: Request, creds: HTTPAuthorizationCredentials | None) -> ApiKey:
    """The caller's live key, looked up on a primary connection the request already holds: a handler
    that authenticates this way saves a worker-thread hop and a pool checkout, and a revocation still
    holds on the next request (the key row is read every time)."""
    return authenticate_on(conn, request.app.state.pools, request.scope, creds.credentials if creds else None)


# The database pools of the app (what a handler reads and writes through).
DbPools = Annotated[Pools, Depends(get_pools)]


def current_key(request: Request, pools: DbPools, creds: Bearer) -> ApiKey:
    # A request with a body was authenticated before its body was read (api.limits); not twice.
    key = getattr(request.state, "api_key", None)
    if key is not None:
        return key
    with pools.authenticating() as conn:
        return key_on(conn, request, creds)


# The caller's live API key (authenticated on the primary).
Key = Annotated[ApiKey, Depends(current_key)]


def require_role(key: ApiKey, *roles: str) -> None:
    if key.role not in roles:
        raise forbidden(f"role {key.role} may not do this; needs one of: {', '.join(roles)}")


def loaded_methodology(request: Request) -> Methodology:
    """The scoring methodology the app loaded (api.app.AppMethodology, reloaded when its file changes);
    409 while the file is invalid.

    Called by a handler after its role check (not as a dependency), so a caller without the role is told
    so first, as before."""
    methodology, error = request.app.state.methodology.current()
    if methodology is None:
        raise ApiError(409, f"the configured methodology is invalid: {error}")
    return methodology


RUN_OUTSIDE = (
    "covers a region outside your scope"  # a run's 403 (a run belongs to a region, not to the caller)
)


def require_visible(
    row: dict | bool | None, what: str, outside: str = "is outside your scope"
) -> dict | bool:
    """The one 404-then-403 check: 404 when ``row`` is None (no such thing, for anyone), 403 when it exists
    outside the caller's scope. ``row`` is a store row with a ``visible`` column (taken out of it) or the
    visibility itself; ``what`` names the thing ("institution 'G1'"), ``outside`` ends the 403 message."""
    if row is None:
        raise not_found(f"{what} not found")
    visible = row.pop("visible") if isinstance(row, dict) else row
    if not visible:
        raise forbidden(f"{what} {outside}")
    return row
