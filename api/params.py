"""Query parameters shared by several routers, with their limits."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import Path, Query

from api.deps import require_visible
from api.errors import ApiError, forbidden, not_found
from store import api_queries as q
from store import codes, usage
from store.scope import Scope

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
REGION_PATTERN = r"^[0-9]{6}$"
MIN_DATE = date(2000, 1, 1)
MAX_DATE = date(2101, 1, 1)

InstitutionId = Annotated[
    str, Path(pattern=ID_PATTERN, description="institution id", examples=["NJ-GOV-001"])
]
MeterId = Annotated[str, Path(pattern=ID_PATTERN, description="meter id", examples=["NJ-GOV-001-E1"])]
RunId = Annotated[int, Path(ge=1, le=2**62, description="scoring run id", examples=[1])]
Year = Annotated[int, Query(ge=2000, le=2100, description="calendar year", examples=[2026])]
Limit = Annotated[int, Query(ge=1, le=1000, description="rows per page")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="rows to skip")]
RegionFilter = Annotated[
    str | None,
    Query(
        pattern=REGION_PATTERN,
        description="GB/T 2260 code: this region and everything under it",
        examples=["320100"],
    ),
]
# The codes store/codes.py owns, in its order (the OpenAPI enums list them so).
Category = Literal[tuple(codes.CATEGORIES)]
EnergyType = Literal[tuple(codes.ENERGY_TYPES)]
Bucket = usage.Bucket  # the buckets store/usage.py sums into
TableFormat = Literal["json", "csv", "xlsx"]
DocFormat = Literal["json", "csv", "xlsx", "pdf"]

# The date bounds in the schema's own terms (JSON Schema has no minimum for dates): years 2000-2100,
# and 2101-01-01 as an exclusive end.
_DAY = r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
START_DATE_PATTERN = rf"^(20[0-9]{{2}}|2100)-{_DAY}$"
END_DATE_PATTERN = rf"^((20[0-9]{{2}}|2100)-{_DAY}|2101-01-01)$"


def Start(example: str):  # noqa: N802 - a type alias factory, used as a type
    return Annotated[
        date,
        Query(
            description="first local day (inclusive), 2000-01-01 to 2100-12-31",
            examples=[example],
            json_schema_extra={"pattern": START_DATE_PATTERN},
        ),
    ]


def End(example: str):  # noqa: N802
    return Annotated[
        date,
        Query(
            description="local day after the last one (exclusive), at most 2101-01-01",
            examples=[example],
            json_schema_extra={"pattern": END_DATE_PATTERN},
        ),
    ]


# Largest span per bucket, in days: enough for any real use, small enough that one request cannot
# make the server sum millions of rows.
MAX_SPAN_DAYS = {"hour": 31, "day": 3 * 366, "month": 20 * 366, "year": 101 * 366}


def check_range(start: date, end: date, bucket: str) -> None:
    if not (MIN_DATE <= start < MAX_DATE and MIN_DATE <= end <= MAX_DATE):
        raise ApiError(422, f"dates must lie between {MIN_DATE} and {MAX_DATE}")
    if end <= start:
        raise ApiError(422, "end must be after start (end is exclusive)")
    span = (end - start).days
    if span > MAX_SPAN_DAYS[bucket]:
        raise ApiError(
            422,
            f"range too large for {bucket} buckets: {span} days, at most {MAX_SPAN_DAYS[bucket]}; "
            "use a coarser bucket or a shorter range",
        )


def check_institution(conn, scope: Scope, institution_id: str) -> dict:
    """The institution's row when the scope may see it; 404 when it does not exist, 403 outside the scope."""
    return require_visible(
        q.institution_checked(conn, scope, institution_id), f"institution {institution_id!r}"
    )


def check_region_filter(conn, scope: Scope, region_code: str | None) -> None:
    """404 for a region that does not exist; 403 when the filter and the caller's scope share nothing, for
    every role with a scope (a city assessor, an institution), rather than an empty page for some."""
    if region_code is None:
        return
    if not q.region_exists(conn, region_code):
        raise not_found(f"region {region_code!r} not found")
    if scope.role == "city_assessor" and not q.regions_overlap(conn, scope.region_code, region_code):
        raise forbidden(f"region {region_code!r} is outside your scope ({scope.region_code})")
    if scope.role == "institution" and not q.institution_in_region(conn, scope.institution_id, region_code):
        raise forbidden(f"region {region_code!r} is outside your scope (institution {scope.institution_id})")
