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
# ``{where}``: the scope predicate, then those of the fixed conditions below that the call asks for.

_LIST_INSTITUTIONS = f"""
SELECT {INSTITUTION_COLS}, count(*) OVER () AS total FROM institution i
JOIN region rg ON rg.code = i.region_code
WHERE {{where}} ORDER BY i.id LIMIT %(limit)s OFFSET %(offset)s
"""

_COUNT_INSTITUTIONS = """
SELECT count(*) AS n FROM institution i WHERE {where}
"""

_UNDER_REGION = f"i.region_code = ANY({subtree_sql('%(region)s')})"
_OF_CATEGORY = "i.category = %(category)s"
_NAME_OR_ID_CONTAINS = "(strpos(i.name, %(q)s) > 0 OR strpos(i.id, %(q)s) > 0)"

_VISIBLE_INSTITUTION_IDS = """
SELECT i.id FROM institution i WHERE {pred}
"""

_INSTITUTION_METER_IDS = """
SELECT m.id FROM meter m JOIN institution i ON i.id = m.institution_id
WHERE m.institution_id = %(id)s AND {pred}
    AND (%(et)s::text IS NULL OR m.energy_type = %(et)s) ORDER BY m.id
"""


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
        where.append(_UNDER_REGION)
        params["region"] = region_code
    if category:
        where.append(_OF_CATEGORY)
        params["category"] = category
    if q:
        where.append(_NAME_OR_ID_CONTAINS)
        params["q"] = q
    conditions = " AND ".join(where)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_LIST_INSTITUTIONS.format(where=conditions), params).fetchall()
        if rows:
            total = rows[0]["total"]
        else:
            total = cur.execute(_COUNT_INSTITUTIONS.format(where=conditions), params).fetchone()["n"]
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


def visible_institution_ids(conn: psycopg.Connection, scope: Scope) -> list[str]:
    """Ids of every institution the scope may see (in no particular order)."""
    pred = scope_predicate(scope, region_col="i.region_code", institution_col="i.id")
    return [r[0] for r in conn.execute(_VISIBLE_INSTITUTION_IDS.format(pred=pred), scope.params())]


def institution_meter_ids(
    conn: psycopg.Connection, scope: Scope, institution_id: str, energy_type: str | None = None
) -> list[str]:
    pred = scope_predicate(scope, region_col="i.region_code", institution_col="i.id")
    rows = conn.execute(
        _INSTITUTION_METER_IDS.format(pred=pred), {**scope.params(), "id": institution_id, "et": energy_type}
    ).fetchall()
    return [r[0] for r in rows]


# --- runs and rankings --------------------------------------------------------------------------
# ``{pred}`` (or ``{run_pred}``): the scope's predicate on results (or runs); ``{counts}``: run_cols' join.

_RUN_COLS = (
    "r.id, r.year, r.region_code, r.methodology_name, r.methodology_version, r.methodology_hash,"
    " r.results_hash, r.created_at, r.created_by, c.institutions, c.eligible, c.leaders"
)

_RUN_COUNTS = (
    " CROSS JOIN LATERAL (SELECT count(*) AS institutions, count(*) FILTER (WHERE s.eligible) AS eligible,"
    " count(*) FILTER (WHERE s.leader) AS leaders FROM scoring_result s WHERE s.run_id = r.id AND {pred}) c"
)

_COUNT_RUNS = """
SELECT count(*) AS n FROM scoring_run r WHERE {where}
"""

_LIST_RUNS = f"""
SELECT {_RUN_COLS} FROM scoring_run r{{counts}} WHERE {{where}}
ORDER BY r.created_at DESC, r.id DESC LIMIT %(limit)s OFFSET %(offset)s
"""

_OF_YEAR_IF_GIVEN = "(%(year)s::int IS NULL OR r.year = %(year)s)"

_RUN_CHECKED = """
SELECT r.id, r.year, r.region_code, r.methodology_name, r.methodology_version, r.methodology_hash,
    r.created_at, {run_pred} AS visible FROM scoring_run r WHERE r.id = %(id)s
"""

_GET_RUN = f"""
SELECT {_RUN_COLS}{{extra}} FROM scoring_run r{{counts}} WHERE r.id = %(id)s AND {{run_pred}}
"""

_WITH_METHODOLOGY_TEXT = ", r.methodology_text"

