"""Scopes: what an API key may see, as SQL predicates (docs/design.md §7, §9).

A scope is everything (admin, assessor), a region and every region under it (city assessor, through
store.regions), or one institution. Every API query puts the predicate for its caller's scope in its
WHERE clause, so rows outside it never leave the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from store.regions import ancestors_sql, subtree_of_any_sql, subtree_sql


@dataclass(frozen=True)
class Scope:
    role: str
    region_code: str | None = None
    institution_id: str | None = None

    @property
    def everything(self) -> bool:
        return self.role in ("admin", "assessor")

    def params(self) -> dict[str, Any]:
        return {"scope_region": self.region_code, "scope_institution": self.institution_id}


def scope_predicate(scope: Scope, *, region_col: str, institution_col: str) -> str:
    """A boolean SQL expression: the row's institution/region lies in the scope."""
    if scope.everything:
        return "TRUE"
    if scope.role == "city_assessor":
        return f"({region_col} = ANY({subtree_sql('%(scope_region)s')}))"
    if scope.role == "institution":
        return f"({institution_col} = %(scope_institution)s)"
    return "FALSE"


def run_scope_predicate(scope: Scope, alias: str = "r") -> str:
    """Runs a scope may see: province-wide runs, runs of a region above it, and runs under its region."""
    if scope.everything:
        return "TRUE"
    col = f"{alias}.region_code"
    if scope.role == "city_assessor":
        return (
            f"({col} IS NULL OR {col} = ANY({subtree_sql('%(scope_region)s')})"
            f" OR {col} = ANY({ancestors_sql('%(scope_region)s')}))"
        )
    if scope.role == "institution":
        inst_region = "(SELECT region_code FROM institution WHERE id = %(scope_institution)s)"
        return f"({col} IS NULL OR {col} = ANY({ancestors_sql(inst_region)}))"
    return "FALSE"


_IN_REGIONS = " AND {alias}.region_code = ANY(" + subtree_of_any_sql("%(filter_regions)s") + ")"
_OF_INSTITUTION = " AND {alias}.institution_id = %(filter_institution)s"


def filter_conditions(
    alias: str, region_codes: Sequence[str] | None, institution_id: str | None, params: dict[str, Any]
) -> str:
    """SQL conditions (leading AND) restricting rows of table `alias` (which has region_code /
    institution_id) to the caller's scope. A region code matches institutions in every region under it.
    Their values go into `params` as ``filter_regions`` and ``filter_institution``."""
    out = ""
    if region_codes is not None:
        out += _IN_REGIONS.format(alias=alias)
        params["filter_regions"] = list(region_codes)
    if institution_id is not None:
        out += _OF_INSTITUTION.format(alias=alias)
        params["filter_institution"] = institution_id
    return out
