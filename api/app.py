"""The assessor API: `create_app(config)` builds a FastAPI app with its pools, routers and handlers."""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI

from api import errors, metrics
from api.config import ApiConfig
from api.deps import Pools, authenticate_token
from api.jobs import JobWorker
from api.limits import BodyGuard
from api.routers import access, assessed, health, institutions, quality, registry, reports, runs, usage
from api.routers import savings as savings_routes
from store.db import make_pool

if TYPE_CHECKING:
    from scoring.methodology import Methodology

log = logging.getLogger("api")

DESCRIPTION = """Rankings, institution reports, usage, data quality, assessed items and registry admin for
public-institution energy assessment (docs/design.md §7).

Authenticate with an API key from `jieneng keys create`: `Authorization: Bearer jn_<prefix>_<secret>`.
Roles: **admin**, **assessor** (province), **city_assessor** (a region and everything under it),
**institution** (itself only). 401: no key, or a bad or revoked one. 403: outside your scope or role.
404: does not exist for anyone. Every error body is JSON: `{"detail": ...}`.
"""


class AppMethodology:
    """The methodology runs are queued with and assessed items are checked against: loaded in the app's
    lifespan and parsed again only when its file changes (size, modification time or inode). The job worker
    scores with the file as it is when the job runs and refuses a job queued under another hash, so a run
    started after an edit must carry the edited file's hash, as it did when every request read the file.
    An invalid file does not stop the API: what needs it answers 409 (api.deps.loaded_methodology) until
    the file is fixed."""

    def __init__(self, methodology_path: str | None):
        from scoring.methodology import resolve_path

        self._path = methodology_path
        self._file = resolve_path(methodology_path)
        self._lock = threading.Lock()
        self._stamp: object = object()  # matches no file: the first call loads
        self._loaded: tuple[Methodology | None, str | None] = (None, None)

    def current(self) -> tuple[Methodology | None, str | None]:
        """(the methodology, None), or (None, why it is invalid)."""
        from scoring.methodology import MethodologyError, load_methodology

        try:
            st = self._file.stat()
            stamp: tuple | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None  # load_methodology names the failure
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._loaded = (load_methodology(self._path), None)
                except MethodologyError as exc:
                    log.error("methodology invalid: %s", exc)
                    self._loaded = (None, str(exc))
                self._stamp = stamp
            return self._loaded


def create_app(config: ApiConfig) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        write = make_pool(
            config.database_url,
            min_size=config.pool_min_size,
            max_size=config.pool_max_size,
            name="api-write",
        )
        read = write
        if config.read_database_url and config.read_database_url != config.database_url:
            read = make_pool(
                config.read_database_url,
                min_size=config.pool_min_size,
                max_size=config.pool_max_size,
                name="api-read",
            )
        app.state.pools = Pools(write=write, read=read, config=config)
        app.state.methodology = AppMethodology(config.methodology_path)
        app.state.methodology.current()
        worker = None
        if config.job_worker:
            worker = JobWorker(
                config.database_url, methodology_path=config.methodology_path, poll_s=config.job_poll_s
            )
            worker.start()
        app.state.job_worker = worker
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            if read is not write:
                read.close()
            write.close()

    app = FastAPI(
        title="jieneng assessor API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        # Starlette's trailing-slash redirect builds an absolute URL from the Host header the client sent
        # (an open redirect for whoever controls that header): a path with a stray slash is a 404 instead.
        redirect_slashes=False,
        openapi_tags=[
            {"name": "health", "description": "liveness and the caller's identity"},
            {"name": "runs", "description": "scoring runs and rankings; starting a run queues a scoring job"},
            {"name": "institutions", "description": "the registry as the caller may see it"},
            {"name": "reports", "description": "per-institution reports (JSON, CSV, XLSX, PDF)"},
            {"name": "usage", "description": "usage series in local-calendar buckets"},
            {"name": "quality", "description": "data quality per meter"},
            {"name": "assessed items", "description": "management items entered by assessors, with audit"},
            {"name": "registry", "description": "registry import and export (admin)"},
            {
                "name": "access log",
                "description": "who pulled which personal or registry data, and every refusal (admin)",
            },
        ],
    )
    errors.install(app)
    metrics.install(app)
    # Outermost: bodies are bounded and their sender authenticated before anything reads them.
    app.add_middleware(BodyGuard, config=config, authenticate=authenticate_token)
    v1 = APIRouter(
        prefix="/v1",
        responses={
            401: {"description": "missing, bad or revoked API key"},
            403: {"description": "outside the key's scope or role"},
            400: {
                "description": "a value the database cannot hold (e.g. a NUL character), or a body that cannot be parsed"
            },
            404: {"description": "does not exist"},
            408: {"description": "the request body arrived too slowly (JIENENG_API_BODY_TIMEOUT_S)"},
            413: {"description": "request body larger than its limit"},
            422: {"description": "invalid parameters"},
            429: {"description": "too many failed authentications from this address; see Retry-After"},
            503: {"description": "the database is busy or unavailable; see Retry-After"},
        },
    )
    for module in (
        health,
        runs,
        institutions,
        reports,
        usage,
        quality,
        assessed,
        registry,
        access,
        savings_routes,
    ):
        v1.include_router(module.router)
    app.include_router(v1)
    return app