_LATEST_VISIBLE_RUN_ID = """
SELECT r.id FROM scoring_run r WHERE r.year = %(year)s AND {run_pred}
ORDER BY r.created_at DESC, r.id DESC LIMIT 1
"""

# ``{target}``: the region the run must cover (latest_covering_run_id).
_LATEST_COVERING_RUN_ID = f"""
SELECT r.id FROM scoring_run r WHERE r.year = %(year)s AND {{run_pred}}
    AND (r.region_code IS NULL OR r.region_code = ANY({ancestors_sql("{target}")}))
ORDER BY r.created_at DESC, r.id DESC LIMIT 1
"""

# The narrower of a city assessor's region and the filter (the filter was checked to overlap the scope).
_NARROWER_OF_SCOPE_AND_FILTER = (
    f"(CASE WHEN %(filter)s::text IS NOT NULL AND %(filter)s = ANY({subtree_sql('%(scope_region)s')})"
    " THEN %(filter)s ELSE %(scope_region)s END)"
)
_REGION_OF_SCOPE_INSTITUTION = "(SELECT region_code FROM institution WHERE id = %(scope_institution)s)"
_FILTER_REGION = "%(filter)s::text"


def run_cols(scope: Scope) -> tuple[str, str]:
    """A run's columns, with counts of its results inside the scope only: a city assessor looking at a
    province-wide run learns how many of *its* institutions were scored, eligible and leaders."""
    pred = scope_predicate(scope, region_col="s.region_code", institution_col="s.institution_id")
    return _RUN_COLS, _RUN_COUNTS.format(pred=pred)


def list_runs(
    conn: psycopg.Connection, scope: Scope, *, year: int | None, limit: int, offset: int
) -> tuple[int, list[dict]]:
    pred = run_scope_predicate(scope)
    params = {**scope.params(), "year": year, "limit": limit, "offset": offset}
    where = f"{pred} AND {_OF_YEAR_IF_GIVEN}"
    _, counts = run_cols(scope)
    with conn.cursor(row_factory=dict_row) as cur:
        total = cur.execute(_COUNT_RUNS.format(where=where), params).fetchone()["n"]
        rows = cur.execute(_LIST_RUNS.format(counts=counts, where=where), params).fetchall()
    return total, rows


def run_visibility(conn: psycopg.Connection, scope: Scope, run_id: int) -> bool | None:
    row = run_checked(conn, scope, run_id)
    return None if row is None else row["visible"]


def run_checked(conn: psycopg.Connection, scope: Scope, run_id: int) -> dict | None:
    """The run's identity (no per-run counts) plus ``visible``; None when there is no such run."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            _RUN_CHECKED.format(run_pred=run_scope_predicate(scope)), {**scope.params(), "id": run_id}
        ).fetchone()


def get_run(conn: psycopg.Connection, scope: Scope, run_id: int, *, with_text: bool = False) -> dict | None:
    _, counts = run_cols(scope)
    sql = _GET_RUN.format(
        extra=_WITH_METHODOLOGY_TEXT if with_text else "", counts=counts, run_pred=run_scope_predicate(scope)
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, {**scope.params(), "id": run_id}).fetchone()


def latest_visible_run_id(conn: psycopg.Connection, scope: Scope, year: int) -> int | None:
    row = conn.execute(
        _LATEST_VISIBLE_RUN_ID.format(run_pred=run_scope_predicate(scope)), {**scope.params(), "year": year}
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
        target = _NARROWER_OF_SCOPE_AND_FILTER
    elif scope.role == "institution":
        target = _REGION_OF_SCOPE_INSTITUTION
    else:
        target = _FILTER_REGION
    sql = _LATEST_COVERING_RUN_ID.format(run_pred=run_scope_predicate(scope), target=target)
    row = conn.execute(sql, {**scope.params(), "year": year, "filter": region_code}).fetchone()
    return None if row is None else row[0]


RANKING_SORTS = {
    "rank_province": "sr.rank_province",
    "rank_city": "sr.rank_city",
    "rank_peer": "sr.rank_peer",
    "total_points": "sr.total_points",
    "institution_id": "sr.institution_id",
    "name": "i.name",
}


# First the page's institution ids with their sort key (for the default order an index-only scan of
# scoring_result_page_idx, however deep the OFFSET); then each of those rows by its primary key, in
# a scalar subquery so the planner cannot turn a hundred lookups into a scan and hash of the whole
# run; row_to_json of a plain row is cheaper than json_build_object of its pairs.
# ``{count}``: _RANKING_COUNT or _KNOWN_TOTAL; ``{where}``: the run, the scope predicate and the filters
# below; ``{sort_col}`` a RANKING_SORTS column, ``{direction}`` ASC or DESC, ``{name_join}`` _NAME_JOIN or "".
_RANKING_PAGE = """
SELECT {count} AS total, coalesce(json_agg(
    (SELECT row_to_json(x) FROM (SELECT sr.institution_id, i.name, sr.region_code, sr.category, sr.peer_group,
        sr.total_points, sr.eligible, sr.leader, sr.rank_peer, sr.rank_city, sr.rank_province, sr.vetoes
        FROM scoring_result sr JOIN institution i ON i.id = sr.institution_id
        WHERE sr.run_id = %(run_id)s AND sr.institution_id = page.institution_id) x)
    ORDER BY page.sort_key {direction} NULLS LAST, page.institution_id), '[]')::text AS items
