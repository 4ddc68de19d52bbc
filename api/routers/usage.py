"""Usage series per institution or meter from the rollups, in local-calendar buckets."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request

from api import params
from api.audit import log_pull
from api.deps import DbPools, Key, Pools, require_visible
from api.exports.tables import file_response, file_responses, to_csv, to_xlsx
from api.models import UsagePoint, UsageSeries
from api.params import Bucket, EnergyType, InstitutionId, MeterId, TableFormat, check_institution, check_range
from store import api_queries as q
from store.api_keys import ApiKey

router = APIRouter(tags=["usage"])

COLUMNS = [
    ("meter_id", "表计"),
    ("energy_type", "能源"),
    ("end_use", "用途"),
    ("bucket_start", "时段起"),
    ("consumption", "用量"),
    ("unit", "单位"),
]
Start = params.Start("2026-01-01")
End = params.End("2026-02-01")
_DOC = (
    "Buckets are local-calendar hours, days, months or years in the deployment time zone. "
    "Largest range: hour 31 days, day 3 years, month 20 years; larger requests get 422."
)


def _series(
    pools: Pools,
    key: ApiKey,
    request: Request,
    *,
    start: date,
    end: date,
    bucket: str,
    fmt: str,
    name: str,
    institution_id: str | None = None,
    meter_id: str | None = None,
    energy_type: str | None = None,
):
    check_range(start, end, bucket)
    tz = ZoneInfo(pools.config.timezone)
    lo: date | datetime = start
    hi: date | datetime = end
    if bucket == "hour":
        lo, hi = datetime.combine(start, time(0), tzinfo=tz), datetime.combine(end, time(0), tzinfo=tz)
    with pools.reading() as conn:
        if institution_id is not None:
            check_institution(conn, key.scope, institution_id)
        if meter_id is not None:
            meter = require_visible(
                q.meter_visibility(conn, key.scope, meter_id),
                f"meter {meter_id!r}",
                "belongs to an institution outside your scope",
            )
            institution_id = meter["institution_id"]
        rows = q.usage_series(
            conn,
            key.scope,
            start=lo,
            end=hi,
            bucket=bucket,
            institution_id=institution_id,
            meter_id=meter_id,
            energy_type=energy_type,
        )
    log_pull(request, key, "usage", fmt=fmt, institution_id=institution_id)
    for r in rows:
        if isinstance(r["bucket_start"], datetime):
            r["bucket_start"] = r["bucket_start"].astimezone(tz)
    if fmt == "csv":
        return file_response(to_csv(COLUMNS, rows), "csv", f"{name}.csv")
    if fmt == "xlsx":
        return file_response(to_xlsx(COLUMNS, rows, title="用量"), "xlsx", f"{name}.xlsx")
    return UsageSeries(
        bucket=bucket,
        start=start,
        end=end,
        timezone=pools.config.timezone,
        points=[UsagePoint.model_validate(r) for r in rows],
    )


@router.get(
    "/institutions/{institution_id}/usage",
    response_model=UsageSeries,
    description=_DOC,
    responses=file_responses("csv", "xlsx"),
)
def institution_usage(
    institution_id: InstitutionId,
    key: Key,
    db: DbPools,
    request: Request,
    start: Start,
    end: End,
    bucket: Bucket = "day",
    energy_type: EnergyType | None = None,
    format: TableFormat = "json",
):
    return _series(
        db,
        key,
        request,
        start=start,
        end=end,
        bucket=bucket,
        fmt=format,
        name=f"usage-{institution_id}",
        institution_id=institution_id,
        energy_type=energy_type,
    )


@router.get(
    "/meters/{meter_id}/usage",
    response_model=UsageSeries,
    description=_DOC,
    responses=file_responses("csv", "xlsx"),
)
def meter_usage(
    meter_id: MeterId,
    key: Key,
    db: DbPools,
    request: Request,
    start: Start,
    end: End,
    bucket: Bucket = "day",
    format: TableFormat = "json",
):
    return _series(
        db,
        key,
        request,
        start=start,
        end=end,
        bucket=bucket,
        fmt=format,
        name=f"usage-{meter_id}",
        meter_id=meter_id,
    )
