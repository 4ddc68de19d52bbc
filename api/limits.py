"""Request bodies: authenticated before they are read, bounded while they stream in.

FastAPI reads (and parses) a request's body before it runs any dependency, so a key check in a
dependency comes after the whole body is in memory. This ASGI middleware runs first: for a request
that may carry a body it checks the declared length against the endpoint's limit (413 at once),
authenticates the key (401 before a byte of the body is read), and then counts the bytes as the app
receives them, answering 413 as soon as a body without a declared length passes the limit.

A body must also keep coming (slowloris): it has ``body_timeout_s`` plus one second per
``body_min_bytes_per_s`` bytes received so far, after which the client gets 408 and the app is told
the client left; an authenticated key could otherwise hold connections open one byte at a time.

References
----------
Apache HTTP Server, mod_reqtimeout (``RequestReadTimeout body=20,MinRate=500``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import anyio
import psycopg
import psycopg_pool

from api.config import ApiConfig

BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
UPLOAD_PATHS = {"/v1/registry/import"}

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def body_limit(config: ApiConfig, path: str) -> int:
    return config.max_upload_bytes if path in UPLOAD_PATHS else config.max_body_bytes


async def _reply(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    """ASGI middleware; ``authenticate(scope, token)`` runs in a worker thread and returns the key or
    raises the refusal (an ``api.errors.ApiError``)."""

    def __init__(self, app, *, config: ApiConfig, authenticate: Callable[[Scope, str | None], object]):
        self.app = app
        self.config = config
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from api.errors import ApiError

        path = scope["path"]
        limit = body_limit(self.config, path)
        headers = dict(scope["headers"])
        if scope["method"] in BODY_METHODS and path.startswith("/v1/"):
            auth = headers.get(b"authorization", b"").decode("latin-1")
            token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
            try:
                key = await anyio.to_thread.run_sync(self.authenticate, scope, token)
            except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
                # Outside the app's own handlers here: answer as they would (api.errors).
                return await _reply(
                    send, 503, "the database is unavailable or busy; retry shortly", {"Retry-After": "5"}
                )
            except ApiError as exc:
                if exc.status in (401, 403):
                    from api.audit import log_refusal

                    await anyio.to_thread.run_sync(log_refusal, scope, exc.status, None)
                return await _reply(send, exc.status, exc.detail, exc.headers)
            scope.setdefault("state", {})["api_key"] = key
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                return await _reply(send, 400, "Content-Length is not a number")
            if length > limit:
                return await _reply(send, 413, f"request body larger than {limit} bytes")

        received = 0
        refused = False
        body_done = False
        started: float | None = None  # from the app's first read: authentication is not the client's time

        async def counting_receive() -> dict:
            nonlocal received, refused, body_done, started
            if refused:
                return {"type": "http.disconnect"}
            if body_done:
                return await receive()  # after the body: waiting for a disconnect is not bounded
            if started is None:
                started = anyio.current_time()
            deadline = started + self.config.body_timeout_s + received / self.config.body_min_bytes_per_s
            with anyio.move_on_after(max(0.0, deadline - anyio.current_time())) as late:
                message = await receive()
            if late.cancelled_caught:
                refused = True
                await _reply(
                    send,
                    408,
                    f"request body too slow: it must arrive within {self.config.body_timeout_s:g} s"
                    f" plus one second per {self.config.body_min_bytes_per_s} bytes",
                )
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer 413 now and tell the app the client left: it stops reading, and whatever it
                    # answers to that is dropped by guarded_send.
                    refused = True
                    await _reply(send, 413, f"request body larger than {limit} bytes")
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)
