"""Queries behind the assessor API, with the caller's scope inside the SQL (docs/design.md §7, §9).

Visibility checks (does it exist, may this scope see it), institution, run and ranking lists, usage
series. Every query takes the scope (store.scope) and puts it in its WHERE clause, so rows outside it
never leave the database.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from store.regions import ancestors_sql, subtree_sql
from store.scope import Scope, run_scope_predicate, scope_predicate

# Statements below are templates: ``{pred}`` is the caller's scope predicate (store.scope), the rest
# is fixed; every value is a named parameter.

INSTITUTION_COLS = (
    "i.id, i.name, i.category, i.sub_kind, i.admin_level, i.region_code, rg.name AS region_name,"
    " i.climate_zone, i.baseline_year, i.address"
)

_INSTITUTION_CHECKED = f"""
SELECT {INSTITUTION_COLS}, {{pred}} AS visible FROM institution i JOIN region rg ON rg.code = i.region_code
WHERE i.id = %(id)s
"""

_METER_CHECKED = """
SELECT m.id, m.institution_id, m.name, m.energy_type, m.unit, m.register, m.end_use, m.parent_meter_id,
    m.multiplier, m.installed_at, m.retired_at, {pred} AS visible
FROM meter m JOIN institution i ON i.id = m.institution_id WHERE m.id = %(id)s
"""

_REGION_EXISTS = """
SELECT 1 FROM region WHERE code = %(code)s
"""

_REGIONS_OVERLAP = f"""
SELECT %(b)s = ANY({subtree_sql("%(a)s")}) OR %(a)s = ANY({subtree_sql("%(b)s")})
"""

_INSTITUTION_IN_REGION = f"""
SELECT region_code = ANY({subtree_sql("%(region)s")}) FROM institution WHERE id = %(id)s
"""

_INSTITUTION = f"""
SELECT {INSTITUTION_COLS} FROM institution i JOIN region rg ON rg.code = i.region_code
WHERE i.id = %(id)s AND {{pred}}
"""

_INSTITUTION_YEARS = """
SELECT year, floor_area_m2, occupants FROM institution_year WHERE institution_id = %(id)s ORDER BY year
"""

_INSTITUTION_METERS = """
SELECT id, name, energy_type, unit, register, end_use, parent_meter_id, multiplier, installed_at, retired_at
FROM meter WHERE institution_id = %(id)s ORDER BY id
"""

# --- visibility ---------------------------------------------------------------------------------


def institution_visibility(conn: psycopg.Connection, scope: Scope, institution_id: str) -> bool | None:
    """None: no such institution for anyone; False: exists, outside the scope; True: visible."""
    row = institution_checked(conn, scope, institution_id)
    return None if row is None else row["visible"]


def institution_checked(conn: psycopg.Connection, scope: Scope, institution_id: str) -> dict | None:
    """The institution's columns plus ``visible`` (in scope or not); None when it does not exist.
    The columns are for the caller to use only when ``visible`` is true."""
    pred = scope_predicate(scope, region_col="i.region_code", institution_col="i.id")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            _INSTITUTION_CHECKED.format(pred=pred), {**scope.params(), "id": institution_id}
        ).fetchone()


def meter_visibility(conn: psycopg.Connection, scope: Scope, meter_id: str) -> dict | None:
    """The meter row plus ``visible``; None when there is no such meter."""
    pred = scope_predicate(scope, region_col="i.region_code", institution_col="i.id")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_METER_CHECKED.format(pred=pred), {**scope.params(), "id": meter_id}).fetchone()


def region_exists(conn: psycopg.Connection, code: str) -> bool:
    return conn.execute(_REGION_EXISTS, {"code": code}).fetchone() is not None


def regions_overlap(conn: psycopg.Connection, a: str, b: str) -> bool:
    """True when one region lies at or under the other."""
    row = conn.execute(_REGIONS_OVERLAP, {"a": a, "b": b}).fetchone()
    return bool(row[0])


def institution_in_region(conn: psycopg.Connection, institution_id: str, region_code: str) -> bool:
    """True when the institution lies in the region or a region under it."""
    row = conn.execute(_INSTITUTION_IN_REGION, {"region": region_code, "id": institution_id}).fetchone()
    return bool(row and row[0])


# --- institutions -------------------------------------------------------------------------------


def list_institutions(
    conn: psycopg.Connection,
    scope: Scope,
    *,
    region_code: str | None,
    category: str | None,
    q: str | None,
    limit: int,
    offset: int,
) -> tuple[int, list[dict]]:
    pred = scope_predicate(scope, region_col="i.region_code", institution_col="i.id")
    where = [pred]
    params: dict[str, Any] = {**scope.params(), "limit": limit, "offset": offset}
    if region_code:
        where.append(f"i.region_code = ANY({subtree_sql('%(region)s')})")
        params["region"] = region_code
    if category:
        where.append("i.category = %(category)s")
        params["category"] = category
    if q:
        where.append("(strpos(i.name, %(q)s) > 0 OR strpos(i.id, %(q)s) > 0)")
        params["q"] = q
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {INSTITUTION_COLS}, count(*) OVER () AS total FROM institution i"
            " JOIN region rg ON rg.code = i.region_code"
            f" WHERE {' AND '.join(where)} ORDER BY i.id LIMIT %(limit)s OFFSET %(offset)s",
            params,
        ).fetchall()
        if rows:
            total = rows[0]["total"]
        else:
            total = cur.execute(
                f"SELECT count(*) AS n FROM institution i WHERE {' AND '.join(where)}", params
            ).fetchone()["n"]
    for r in rows:
        r.pop("total", None)
    return total, rows


def get_institution(conn: psycopg.Connection, scope: Scope, institution_id: str) -> dict | None:
    pred = scope_predicate(scope, region_col="i.region_code", institution_col="i.id")
    params = {**scope.params(), "id": institution_id}
    with conn.cursor(row_factory=dict_row) as cur:
        inst = cur.execute(_INSTITUTION.format(pred=pred), params).fetchone()
        if inst is None:
            return None
        inst["years"] = cur.execute(_INSTITUTION_YEARS, params).fetchall()
        inst["meters"] = cur.execute(_INSTITUTION_METERS, params).fetchall()
    return inst


def institution_meter_ids(
    conn: psycopg.Connection, scope: Scope, institution_id: str, energy_type: str | None = None
) -> list[str]:
    pred = scope_predicate(scope, region_col="i.region_code", institution_col="i.id")
    rows = conn.execute(
        "SELECT m.id FROM meter m JOIN institution i ON i.id = m.institution_id"
        f" WHERE m.institution_id = %(id)s AND {pred}"
        " AND (%(et)s::text IS NULL OR m.energy_type = %(et)s) ORDER BY m.id",
        {**scope.params(), "id": institution_id, "et": energy_type},
    ).fetchall()
    return [r[0] for r in rows]


# --- runs and rankings --------------------------------------------------------------------------


def run_cols(scope: Scope) -> str:
    """A run's columns, with counts of its results inside the scope only: a city assessor looking at a
    province-wide run learns how many of *its* institutions were scored, eligible and leaders."""
    pred = scope_predicate(scope, region_col="s.region_code", institution_col="s.institution_id")
    return (
        "r.id, r.year, r.region_code, r.methodology_name, r.methodology_version, r.methodology_hash,"
        " r.results_hash, r.created_at, r.created_by, c.institutions, c.eligible, c.leaders"
    ), (
        " CROSS JOIN LATERAL (SELECT count(*) AS institutions, count(*) FILTER (WHERE s.eligible) AS eligible,"
        f" count(*) FILTER (WHERE s.leader) AS leaders FROM scoring_result s WHERE s.run_id = r.id AND {pred}) c"
    )


def list_runs(
    conn: psycopg.Connection, scope: Scope, *, year: int | None, limit: int, offset: int
) -> tuple[int, list[dict]]:
    pred = run_scope_predicate(scope)
    params = {**scope.params(), "year": year, "limit": limit, "offset": offset}
    where = f"{pred} AND (%(year)s::int IS NULL OR r.year = %(year)s)"
    cols, counts = run_cols(scope)
    with conn.cursor(row_factory=dict_row) as cur:
        total = cur.execute(f"SELECT count(*) AS n FROM scoring_run r WHERE {where}", params).fetchone()["n"]
        rows = cur.execute(
            f"SELECT {cols} FROM scoring_run r{counts} WHERE {where}"
            " ORDER BY r.created_at DESC, r.id DESC LIMIT %(limit)s OFFSET %(offset)s",
            params,
        ).fetchall()
    return total, rows


def run_visibility(conn: psycopg.Connection, scope: Scope, run_id: int) -> bool | None:
    row = run_checked(conn, scope, run_id)
    return None if row is None else row["visible"]


def run_checked(conn: psycopg.Connection, scope: Scope, run_id: int) -> dict | None:
    """The run's identity (no per-run counts) plus ``visible``; None when there is no such run."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT r.id, r.year, r.region_code, r.methodology_name, r.methodology_version, r.methodology_hash,"
            f" r.created_at, {run_scope_predicate(scope)} AS visible FROM scoring_run r WHERE r.id = %(id)s",
            {**scope.params(), "id": run_id},
        ).fetchone()


