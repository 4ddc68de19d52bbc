"""Registry file kinds: their columns and value types, and the records a read file becomes.

Column names follow store/migrations/0001_core.sql; codes and their Chinese labels come from
``store.codes``. docs/registry.md documents the files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from store import codes

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # the CHECK on institution.id and meter.id
REGION_RE = re.compile(r"^[0-9]{6}$")
# Characters XLSX cannot hold (and no name needs): export as a workbook would fail on them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
YEAR_MIN, YEAR_MAX = 2000, 2100  # the CHECK on institution_year.year
# Longest free text per column, in characters (any other text column: TEXT_DEFAULT_MAX_CHARS). Names go
# into ranking tables and PDF headings; the longest official Chinese institution names are under 60.
TEXT_MAX_CHARS = {"name": 200, "address": 500}
TEXT_DEFAULT_MAX_CHARS = 1000


@dataclass(frozen=True)
class Col:
    name: str
    type: str  # id | text | code | int | float | ts | date | unit | region
    required: bool = False  # the header must have it and every row a value
    codes: Mapping[str, str] | None = None
    what: str = ""  # how messages name the allowed set
    positive: bool = False
    non_negative: bool = False
    year_range: bool = False
    default: Any = None  # used for an empty cell of an optional column


@dataclass(frozen=True)
class Kind:
    name: str  # institutions | institution_years | meters | reported_usage
    table: str
    filename: str
    key: tuple[str, ...]
    columns: tuple[Col, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def col(self, name: str) -> Col:
        return next(c for c in self.columns if c.name == name)


INSTITUTIONS = Kind(
    "institutions",
    "institution",
    "institutions.csv",
    ("id",),
    (
        Col("id", "id", required=True),
        Col("name", "text", required=True),
        Col("category", "code", required=True, codes=codes.CATEGORIES, what="category"),
        Col("sub_kind", "text"),  # checked against the row's category
        Col("admin_level", "code", required=True, codes=codes.ADMIN_LEVELS, what="admin_level"),
        Col("region_code", "region", required=True),
        Col("climate_zone", "code", required=True, codes=codes.CLIMATE_ZONES, what="climate_zone"),
        Col("baseline_year", "int", year_range=True),
        Col("address", "text"),
    ),
)

INSTITUTION_YEARS = Kind(
    "institution_years",
    "institution_year",
    "institution_years.csv",
    ("institution_id", "year"),
    (
        Col("institution_id", "id", required=True),
        Col("year", "int", required=True, year_range=True),
        Col("floor_area_m2", "float", required=True, positive=True),
        Col("occupants", "int", required=True, positive=True),
        # yes: occupants include the students (schools); no: staff only; empty: not stated
        Col("students_counted", "code", codes=codes.STUDENTS_COUNTED, what="students_counted"),
    ),
)

METERS = Kind(
    "meters",
    "meter",
    "meters.csv",
    ("id",),
    (
        Col("id", "id", required=True),
        Col("institution_id", "id", required=True),
        Col("name", "text"),
        Col("energy_type", "code", required=True, codes=codes.ENERGY_TYPES, what="energy_type"),
        Col("unit", "unit", required=True),
        Col("register", "code", required=True, codes=codes.REGISTERS, what="register"),
        Col("end_use", "code", required=True, codes=codes.END_USES, what="end_use"),
        Col("parent_meter_id", "id"),
        Col("multiplier", "float", positive=True, default=1.0),
        Col("rollover", "float", positive=True),
        Col("max_rate_per_h", "float", positive=True),
        # When the row's unit, register, multiplier, rollover and max_rate_per_h took effect (a CT
        # changed on a given day); empty: from the beginning. Earlier configurations stay (meter_config).
        Col("config_from", "ts"),
        Col("installed_at", "ts", required=True),
        Col("retired_at", "ts"),
        # seconds between expected readings; 0 event-based; empty: store.codes.default_read_interval_s
        Col("read_interval_s", "int"),
        Col("accounting", "code", codes=codes.METER_ACCOUNTING, what="accounting"),
    ),
)

# Figures an institution reported in its annual statistics return (公共机构能源资源消费统计) for years its
# meters do not cover (before metering, or before a meter was installed); scoring uses them for such years.
REPORTED_END_USES: dict[str, str] = {k: codes.END_USES[k] for k in ("main", "vehicle")}

REPORTED_USAGE = Kind(
    "reported_usage",
    "reported_usage",
    "reported_usage.csv",
    ("institution_id", "year", "energy_type", "end_use"),
    (
        Col("institution_id", "id", required=True),
        Col("year", "int", required=True, year_range=True),
        Col("energy_type", "code", required=True, codes=codes.ENERGY_TYPES, what="energy_type"),
        Col("end_use", "code", required=True, codes=REPORTED_END_USES, what="end_use for reported usage"),
        Col("unit", "unit", required=True),
        Col("quantity", "float", required=True, non_negative=True),
        Col("source", "text"),
    ),
)

KINDS: dict[str, Kind] = {k.name: k for k in (INSTITUTIONS, INSTITUTION_YEARS, METERS, REPORTED_USAGE)}
# Columns that tell the kinds apart when a header is incomplete.
_SIGNATURE = {
    "institutions": {
        "category",
        "admin_level",
        "region_code",
        "climate_zone",
        "sub_kind",
        "baseline_year",
        "address",
    },
    "institution_years": {"year", "floor_area_m2", "occupants"},
    "meters": {"energy_type", "unit", "register", "end_use", "parent_meter_id", "multiplier", "installed_at"},
    "reported_usage": {"year", "energy_type", "unit", "end_use", "quantity", "source"},
}


# --- errors and parsed rows -----------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    column: str  # a column name, or "-" when the message is about the whole file or row
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


@dataclass
class Table:
    """One CSV file or one XLSX sheet, recognised as a kind."""

    kind: Kind
    source: str  # "meters.csv" or "book.xlsx[meters]"
    header: tuple[str, ...]
    rows: list[tuple[int, dict[str, str]]]  # (line, column -> raw text); blank rows dropped


@dataclass
class Row:
    kind: Kind
    source: str
    line: int
    values: dict[str, Any]  # only the columns the file has; parsed to Python values

    def where(self, column: str, message: str) -> RowError:
        return RowError(self.source, self.line, column, message)


@dataclass
class Parsed:
    institutions: list[Row] = field(default_factory=list)
    years: list[Row] = field(default_factory=list)
    meters: list[Row] = field(default_factory=list)  # parents before children
    reported: list[Row] = field(default_factory=list)
    projects: list[Row] = field(default_factory=list)

    def rows(self, kind: Kind) -> list[Row]:
        return {
            "institutions": self.institutions,
            "institution_years": self.years,
            "meters": self.meters,
            "reported_usage": self.reported,
            "projects": self.projects,
        }[kind.name]


@dataclass(frozen=True)
class DbMeter:
    institution_id: str
    energy_type: str
    parent_meter_id: str | None
    end_use: str | None = None
    accounting: str | None = None


@dataclass
class DbState:
    """What validation needs to know about the database."""

    region_codes: set[str]
    # institution id -> (category, sub_kind)
    institutions: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    meters: dict[str, DbMeter] = field(default_factory=dict)


class CellError(ValueError):
    pass


def float_text(v: float) -> str:
    """A float as files hold it: shortest round-trip repr, without a trailing ".0"."""
    s = repr(float(v))
    return s[:-2] if s.endswith(".0") else s
