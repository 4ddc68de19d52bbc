"""Prometheus metrics of the API: requests and latency per route template (not per raw path)."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from api.deps import Key, require_role


def _template(request: Request) -> str:
    """The matched route's path template with its router prefixes (routers are mounted, so the route
    itself knows only its own part); labels stay bounded whatever ids clients send."""
    route = request.scope.get("route")
    own = getattr(route, "path_format", None)
    if own is None:
        return "unmatched"
    path_parts = request.url.path.rstrip("/").split("/")
    own_parts = own.rstrip("/").split("/")
    # Path parameters never contain "/", so the prefix is the leading segments not covered by the route.
    prefix = "/".join(path_parts[: max(0, len(path_parts) - len(own_parts) + 1)])
    return prefix + own if own != "/" else prefix or "/"


# HTTP lets a client send any token as its method, and a request is counted before any key is checked:
# a method outside these is counted as "other", so no client can add label sets without bound.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method(request: Request) -> str:
    return request.method if request.method in METHODS else "other"


def install(app: FastAPI) -> None:
    # A registry per app, so several apps in one process (tests) do not collide on metric names.
    registry = CollectorRegistry()
    requests = Counter(
        "jieneng_api_requests_total",
        "HTTP requests by route and status",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "jieneng_api_request_seconds",
        "Request latency by route",
        ["method", "route"],
        registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    )
    app.state.metrics_registry = registry

    @app.middleware("http")
    async def _measure(request: Request, call_next):
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            template = _template(request)
            method = _method(request)
            requests.labels(method, template, str(status)).inc()
            latency.labels(method, template).observe(time.perf_counter() - start)

    @app.get("/metrics", include_in_schema=False)
    def metrics(key: Key) -> Response:
        """Admin keys only: route names and request counts are for operators (Prometheus sends the key
        with `authorization: {credentials: ...}` in its scrape config)."""
        require_role(key, "admin")
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