def get_run(conn: psycopg.Connection, scope: Scope, run_id: int, *, with_text: bool = False) -> dict | None:
    extra = ", r.methodology_text" if with_text else ""
    cols, counts = run_cols(scope)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {cols}{extra} FROM scoring_run r{counts} WHERE r.id = %(id)s AND {run_scope_predicate(scope)}",
            {**scope.params(), "id": run_id},
        ).fetchone()


def latest_visible_run_id(conn: psycopg.Connection, scope: Scope, year: int) -> int | None:
    row = conn.execute(
        f"SELECT r.id FROM scoring_run r WHERE r.year = %(year)s AND {run_scope_predicate(scope)}"
        " ORDER BY r.created_at DESC, r.id DESC LIMIT 1",
        {**scope.params(), "year": year},
    ).fetchone()
    return None if row is None else row[0]


def latest_covering_run_id(
    conn: psycopg.Connection, scope: Scope, year: int, region_code: str | None = None
) -> int | None:
    """The newest run of ``year`` that scored everything the caller asks for: the scope, narrowed by the
    ``region_code`` filter when given. A run covers a region when it is province-wide or was run for
    that region or one above it; a newer run of a single city therefore never stands in for the
    province (or for another city)."""
    if scope.role == "city_assessor":
        # The narrower of the scope's region and the filter (the filter was checked to overlap the scope).
        target = (
            f"(CASE WHEN %(filter)s::text IS NOT NULL AND %(filter)s = ANY({subtree_sql('%(scope_region)s')})"
            " THEN %(filter)s ELSE %(scope_region)s END)"
        )
    elif scope.role == "institution":
        target = "(SELECT region_code FROM institution WHERE id = %(scope_institution)s)"
    else:
        target = "%(filter)s::text"
    covers = f"(r.region_code IS NULL OR r.region_code = ANY({ancestors_sql(target)}))"
    row = conn.execute(
        f"SELECT r.id FROM scoring_run r WHERE r.year = %(year)s AND {run_scope_predicate(scope)} AND {covers}"
        " ORDER BY r.created_at DESC, r.id DESC LIMIT 1",
        {**scope.params(), "year": year, "filter": region_code},
    ).fetchone()
    return None if row is None else row[0]


