"""What a scoring run says about one institution, and about the run itself (docs/design.md §6).

`InstitutionResult` is stored whole in `scoring_result.detail` (canonical JSON) and is the API's report
model: every input, indicator, block's points and why, vetoes with reasons, the peer group and any
fallback, ranks and eligibility. Keep field names stable: stored runs are read back years later.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Collection
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from scoring.inputs import InstitutionInput
from store.quality import MeterQuality


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def record_fields(
    record: type,
    names: Collection[str] | None = None,
    *,
    required: Collection[str] = (),
    not_null: Collection[str] = (),
    descriptions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Field definitions for pydantic's `create_model` taken from the dataclass `record`, so a model that
    shows a record's fields restates none of them.

    Parameters
    ----------
    record : type
        A dataclass (the one definition of the record).
    names : collection of str, optional
        The fields to take (default: all), in the record's order whatever their order here.
    required : collection of str
        Fields that lose the record's default (a value must be given).
    not_null : collection of str
        Fields whose type loses ``None`` (the model promises a value).
    descriptions : dict of str to str, optional
        Descriptions for the JSON Schema, by field.

    Returns
    -------
    dict of str to (type, FieldInfo)
        Keyword arguments for `create_model`.
    """
    hints = typing.get_type_hints(record)
    descriptions = descriptions or {}
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        if names is not None and f.name not in names:
            continue
        tp = hints[f.name]
        if f.name in not_null and typing.get_origin(tp) in (typing.Union, types.UnionType):
            rest = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007
        default = ... if f.name in required or f.default is dataclasses.MISSING else f.default
        if f.name in descriptions:
            out[f.name] = (tp, Field(default, description=descriptions[f.name]))
        else:
            out[f.name] = (tp, default)
    return out


class MethodologyRef(_Model):
    name: str
    version: str
    hash: str = Field(description="sha256 of the methodology file's bytes")


class EnergyLine(_Model):
    """One energy type's yearly use, converted to standard coal and carbon."""

    energy_type: str
    vehicle: bool = Field(description="公务用车 fuel: excluded from per-area energy and carbon")
    quantity: float = Field(description="in `unit`, summed over the counted (main/vehicle) meters")
    unit: str
    quantity_in_coef_unit: float = Field(
        description="quantity in the coefficient's unit (density applied for L→kg)"
    )
    coef_unit: str
    density_kg_per_l: float | None = None
    kgce_per_unit: float
    coef_basis: str = Field(description="当量值 (equivalent) or 等价值 (equal-value)")
    coef_source: str
    energy_kgce: float
    kgco2_per_unit: float
    carbon_source: str
    carbon_kgco2: float
    meter_ids: list[str]
    reported_sources: list[str] = Field(
        default_factory=list, description="for reported figures: the statistics return(s) they came from"
    )
    deducted_quantity: float | None = Field(
        default=None,
        description="use of excluded floor area (dormitories, leased-out space) taken out of "
        "`quantity`, in `unit`; None: nothing deducted",
    )
    deducted_meter_ids: list[str] = Field(default_factory=list, description="the excluded-area sub-meters")


class _MeterRole(_Model):
    meter_id: str
    energy_type: str
    end_use: str
    counted: bool = Field(
        description="counted in totals (main, vehicle or own-supply meter); sub-meters are not"
    )
    deducted: bool = Field(
        default=False, description="an excluded-area sub-meter: its use is deducted from the totals"
    )
    coverage_checked: bool = Field(
        default=True,
        description="False for meters outside the coverage minimum: sub-meters, and event-based meters "
        "(expected interval 0, e.g. vehicle fuel: one reading per fill-up, so coverage means nothing)",
    )


# The figures of store.quality.MeterQuality a result shows for each meter (the scored year's; the hour counts
# stay behind, coverage being judged against each meter's expected interval instead).
RESULT_QUALITY_FIELDS = (
    "coverage",
    "longest_gap_hours",
    "resets",
    "rollovers",
    "quarantined",
    "conflicts",
    "rejects",
)

# One meter of a result: its role, then its quality figures (store.quality.MeterQuality; None: not known).
MeterQualityInfo = create_model(
    "MeterQualityInfo",
    __base__=_MeterRole,
    __module__=__name__,
    **record_fields(
        MeterQuality,
        RESULT_QUALITY_FIELDS,
        required=("coverage",),
        descriptions={
            "coverage": "share of the scored year's expected readings (at the meter's interval) present, 0..1; "
            "None if unknown"
        },
    ),
)


class YearInputs(_Model):
    """Registry and usage figures of one year (the scored year, the baseline, the previous year)."""

    year: int
    floor_area_m2: float | None
    occupants: int | None
    students_counted: str | None = Field(
        default=None,
        description="institution_year.students_counted: yes / no (occupants include the students); "
        "None: not stated",
    )
    energy: list[EnergyLine]
    water_m3: float | None
    total_energy_kgce: float | None
    vehicle_energy_kgce: float | None
    building_energy_kgce: float | None = Field(description="total − official-vehicle fuel")
    building_carbon_kgco2: float | None
    has_data: bool = Field(description="any usage recorded for this year")
    source: Literal["meters", "reported", "none"] = Field(
        default="meters",
        description="where this year's figures come from: meter usage, or (no meter usage that year) the "
        "institution's reported statistics (公共机构能源资源消费统计); none: neither",
    )
    source_detail: str | None = Field(
        default=None, description="the source in words, with the reported `source` text"
    )
    deducted_meter_ids: list[str] = Field(
        default_factory=list,
        description="excluded-area sub-meters (meter.accounting = excluded_area) whose use was deducted, water included",
    )
    source_reason: str | None = Field(
        default=None,
        description="why this source: meter data cover the year as the methodology requires, or what they lack "
        "and that the statistics return stands in, or that the year has no figures",
    )


