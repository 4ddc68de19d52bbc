"""Liveness with a database check (no auth), and who the caller is."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import DbPools, Key
from api.models import Health, Me

router = APIRouter(tags=["health"])
log = logging.getLogger("api.health")


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"description": "the database does not answer", "content": {"application/json": {}}}},
)
def health(db: DbPools):
    """No auth: for load balancers and monitoring. 503 when the database does not answer."""
    try:
        with db.reading() as conn:
            conn.execute("SELECT 1").fetchone()
    except Exception as exc:  # any failure to reach the database is "unhealthy", not a crash
        log.warning("health check failed: %s", exc)
        return JSONResponse({"detail": "database unavailable"}, status_code=503)
    return Health(status="ok", database="ok")


@router.get("/me", response_model=Me)
def me(key: Key) -> Me:
    """The calling key's role and scope."""
    return Me.model_validate(key, from_attributes=True)