RANKING_SORTS = {
    "rank_province": "sr.rank_province",
    "rank_city": "sr.rank_city",
    "rank_peer": "sr.rank_peer",
    "total_points": "sr.total_points",
    "institution_id": "sr.institution_id",
    "name": "i.name",
}


def _ranking_page_sql(
    scope: Scope,
    run_id: int,
    *,
    region_code: str | None,
    category: str | None,
    peer_group: str | None,
    eligible: bool | None,
    sort: str,
    descending: bool,
    limit: int,
    offset: int,
    known_total: int | None,
) -> tuple[str, dict[str, Any]]:
    """A SELECT of one row (``total``, ``items``): the page of the run's ranking inside the scope, as
    JSON text built by PostgreSQL in RankingRow's shape, and the count of matching rows."""
    if sort not in RANKING_SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    pred = scope_predicate(scope, region_col="sr.region_code", institution_col="sr.institution_id")
    where = ["sr.run_id = %(run_id)s", pred]
    params: dict[str, Any] = {**scope.params(), "run_id": run_id, "limit": limit, "offset": offset}
    if region_code:
        where.append(f"sr.region_code = ANY({subtree_sql('%(region)s')})")
        params["region"] = region_code
    if category:
        where.append("sr.category = %(category)s")
        params["category"] = category
    if peer_group:
        where.append("sr.peer_group = %(peer_group)s")
        params["peer_group"] = peer_group
    if eligible is not None:
        where.append("sr.eligible = %(eligible)s")
        params["eligible"] = eligible
    direction = "DESC" if descending else "ASC"
    sort_col = RANKING_SORTS[sort]
    if known_total is None:
        count_sql = f"(SELECT count(*) FROM scoring_result sr WHERE {' AND '.join(where)})"
    else:
        count_sql = "%(known_total)s::bigint"
        params["known_total"] = known_total
    name_join = " JOIN institution i ON i.id = sr.institution_id" if sort == "name" else ""
    # First the page's institution ids with their sort key (for the default order an index-only scan of
    # scoring_result_page_idx, however deep the OFFSET); then each of those rows by its primary key, in
    # a scalar subquery so the planner cannot turn a hundred lookups into a scan and hash of the whole
    # run; row_to_json of a plain row is cheaper than json_build_object of its pairs.
    row = (
        "(SELECT row_to_json(x) FROM (SELECT sr.institution_id, i.name, sr.region_code, sr.category, sr.peer_group,"
        " sr.total_points, sr.eligible, sr.leader, sr.rank_peer, sr.rank_city, sr.rank_province, sr.vetoes"
        " FROM scoring_result sr JOIN institution i ON i.id = sr.institution_id"
        " WHERE sr.run_id = %(run_id)s AND sr.institution_id = page.institution_id) x)"
    )
    query = (
        f"SELECT {count_sql} AS total, coalesce(json_agg({row}"
        f" ORDER BY page.sort_key {direction} NULLS LAST, page.institution_id), '[]')::text AS items"
        f" FROM (SELECT sr.institution_id, {sort_col} AS sort_key FROM scoring_result sr{name_join}"
        f" WHERE {' AND '.join(where)} ORDER BY {sort_col} {direction} NULLS LAST, sr.institution_id"
        " LIMIT %(limit)s OFFSET %(offset)s) page"
    )
    return query, params