class Inputs(_Model):
    current: YearInputs
    baseline: YearInputs | None
    previous: YearInputs | None
    prior: YearInputs | None = Field(
        default=None,
        description="the year before the previous one (two-year annual target check); None: not read",
    )
    meters: list[MeterQualityInfo]
    unconverted: list[str] = Field(
        default_factory=list, description="usage that could not be converted, and why"
    )


class Indicator(_Model):
    code: str
    label: str
    value: float | None
    unit: str
    formula: str = Field(description="the arithmetic with this institution's figures, or why it is missing")
    lower_is_better: bool = True


class AssessedItemResult(_Model):
    code: str
    label: str
    star: bool = Field(description="★ item: zero points is a veto")
    max_points: float
    points: float
    assessed: bool = Field(description="False: not assessed, scores zero")
    evidence: str | None = None
    entered_by: str | None = None
    entered_at: str | None = None


class BlockResult(_Model):
    code: str
    label: str
    kind: Literal["measured", "assessed", "bonus"]
    max_points: float
    points: float
    method: Literal["quota", "peer_percentile", "target", "annual_target", "coverage", "assessed", "missing"]
    indicator: str | None = None
    reason: str = Field(description="why these points, with the numbers")
    items: list[AssessedItemResult] = Field(default_factory=list)


class Veto(_Model):
    code: Literal[
        "star_item_zero", "missing_statistics", "failed_annual_target", "failed_plan_target", "quota_exceeded"
    ]
    reason: str


class PeerGroupInfo(_Model):
    key: str = Field(description="the group actually used")
    label: str
    wanted: str = Field(description="the narrowest group for this institution")
    size: int = Field(description="scored institutions in the group used")
    fallback: list[str] = Field(
        description="each wider group tried and why; empty when the narrowest was used"
    )


class Ranks(_Model):
    peer: int | None
    peer_size: int
    city: int | None
    city_size: int
    province: int | None
    province_size: int
    tie_break: str


# Who the result is about: the registry fields of scoring.inputs.InstitutionInput (its `id` as institution_id).
INSTITUTION_FIELDS = (
    "name",
    "region_code",
    "city_code",
    "category",
    "sub_kind",
    "admin_level",
    "climate_zone",
)
_Institution = create_model(
    "_Institution",
    __base__=_Model,
    __module__=__name__,
    institution_id=(str, ...),
    **record_fields(InstitutionInput, INSTITUTION_FIELDS, required=INSTITUTION_FIELDS),
)


class InstitutionResult(_Institution):
    year: int
    baseline_year: int
    baseline_year_source: Literal["institution", "methodology"]
    baseline_year_note: str | None = Field(
        default=None,
        description="why institution.baseline_year was set aside (a year before the plan's baseline)",
    )
    methodology: MethodologyRef
    inputs: Inputs
    indicators: list[Indicator]
    peer_group: PeerGroupInfo
    blocks: list[BlockResult]
    base_points: float | None = Field(
        description="measured + assessed blocks, out of 100; None when not scored"
    )
    bonus_points: float | None
    total_points: float | None = Field(description="base + bonus; None when the inputs are incomplete")
    scored: bool = Field(description="False when current-year inputs are missing: no points, no rank")
    missing_inputs: list[str]
    vetoes: list[Veto]
    threshold: float
    eligible: bool = Field(description="qualifies for 示范单位: scored, no veto, total ≥ threshold")
    ineligible_reasons: list[str]
    leader: bool = Field(description="qualifies as 能效领跑者 under the methodology's leader rule")
    leader_reason: str
    ranks: Ranks


class ResultInputs(BaseModel):
    """The part of a stored result that figures derived from it need (a report's monthly kgce and per-area
    energy, scoring.coal.kgce_factors): its year and inputs, read from the whole result's JSON without building
    the rest of it."""

    model_config = ConfigDict(extra="ignore")
    year: int
    inputs: Inputs


class RunInfo(_Model):
    id: int
    year: int
    region_code: str | None
    methodology_name: str
    methodology_version: str
    methodology_hash: str
    results_hash: str
    created_at: datetime
    created_by: str
    institutions: int = 0
    eligible: int = 0
    leaders: int = 0


class RankingRow(_Model):
    """One line of a run's ranking table (scoring_result columns, no detail)."""

    institution_id: str
    name: str
    region_code: str
    category: str
    peer_group: str
    total_points: float | None
    eligible: bool
    leader: bool
    rank_peer: int | None
    rank_city: int | None
    rank_province: int | None
    vetoes: list[Veto]


class AssessedItem(_Model):
    institution_id: str
    year: int
    item_code: str
    points: float
    evidence: str | None
    entered_by: str
    entered_at: datetime


class AssessedAudit(_Model):
    id: int
    institution_id: str
    year: int
    item_code: str
    old_points: float | None
    new_points: float | None
    old_evidence: str | None
    new_evidence: str | None
    changed_by: str
    changed_at: datetime
