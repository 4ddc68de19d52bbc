"""Institutions: list and detail, inside the caller's scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.audit import log_pull
from api.deps import DbPools, Key, require_visible
from api.exports.tables import file_response, file_responses, to_csv, to_xlsx
from api.models import Institution, InstitutionDetail, Page
from api.params import Category, InstitutionId, Limit, Offset, RegionFilter, TableFormat, check_region_filter
from store import api_queries as q

router = APIRouter(prefix="/institutions", tags=["institutions"])

COLUMNS = [
    ("id", "机构编号"),
    ("name", "机构名称"),
    ("category", "类别"),
    ("sub_kind", "细类"),
    ("admin_level", "行政级别"),
    ("region_code", "地区代码"),
    ("region_name", "地区"),
    ("climate_zone", "气候区"),
    ("baseline_year", "基准年"),
    ("address", "地址"),
]


@router.get("", response_model=Page[Institution], responses=file_responses("csv", "xlsx"))
def list_institutions(
    key: Key,
    db: DbPools,
    request: Request,
    region_code: RegionFilter = None,
    category: Category | None = None,
    q_: Annotated[str | None, Query(alias="q", max_length=100, description="part of the name or id")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
    format: TableFormat = "json",
):
    """Institutions the caller may see; a city assessor's list is its region and everything under it."""
    with db.reading() as conn:
        check_region_filter(conn, key.scope, region_code)
        total, rows = q.list_institutions(
            conn, key.scope, region_code=region_code, category=category, q=q_, limit=limit, offset=offset
        )
    log_pull(request, key, "institutions", fmt=format)
    if format == "csv":
        return file_response(to_csv(COLUMNS, rows), "csv", "institutions.csv")
    if format == "xlsx":
        return file_response(to_xlsx(COLUMNS, rows, title="机构"), "xlsx", "institutions.xlsx")
    return Page[Institution](total=total, limit=limit, offset=offset, items=rows)


@router.get("/{institution_id}", response_model=InstitutionDetail)
def get_institution(institution_id: InstitutionId, key: Key, db: DbPools, request: Request):
    """One institution with its yearly area and headcount and its meters."""
    with db.reading() as conn:
        inst = q.get_institution(conn, key.scope, institution_id)
        if inst is None:
            require_visible(
                q.institution_visibility(conn, key.scope, institution_id), f"institution {institution_id!r}"
            )
    log_pull(request, key, "institution", institution_id=institution_id)
    return InstitutionDetail.model_validate(inst)