# --- usage --------------------------------------------------------------------------------------

BUCKET_SQL = {
    # (table, time column, bucket expression)
    "hour": ("usage_hourly", "hour", "u.hour"),
    "day": ("usage_daily", "day", "u.day"),
    "month": ("usage_monthly", "month", "u.month"),
    "year": ("usage_monthly", "month", "date_trunc('year', u.month)::date"),
}


def usage_series(
    conn: psycopg.Connection,
    scope: Scope,
    *,
    start: date | datetime,
    end: date | datetime,
    bucket: str,
    institution_id: str | None = None,
    meter_id: str | None = None,
    energy_type: str | None = None,
) -> list[dict]:
    """Consumption per meter and local-calendar bucket from the rollups, inside the scope.

    ``start``/``end`` are timestamps for hour buckets and local dates otherwise; ``end`` is exclusive.
    """
    table, col, expr = BUCKET_SQL[bucket]
    pred = scope_predicate(scope, region_col="i.region_code", institution_col="i.id")
    params = {
        **scope.params(),
        "start": start,
        "end": end,
        "inst": institution_id,
        "meter": meter_id,
        "et": energy_type,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT u.meter_id, m.energy_type, m.unit, m.end_use, {expr} AS bucket_start,"
            " sum(u.consumption) AS consumption"
            f" FROM {table} u JOIN meter m ON m.id = u.meter_id JOIN institution i ON i.id = m.institution_id"
            f" WHERE {pred} AND u.{col} >= %(start)s AND u.{col} < %(end)s"
            " AND (%(inst)s::text IS NULL OR m.institution_id = %(inst)s)"
            " AND (%(meter)s::text IS NULL OR m.id = %(meter)s)"
            " AND (%(et)s::text IS NULL OR m.energy_type = %(et)s)"
            " GROUP BY u.meter_id, m.energy_type, m.unit, m.end_use, bucket_start"
            " ORDER BY u.meter_id, bucket_start",
            params,
        ).fetchall()
