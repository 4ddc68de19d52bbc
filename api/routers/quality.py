"""Data quality per meter: coverage, longest gap, resets, rollovers, quarantines, conflicts, rejects."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request

from api import params
from api.audit import log_pull
from api.deps import DbPools, Key, Pools, require_visible
from api.errors import ApiError
from api.exports.tables import file_response, file_responses, to_csv, to_xlsx
from api.models import MeterQuality, QualityReport
from api.params import InstitutionId, MeterId, TableFormat, check_institution, check_range
from store import api_queries as q
from store.api_keys import ApiKey

router = APIRouter(tags=["quality"])

# Quality reads raw readings hour by hour: a year is what assessment needs, and bounds the work.
MAX_QUALITY_DAYS = 367
COLUMNS = [
    ("meter_id", "表计"),
    ("expected_hours", "应有小时"),
    ("hours_with_data", "有数小时"),
    ("coverage", "覆盖率"),
    ("longest_gap_hours", "最长缺测(h)"),
    ("resets", "复位"),
    ("rollovers", "翻转"),
    ("quarantined", "隔离"),
    ("conflicts", "冲突"),
    ("rejects", "拒收"),
]
Start = params.Start("2026-01-01")
End = params.End("2027-01-01")


def _quality(
    pools: Pools,
    key: ApiKey,
    request: Request,
    start: date,
    end: date,
    fmt: str,
    name: str,
    *,
    institution_id: str | None = None,
    meter_id: str | None = None,
):
    from store.quality import meter_quality

    check_range(start, end, "day")
    if (end - start).days > MAX_QUALITY_DAYS:
        raise ApiError(
            422, f"range too large for quality: {(end - start).days} days, at most {MAX_QUALITY_DAYS}"
        )
    tz = ZoneInfo(pools.config.timezone)
    lo, hi = datetime.combine(start, time(0), tzinfo=tz), datetime.combine(end, time(0), tzinfo=tz)
    with pools.reading() as conn:
        if institution_id is not None:
            check_institution(conn, key.scope, institution_id)
            meter_ids = q.institution_meter_ids(conn, key.scope, institution_id)
        else:
            meter = require_visible(
                q.meter_visibility(conn, key.scope, meter_id),
                f"meter {meter_id!r}",
                "belongs to an institution outside your scope",
            )
            meter_ids = [meter_id]
            institution_id = meter["institution_id"]
        rows = meter_quality(conn, lo, hi, meter_ids) if meter_ids else []
    log_pull(request, key, "quality", fmt=fmt, institution_id=institution_id)
    items = [MeterQuality.model_validate(r, from_attributes=True) for r in rows]
    if fmt != "json":
        dicts = [m.model_dump() for m in items]
        if fmt == "csv":
            return file_response(to_csv(COLUMNS, dicts), "csv", f"{name}.csv")
        return file_response(to_xlsx(COLUMNS, dicts, title="数据质量"), "xlsx", f"{name}.xlsx")
    return QualityReport(start=start, end=end, meters=items)


@router.get(
    "/institutions/{institution_id}/quality",
    response_model=QualityReport,
    responses=file_responses("csv", "xlsx"),
)
def institution_quality(
    institution_id: InstitutionId,
    key: Key,
    db: DbPools,
    request: Request,
    start: Start,
    end: End,
    format: TableFormat = "json",
):
    """Quality of each of the institution's meters over local days [start, end) (at most 367 days)."""
    return _quality(
        db, key, request, start, end, format, f"quality-{institution_id}", institution_id=institution_id
    )


@router.get(
    "/meters/{meter_id}/quality", response_model=QualityReport, responses=file_responses("csv", "xlsx")
)
def meter_quality_endpoint(
    meter_id: MeterId,
    key: Key,
    db: DbPools,
    request: Request,
    start: Start,
    end: End,
    format: TableFormat = "json",
):
    """Quality of one meter over local days [start, end) (at most 367 days)."""
    return _quality(db, key, request, start, end, format, f"quality-{meter_id}", meter_id=meter_id)
