"""Assessed items per institution and year (the blocks no meter can measure), with an audit trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api.audit import log_pull
from api.deps import DbPools, Key, loaded_methodology, require_role
from api.errors import ApiError, not_found
from api.models import AssessedAudit, AssessedItem, AssessedItemWrite
from api.params import InstitutionId, Year, check_institution

router = APIRouter(prefix="/institutions/{institution_id}/assessed-items", tags=["assessed items"])
ItemCode = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="methodology item code")
]
PathYear = Annotated[int, Path(ge=2000, le=2100)]
WRITERS = ("admin", "assessor", "city_assessor")


@router.get("", response_model=list[AssessedItem])
def list_items(institution_id: InstitutionId, key: Key, db: DbPools, request: Request, year: Year):
    """The institution's assessed items for a year."""
    from store.assessed import list_assessed_items

    with db.reading() as conn:
        check_institution(conn, key.scope, institution_id)
        items = list_assessed_items(conn, institution_id, year)
    log_pull(request, key, "assessed_items", institution_id=institution_id, year=year)
    return items


@router.get("/audit", response_model=list[AssessedAudit])
def audit(
    institution_id: InstitutionId,
    key: Key,
    db: DbPools,
    request: Request,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
):
    """Every change to the institution's assessed items: who, when, old and new points and evidence."""
    from store.assessed import list_assessed_audit

    with db.reading() as conn:
        check_institution(conn, key.scope, institution_id)
        trail = list_assessed_audit(conn, institution_id, year, limit=limit)
    log_pull(request, key, "assessed_audit", institution_id=institution_id, year=year)
    return trail


@router.put(
    "/{year}/{item_code}",
    response_model=AssessedItem,
    responses={
        404: {"description": "no such institution, or no such item in the methodology"},
        422: {"description": "points above the item's maximum (it differs per item), or an invalid body"},
    },
)
def put_item(
    institution_id: InstitutionId,
    year: PathYear,
    item_code: ItemCode,
    body: AssessedItemWrite,
    key: Key,
    db: DbPools,
    request: Request,
):
    """Enter or change an item's points and evidence (assessors and admin; institutions read only)."""
    from store.assessed import set_assessed_item

    require_role(key, *WRITERS)
    methodology = loaded_methodology(request)
    if item_code not in methodology.items:
        # The path names something that does not exist (for anyone): 404, as for an unknown institution.
        raise not_found(
            f"unknown assessed item {item_code!r} in {methodology.name} (known: {', '.join(methodology.items)})"
        )
    try:
        methodology.check_assessed_item(item_code, body.points)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc
    with db.writing() as conn, conn.transaction():
        check_institution(conn, key.scope, institution_id)
        # the item's maximum here, so a methodology weighing the item differently scores the same share of it
        _, new = set_assessed_item(
            conn,
            institution_id,
            year,
            item_code,
            body.points,
            body.evidence,
            f"{key.role}:{key.name}",
            out_of=methodology.items[item_code].points,
        )
    return new


@router.delete("/{year}/{item_code}", status_code=204)
def delete_item(institution_id: InstitutionId, year: PathYear, item_code: ItemCode, key: Key, db: DbPools):
    """Remove an item (it then scores zero); the removal is kept in the audit trail."""
    from store.assessed import set_assessed_item

    require_role(key, *WRITERS)
    with db.writing() as conn, conn.transaction():
        check_institution(conn, key.scope, institution_id)
        old, _ = set_assessed_item(
            conn, institution_id, year, item_code, None, None, f"{key.role}:{key.name}"
        )
        if old is None:
            # Raising inside the transaction block rolls back the audit row of a removal that removed nothing.
            raise not_found(f"no assessed item {item_code!r} for {institution_id} in {year}")
