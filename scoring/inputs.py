"""What the pure core needs about one institution: registry rows, per-meter yearly use, quality, assessed items.

The loader (scoring/loader.py) builds these from the database; tests build them by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Data quality of one meter over one year: store.quality's record (coverage judged against the meter's expected
# reading interval over the whole calendar year, store.coverage.meter_window_coverage; None: not known).
from store.quality import MeterQuality


@dataclass(frozen=True)
class MeterUse:
    """One meter and its use per calendar year, already in `unit` (the coefficient's unit, or L for
    fuels whose coefficient is per kg: the methodology's density converts them)."""

    meter_id: str
    energy_type: str
    end_use: str
    counted: bool  # a main or vehicle meter with no parent, or an own-supply one: its use adds to totals
    unit: str
    by_year: dict[int, float] = field(default_factory=dict)  # absent year: no usage rows
    # expected reading interval in seconds (meter.read_interval_s); 0: event-based (one reading per fill-up or
    # delivery), never judged by coverage; None: the registry default (store.codes.default_read_interval_s)
    read_interval_s: int | None = None
    # an excluded-area sub-meter (meter.accounting = excluded_area: dormitories, leased-out space, which 建筑面积
    # excludes): its use is inside its parent's and is deducted from the totals
    deducted: bool = False


@dataclass(frozen=True)
class ReportedUse:
    """One figure of an institution's annual statistics return (公共机构能源资源消费统计, table reported_usage),
    already in `unit` like MeterUse. Used only for a year with no meter usage at all."""

    energy_type: str
    end_use: str  # main | vehicle
    unit: str
    quantity: float
    source: str | None = None


@dataclass(frozen=True)
class AssessedEntry:
    points: float
    evidence: str | None
    entered_by: str
    entered_at: str  # ISO 8601, as stored
    # the item's maximum the points were entered against (assessed_item.out_of); None: points as entered
    out_of: float | None = None


@dataclass
class InstitutionInput:
    id: str
    name: str
    region_code: str
    city_code: str
    category: str
    sub_kind: str | None
    admin_level: str
    climate_zone: str
    baseline_year: int | None  # institution.baseline_year; None: the methodology's default
    years: dict[int, tuple[float, int]] = field(default_factory=dict)  # year -> (floor_area_m2, occupants)
    students_counted: dict[int, str] = field(default_factory=dict)  # year -> yes | no; absent: not stated
    meters: list[MeterUse] = field(default_factory=list)
    quality: dict[str, MeterQuality] = field(default_factory=dict)  # the scored year, per meter
    # other years scoring reads (baseline, previous): per meter in service that year; a meter absent from a
    # year's mapping was not in service then (or its quality is unknown, when it has usage that year)
    quality_by_year: dict[int, dict[str, MeterQuality]] = field(default_factory=dict)
    assessed: dict[str, AssessedEntry] = field(default_factory=dict)
    unconverted: list[str] = field(default_factory=list)  # usage the loader could not convert, and why
    # registry rows that leave the totals in doubt (a sub-meter with no parent that is not its own supply)
    registry_problems: list[str] = field(default_factory=list)
    # year -> reported statistics (sorted by energy type, end use); used for years without meter usage
    reported: dict[int, list[ReportedUse]] = field(default_factory=dict)
