"""Verified savings of retrofit and contract projects (docs/savings.md): list, result, daily rows and the
hand-checkable workbook, and recomputation. A project is visible exactly when its institution is."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from api.deps import DbPools, Key, Pools, require_role
from api.errors import not_found
from api.exports.tables import file_response, file_responses, to_csv
from api.params import ID_PATTERN, START_DATE_PATTERN, EnergyType, check_institution
from store.api_keys import ApiKey
from store.api_queries import visible_institution_ids

router = APIRouter(tags=["savings"])

ProjectId = Annotated[str, Path(pattern=ID_PATTERN, description="project id", examples=["nj-fgw-epc-2026"])]
DailyFormat = Literal["json", "csv", "xlsx"]


class SavingsResult(BaseModel):
    energy_type: str
    unit: str
    status: str  # ok | insufficient
    reasons: list[str]
    reporting_from: dt.date
    reporting_to: dt.date
    reporting_days: int | None = None
    predicted: float | None = None
    metered: float | None = None
    avoided: float | None = None
    avoided_uncertainty: float | None = None
    confidence_level: float | None = None
    avoided_share: float | None = None
    avoided_kgce: float | None = None
    avoided_kgce_uncertainty: float | None = None
    avoided_cost_yuan: float | None = None
    avoided_cost_uncertainty_yuan: float | None = None
    previous_year_metered: float | None = None
    year_on_year_change: float | None = None
    hdd: float | None = None
    cdd: float | None = None
    previous_year_hdd: float | None = None
    previous_year_cdd: float | None = None
    model_id: int | None = None
    computed_at: dt.datetime | None = None


class Project(BaseModel):
    id: str
    institution_id: str
    kind: str
    name: str
    energy_types: list[str]
    meter_ids: list[str]
    baseline_from: dt.date
    baseline_to: dt.date
    install_from: dt.date
    install_to: dt.date
    reporting_from: dt.date
    reporting_to: dt.date
    description: str | None
    contract_ref: str | None
    savings: list[SavingsResult]


class DailyRow(BaseModel):
    day: dt.date
    mean_temp_c: float
    hdd: float
    cdd: float
    workday: bool
    predicted: float
    metered: float | None
    avoided: float | None


class DailySavings(BaseModel):
    project_id: str
    energy_type: str
    unit: str
    rows: list[DailyRow]


def _finite(v):
    return v if v is None or not isinstance(v, float) or math.isfinite(v) else None


def _result(r: dict) -> SavingsResult:
    from savings.service import uncertainty_in

    share = r["avoided"] / r["predicted"] if r.get("avoided") is not None and r.get("predicted") else None
    return SavingsResult(
        **{k: _finite(r[k]) for k in SavingsResult.model_fields if k in r},
        avoided_share=_finite(share),
        avoided_kgce_uncertainty=_finite(uncertainty_in(r, "avoided_kgce")),
        avoided_cost_uncertainty_yuan=_finite(uncertainty_in(r, "avoided_cost_yuan")),
    )


def _project(conn, p) -> Project:
    from store.savings import results

    return Project(
        id=p.id,
        institution_id=p.institution_id,
        kind=p.kind,
        name=p.name,
        energy_types=p.types,
        meter_ids=[m for m in (p.meter_ids or "").split(";") if m],
        baseline_from=p.baseline_from,
        baseline_to=p.baseline_to,
        install_from=p.install_from,
        install_to=p.install_to,
        reporting_from=p.reporting_from,
        reporting_to=p.reporting_to,
        description=p.description,
        contract_ref=p.contract_ref,
        savings=[_result(r) for r in results(conn, p.id)],
    )


def _visible_project(conn, key: ApiKey, project_id: str):
    """The project when the key may see its institution; 404 when it does not exist, 403 outside scope."""
    from store.savings import get_project

    p = get_project(conn, project_id)
    if p is None:
        raise not_found(f"project {project_id!r} not found")
    check_institution(conn, key.scope, p.institution_id)
    return p


@router.get("/projects", response_model=list[Project])
def list_projects(
    key: Key,
    db: DbPools,
    institution_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="only this institution's")
    ] = None,
):
    """Retrofit and contract projects the caller may see, each with its latest verified savings."""
    from store.savings import list_projects as all_projects

    with db.reading() as conn:
        if institution_id is not None:
            check_institution(conn, key.scope, institution_id)
        ids = visible_institution_ids(conn, key.scope)
        if institution_id is not None:
            ids = [i for i in ids if i == institution_id]
        return [_project(conn, p) for p in all_projects(conn, ids)]


@router.get("/projects/{project_id}", response_model=Project)
def get_project(project_id: ProjectId, key: Key, db: DbPools):
    """One project with its latest verified savings per energy type (status insufficient: reasons say why)."""
    with db.reading() as conn:
        return _project(conn, _visible_project(conn, key, project_id))


@router.get(
    "/projects/{project_id}/savings/daily",
    response_model=DailySavings,
    responses=file_responses("csv", "xlsx"),
)
def daily(
    project_id: ProjectId,
    key: Key,
    db: DbPools,
    energy_type: Annotated[EnergyType, Query(description="energy type of the project")] = "electricity",
    format: DailyFormat = "json",
):
    """Every reporting day: temperature, HDD, CDD, predicted, metered, avoided. ``format=xlsx`` is the workbook a
    contract party checks by hand (summary, model coefficients, daily rows with a recomputing formula)."""
    from savings.service import project_workbook
    from store.savings import daily_rows, results

    with db.reading() as conn:
        p = _visible_project(conn, key, project_id)
        if format == "xlsx":
            return file_response(project_workbook(conn, p.id), "xlsx", f"savings-{p.id}.xlsx")
        if energy_type not in p.types:
            raise not_found(
                f"project {project_id!r} has no energy type {energy_type!r} (it has {', '.join(p.types)})"
            )
        unit = next((r["unit"] for r in results(conn, p.id) if r["energy_type"] == energy_type), "")
        rows = daily_rows(conn, p.id, energy_type)
    if format == "csv":
        cols = [
            ("day", "日期"),
            ("workday", "工作日"),
            ("mean_temp_c", "日均气温(°C)"),
            ("hdd", "HDD18"),
            ("cdd", "CDD26"),
            ("predicted", f"基准预测({unit})"),
            ("metered", f"实测({unit})"),
            ("avoided", f"节约量({unit})"),
        ]
        return file_response(to_csv(cols, rows), "csv", f"savings-{p.id}-{energy_type}.csv")
    return DailySavings(
        project_id=p.id, energy_type=energy_type, unit=unit, rows=[DailyRow(**r) for r in rows]
    )


@router.post("/projects/{project_id}/savings", response_model=Project)
def recompute(
    project_id: ProjectId,
    key: Key,
    db: DbPools,
    as_of: Annotated[
        dt.date | None,
        Query(
            description="count reporting days before this date (default: today), 2000-01-01 to 2100-12-31",
            json_schema_extra={"pattern": START_DATE_PATTERN},
        ),
    ] = None,
):
    """Fit the baseline model and recompute the savings now (admin, assessor, city_assessor in scope)."""
    from savings.service import verify_project

    require_role(key, "admin", "assessor", "city_assessor")
    day = as_of or dt.datetime.now(ZoneInfo(_tz(db))).date()
    if not dt.date(2000, 1, 1) <= day <= dt.date(2100, 12, 31):
        from api.errors import ApiError

        raise ApiError(422, "as_of must lie between 2000-01-01 and 2100-12-31")
    with db.writing() as conn:
        p = _visible_project(conn, key, project_id)
        verify_project(conn, p.id, as_of=day)
        conn.commit()
        return _project(conn, p)


def _tz(db: Pools) -> str:
    return db.config.timezone
