"""The access log (admin): who pulled which personal or registry data, and when; and every 401/403."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import DbPools, Key, require_role
from api.models import AccessEntry
from api.params import ID_PATTERN, Limit, Offset
from store.access_log import list_access

router = APIRouter(tags=["access log"])


@router.get("/access-log", response_model=list[AccessEntry])
def access_log(
    key: Key,
    db: DbPools,
    institution_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
):
    """Newest first. Admin only."""
    require_role(key, "admin")
    with db.reading() as conn:
        return list_access(conn, limit=limit, offset=offset, institution_id=institution_id)
