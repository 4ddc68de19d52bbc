"""Response and request bodies of the API (the scoring results themselves are scoring.model's)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar, get_type_hints

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from api.routers.savings import SavingsResult
from scoring.model import AssessedAudit, AssessedItem, InstitutionResult, RankingRow, RunInfo, record_fields
from store import quality, usage
from store.api_keys import ROLES
from store.registry import InstitutionRow, MeterRow

T = TypeVar("T")

# The roles store/api_keys.py creates keys for, in its order (the OpenAPI enum lists them so).
Role = Literal[tuple(ROLES)]


def _json_number(v: Any) -> Any:
    """What JSON Schema calls a number: not true/false and not a string (pydantic's lax mode would take
    true as 1 and "2026" as 2026); 2026.0 stays acceptable as the integer it is."""
    if isinstance(v, bool | str):
        raise ValueError("must be a JSON number")
    return v


__all__ = [
    "AssessedAudit",
    "AssessedItem",
    "InstitutionResult",
    "RankingRow",
    "RunInfo",
]


class Page(BaseModel, Generic[T]):
    total: int = Field(description="rows matching the filters (inside the caller's scope)")
    limit: int
    offset: int
    items: list[T]


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok", "database": "ok"}]})


class Me(BaseModel):
    id: int
    name: str
    role: Role
    region_code: str | None
    institution_id: str | None


class InstitutionYear(BaseModel):
    year: int
    floor_area_m2: float
    occupants: int


def _meter_fields() -> dict[str, Any]:
    """The registry's meter record (store.registry.MeterRow) as an institution's detail shows it: the fields
    below, declared once, in store. "register" would shadow a BaseModel attribute, so the field is
    ``register_kind`` under the JSON name "register"."""
    shown = (
        "id",
        "name",
        "energy_type",
        "unit",
        "register",
        "end_use",
        "parent_meter_id",
        "multiplier",
        "installed_at",
        "retired_at",
    )
    fields: dict[str, Any] = {}
    for name, (kind, _default) in record_fields(MeterRow, shown, required=shown).items():
        if name == "register":
            fields["register_kind"] = (kind, Field(alias="register", description="cumulative or interval"))
        else:
            fields[name] = (kind, ...)
    return fields


Meter = create_model(
    "Meter", __module__=__name__, __config__=ConfigDict(populate_by_name=True), **_meter_fields()
)


def _institution_fields() -> dict[str, Any]:
    """The registry's institution record (store.registry.InstitutionRow) with its region's name after
    its region code: the API shows the same record, so its fields are declared once, in store."""
    fields: dict[str, Any] = {}
    for name, kind in get_type_hints(InstitutionRow).items():
        fields[name] = (kind, ...)
        if name == "region_code":
            fields["region_name"] = (str, ...)
    return fields


Institution = create_model(
    "Institution",
    __module__=__name__,
    __config__=ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "NJ-GOV-001",
                    "name": "南京市机关事务管理局",
                    "category": "government",
                    "sub_kind": None,
                    "admin_level": "city",
                    "region_code": "320100",
                    "region_name": "南京市",
                    "climate_zone": "hot_summer_cold_winter",
                    "baseline_year": 2020,
                    "address": "南京市玄武区",
                }
            ]
        }
    ),
    **_institution_fields(),
)


class InstitutionDetail(Institution):
    years: list[InstitutionYear]
    meters: list[Meter]


class RunDetail(RunInfo):
    methodology_text: str = Field(description="the methodology file as the run used it")


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"year": 2026}]})
    year: Annotated[int, BeforeValidator(_json_number)] = Field(
        ge=2000, le=2100, description="calendar year to score"
    )
    region_code: str | None = Field(
        None, pattern=r"^[0-9]{6}$", description="score only this region; default: all"
    )


class ScoringJob(BaseModel):
    id: int
    year: int
    region_code: str | None
    methodology_hash: str
    status: Literal["queued", "running", "done", "failed"]
    run_id: int | None = Field(description="the stored run, once done")
    error: str | None = Field(description="why it failed")
    attempts: int
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: str | None = Field(None, description="where the run is, once done (/v1/runs/{run_id})")


class UsagePoint(BaseModel):
    meter_id: str
    energy_type: str
    unit: str
    end_use: str
    bucket_start: datetime | date = Field(
        description="start of the local-calendar bucket (a timestamp for hours)"
    )
    consumption: float = Field(description="in `unit`, multiplier applied")


class UsageSeries(BaseModel):
    bucket: usage.Bucket
    start: date
    end: date = Field(description="exclusive")
    timezone: str
    points: list[UsagePoint]


# store.quality.MeterQuality as the quality endpoint returns it: the store measures every figure of a period, so
# each one is required, and only coverage and the longest gap are nullable in the published schema.
MeterQuality = create_model(
    "MeterQuality",
    __module__=__name__,
    **record_fields(
        quality.MeterQuality,
        required=[f.name for f in dataclasses.fields(quality.MeterQuality)],
        not_null=(
            "expected_hours",
            "hours_with_data",
            "resets",
            "rollovers",
            "quarantined",
            "conflicts",
            "rejects",
        ),
    ),
)


class QualityReport(BaseModel):
    start: date
    end: date = Field(description="exclusive")
    meters: list[MeterQuality]


class MonthlyEnergy(BaseModel):
    month: int = Field(ge=1, le=12)
    energy_kgce: float | None = Field(description="综合能耗 of the report year's month, kgce")
    previous_kgce: float | None = Field(description="the same month of the previous year, kgce")


class PreviousYear(BaseModel):
    run_id: int
    year: int
    total_points: float | None
    eligible: bool
    rank_peer: int | None
    rank_city: int | None
    rank_province: int | None


# The run a ranking page or report comes from: the identifying fields of scoring.model.RunInfo.
RUN_REF_FIELDS = (
    "id",
    "year",
    "region_code",
    "methodology_name",
    "methodology_version",
    "methodology_hash",
    "created_at",
)
RunRef = create_model(
    "RunRef",
    __module__=__name__,
    **{name: (RunInfo.model_fields[name].annotation, RunInfo.model_fields[name]) for name in RUN_REF_FIELDS},
)


class RankingPage(Page[RankingRow]):
    run: RunRef = Field(description="the scoring run these ranks come from")


class ReportProject(BaseModel):
    id: str
    name: str
    kind: str
    contract_ref: str | None
    baseline: str = Field(description="baseline period, first..last day")
    reporting: str = Field(description="reporting period, first..last day")
    savings: list[SavingsResult] = Field(description="the stored verified savings per energy type")


class YearDegreeDays(BaseModel):
    year: int
    hdd: float | None = Field(description="heating degree days of the year, °C·d; None: see missing_reason")
    cdd: float | None = Field(description="cooling degree days of the year, °C·d; None: see missing_reason")
    days_with_temperature: int
    days_in_year: int
    energy_per_area_kgce_m2: float | None = Field(
        description="building energy (vehicles excluded) per m² of floor area"
    )
    missing_reason: str | None = Field(description="why the degree days are missing (no or partial weather)")


class ReportDegreeDays(BaseModel):
    region_code: str | None = Field(description="region whose daily temperatures were read (the city)")
    hdd_base_c: float
    cdd_base_c: float
    source: str = Field(description="where the base temperatures come from")
    years: list[YearDegreeDays] = Field(description="the report year, then the year before")
    energy_per_area_change: float | None = Field(
        description="per-area energy, report year over the year before − 1"
    )
    hdd_change: float | None
    cdd_change: float | None


class ReportHead(BaseModel):
    """A report without its result: what the report builds around the stored result (api/routers/reports.py)."""

    institution: Institution
    run: RunRef
    previous_year: PreviousYear | None = Field(
        description="the latest visible run of the year before, if any"
    )
    monthly_energy: list[MonthlyEnergy]
    monthly_energy_note: str = Field(description="how monthly kgce was converted, and what was left out")
    degree_days: ReportDegreeDays | None = Field(
        None, description="per-area energy of both years beside the city's HDD/CDD (docs/savings.md)"
    )
    savings: list[ReportProject] = Field(
        default_factory=list,
        description="retrofit and contract projects whose reporting period overlaps the year",
    )


class Report(ReportHead):
    result: InstitutionResult


class AssessedItemWrite(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"points": 4.5, "evidence": "2026年节能管理制度文件, 苏机事〔2026〕12号"}]
        },
    )
    # Strict: JSON true is not 1.0 points.
    points: float = Field(ge=0, le=1000, allow_inf_nan=False, strict=True)
    evidence: str | None = Field(
        None, max_length=4000, description="where the evidence is (document, file, link)"
    )


class AccessEntry(BaseModel):
    id: int
    accessed_at: datetime
    api_key_id: int | None
    key_name: str | None = Field(description="None for a refusal without a valid key")
    role: str | None
    resource: str = Field(
        description="report, ranking, institutions, institution, usage, quality, assessed_items, "
        "assessed_audit, registry_export, or refused (a 401/403)"
    )
    institution_id: str | None
    run_id: int | None
    year: int | None
    format: str
    path: str
    status: int = Field(description="200 for a served pull; 401 or 403 for a refusal")
    client_addr: str | None


class ImportResult(BaseModel):
    summary: dict