FROM (SELECT sr.institution_id, {sort_col} AS sort_key FROM scoring_result sr{name_join}
    WHERE {where} ORDER BY {sort_col} {direction} NULLS LAST, sr.institution_id
    LIMIT %(limit)s OFFSET %(offset)s) page
"""

_RANKING_COUNT = "(SELECT count(*) FROM scoring_result sr WHERE {where})"
_KNOWN_TOTAL = "%(known_total)s::bigint"
_NAME_JOIN = " JOIN institution i ON i.id = sr.institution_id"

_RESULT_OF_RUN = "sr.run_id = %(run_id)s"
_RESULT_UNDER_REGION = f"sr.region_code = ANY({subtree_sql('%(region)s')})"
_RESULT_OF_CATEGORY = "sr.category = %(category)s"
_RESULT_OF_PEER_GROUP = "sr.peer_group = %(peer_group)s"
_RESULT_ELIGIBLE = "sr.eligible = %(eligible)s"


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
    where = [_RESULT_OF_RUN, pred]
    params: dict[str, Any] = {**scope.params(), "run_id": run_id, "limit": limit, "offset": offset}
    if region_code:
        where.append(_RESULT_UNDER_REGION)
        params["region"] = region_code
    if category:
        where.append(_RESULT_OF_CATEGORY)
        params["category"] = category
    if peer_group:
        where.append(_RESULT_OF_PEER_GROUP)
        params["peer_group"] = peer_group
    if eligible is not None:
        where.append(_RESULT_ELIGIBLE)
        params["eligible"] = eligible
    conditions = " AND ".join(where)
    if known_total is None:
        count_sql = _RANKING_COUNT.format(where=conditions)
    else:
        count_sql = _KNOWN_TOTAL
        params["known_total"] = known_total
    query = _RANKING_PAGE.format(
        count=count_sql,
        direction="DESC" if descending else "ASC",
        sort_col=RANKING_SORTS[sort],
        name_join=_NAME_JOIN if sort == "name" else "",
        where=conditions,
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


# ``{table}``, ``{col}``, ``{expr}``: a BUCKET_SQL entry; ``{pred}``: the scope predicate.
_USAGE_SERIES = """
SELECT u.meter_id, m.energy_type, m.unit, m.end_use, {expr} AS bucket_start, sum(u.consumption) AS consumption
FROM {table} u JOIN meter m ON m.id = u.meter_id JOIN institution i ON i.id = m.institution_id
WHERE {pred} AND u.{col} >= %(start)s AND u.{col} < %(end)s
    AND (%(inst)s::text IS NULL OR m.institution_id = %(inst)s)
    AND (%(meter)s::text IS NULL OR m.id = %(meter)s)
    AND (%(et)s::text IS NULL OR m.energy_type = %(et)s)
GROUP BY u.meter_id, m.energy_type, m.unit, m.end_use, bucket_start
ORDER BY u.meter_id, bucket_start
"""


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
    table, col, expr = BUCKET_SQL[bucket]  # fixed names, chosen by bucket
    pred = scope_predicate(scope, region_col="i.region_code", institution_col="i.id")
    params = {
        **scope.params(),
        "start": start,
        "end": end,
        "inst": institution_id,
        "meter": meter_id,
        "et": energy_type,
    }
    sql = _USAGE_SERIES.format(expr=expr, table=table, col=col, pred=pred)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()
