"""One-statement pulls: a ranking page or a report read and its access-log row written together.

A ranking page or a report is read and its access-log row written by ONE statement (a data-modifying
CTE): the INSERT runs only when the caller may see what it pulls, and it commits with the read or
not at all (autocommit: the statement is its own transaction), before the response leaves. One round
trip instead of three or four; the scope stays in the SQL exactly as in store.api_queries.
"""

from __future__ import annotations

import json
from datetime import date

import psycopg
from psycopg.rows import dict_row

from store.access_log import _LOG_COLS, _LOG_VALUES, _log_params
from store.api_keys import ApiKey
from store.api_queries import INSTITUTION_COLS, _ranking_page_sql
from store.result_detail import REF_NUMBERS_SQL_PATTERN
from store.savings import section_reads_of, section_reads_sql
from store.scope import run_scope_predicate, scope_predicate
from store.scoring import STRINGS_OF_DETAIL, detail_text
from store.totals import in_totals_sql, sign_in_totals_sql

# The meters the institution's totals sum and their signs, as scoring sums them (store/totals.py).
_IN_TOTALS, _SIGN = in_totals_sql("m"), sign_in_totals_sql("m")

# Templates: ``{run_pred}``/``{ipred}``/``{spred}`` are the caller's scope predicates (store.scope) on runs,
# institutions and results, ``{page}`` the ranking page (store.api_queries._ranking_page_sql); every
# value is a named parameter.

_RANKING_PAGE_LOGGED = f"""
WITH run AS (SELECT r.id, r.year, r.region_code, r.methodology_name, r.methodology_version,
        r.methodology_hash, r.created_at, {{run_pred}} AS visible
    FROM scoring_run r WHERE r.id = %(run_id)s),
logged AS (INSERT INTO report_access ({_LOG_COLS}, client_addr)
    SELECT {_LOG_VALUES}, NULL, run.id, run.year, %(log_format)s, %(log_path)s, %(log_client)s
    FROM run WHERE run.visible)
SELECT run.*, pg.total, pg.items FROM run LEFT JOIN LATERAL ({{page}}) pg ON run.visible
"""

# The savings section's reads (store.savings.section_reads) of the found result's year and the year before,
# for the institution's region: read only when a result was found, so only for what the caller may see.
_SECTION = section_reads_sql("%(id)s", "(SELECT region_code FROM inst)", "f.year")

# ``{run_visible}``: TRUE, or _RUN_VISIBLE when a run was asked for; ``{prev_run_pred}``: the scope's
# predicate on the previous year's run (alias pr).
_RUN_VISIBLE = "(SELECT {run_pred} FROM scoring_run r WHERE r.id = %(run_id)s)"

_REPORT_LOGGED = f"""
WITH inst AS (SELECT {INSTITUTION_COLS}, {{ipred}} AS visible FROM institution i
    JOIN region rg ON rg.code = i.region_code WHERE i.id = %(id)s),
rv AS (SELECT {{run_visible}} AS visible),
found AS (SELECT sr.run_id, r.year, r.region_code AS run_region_code, r.methodology_name,
        r.methodology_version, r.methodology_hash, r.created_at AS run_created_at, r.detail_format,
        sr.total_points, sr.eligible,
        sr.leader, sr.rank_peer, sr.rank_city, sr.rank_province, sr.peer_group, sr.detail,
        to_jsonb(p) AS previous
    FROM scoring_result sr JOIN scoring_run r ON r.id = sr.run_id
    LEFT JOIN LATERAL (SELECT psr.run_id, pr.year, psr.total_points, psr.eligible, psr.rank_peer,
            psr.rank_city, psr.rank_province FROM scoring_result psr JOIN scoring_run pr ON pr.id = psr.run_id
        WHERE psr.institution_id = sr.institution_id AND pr.year = r.year - 1
            AND {{prev_run_pred}}
        ORDER BY pr.created_at DESC, pr.id DESC LIMIT 1) p ON TRUE
    WHERE sr.institution_id = %(id)s AND {{spred}} AND {{run_pred}}
        AND (SELECT visible FROM inst) AND (SELECT visible FROM rv)
        AND (%(run_id)s::bigint IS NULL OR sr.run_id = %(run_id)s)
        AND (%(year)s::int IS NULL OR r.year = %(year)s)
    ORDER BY r.created_at DESC, r.id DESC LIMIT 1),
months AS (SELECT m.energy_type, m.end_use = 'vehicle' AS vehicle, m.unit, u.month,
        sum(u.consumption * {_SIGN}) AS consumption
    FROM found f JOIN meter m ON m.institution_id = %(id)s AND {_IN_TOTALS}
    JOIN institution i ON i.id = m.institution_id
    JOIN usage_monthly u ON u.meter_id = m.id
    WHERE {{ipred}} AND u.month >= make_date(f.year - 1, 1, 1) AND u.month < make_date(f.year + 1, 1, 1)
    GROUP BY m.energy_type, vehicle, m.unit, u.month),
section AS (SELECT s.* FROM found f, LATERAL ({_SECTION}) s),
logged AS (INSERT INTO report_access ({_LOG_COLS}, client_addr)
    SELECT {_LOG_VALUES}, %(id)s, f.run_id, f.year, %(log_format)s, %(log_path)s, %(log_client)s FROM found f)
SELECT (SELECT to_jsonb(inst) FROM inst) AS institution, (SELECT visible FROM rv) AS run_visible,
    (SELECT coalesce(json_agg(json_build_object('energy_type', energy_type, 'vehicle', vehicle, 'unit', unit,
        'month', month, 'consumption', consumption) ORDER BY month, energy_type, unit), '[]')::text FROM months)
    AS months, f.*, strings.string_n, strings.string_encoded,
    sec.before AS section_before, sec.during AS section_during, sec.city AS section_city,
    sec.has_projects AS section_has_projects
FROM (SELECT 1) one LEFT JOIN found f ON TRUE LEFT JOIN section sec ON TRUE
{STRINGS_OF_DETAIL.format(run_id="f.run_id", detail="f.detail")}
"""


def ranking_page_logged(
    conn: psycopg.Connection,
    key: ApiKey,
    run_id: int,
    *,
    fmt: str,
    path: str,
    region_code: str | None = None,
    category: str | None = None,
    peer_group: str | None = None,
    eligible: bool | None = None,
    sort: str = "rank_province",
    descending: bool = False,
    limit: int = 100,
    offset: int = 0,
    known_total: int | None = None,
    client_addr: str | None = None,
) -> dict | None:
    """The run's identity plus ``visible`` (as ``run_checked``), and, when visible, ``total`` (rows matching
    the scope and filters) and ``items`` (the page as a JSON array in RankingRow's shape, built by PostgreSQL
    so the rows reach the client without a decode/encode in Python), with the pull written to
    ``report_access`` in the same statement.

    None: no such run (nothing logged). ``visible`` false: outside the scope, no rows, nothing logged.
    A ``region_code`` filter must have been checked by the caller (it exists and overlaps the scope)."""
    scope = key.scope
    page, params = _ranking_page_sql(
        scope,
        run_id,
        region_code=region_code,
        category=category,
        peer_group=peer_group,
        eligible=eligible,
        sort=sort,
        descending=descending,
        limit=limit,
        offset=offset,
        known_total=known_total,
    )
    params.update(_log_params(key, resource="ranking", fmt=fmt, path=path, client_addr=client_addr))
    query = _RANKING_PAGE_LOGGED.format(run_pred=run_scope_predicate(scope), page=page)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchone()


def report_logged(
    conn: psycopg.Connection,
    key: ApiKey,
    institution_id: str,
    *,
    run_id: int | None,
    year: int | None,
    fmt: str,
    path: str,
    client_addr: str | None = None,
) -> dict:
    """Everything a report reads, and its access-log row, in one statement. Returns a dict with:

    ``institution``: the institution's columns plus ``visible`` (``institution_checked``), or None;
    ``run_visible``: with ``run_id``, as ``run_visibility`` (None: no such run), else True;
    ``found``: the stored result (detail as its canonical JSON text, the run's strings put back, and the run's
    ``detail_format``) with the previous year's points and ranks, only when
    the institution and the run are visible, or None;
    ``section``: with ``found``, the savings section's reads (store.savings.SectionReads) of its year and the
    year before for the institution's region, else None;
    ``months``: monthly use of the meters the totals count (store.totals, signed) per energy type, vehicle fuel
    and meter unit, for the found result's year and the year before (the report converts each unit to kgce).

    The pull is logged exactly when ``found`` is not None."""
    scope = key.scope
    ipred = scope_predicate(scope, region_col="i.region_code", institution_col="i.id")
    spred = scope_predicate(scope, region_col="sr.region_code", institution_col="sr.institution_id")
    rpred = run_scope_predicate(scope)
    params = {
        **scope.params(),
        "id": institution_id,
        "run_id": run_id,
        "year": year,
        "ref_pattern": REF_NUMBERS_SQL_PATTERN,
        **_log_params(key, resource="report", fmt=fmt, path=path, client_addr=client_addr),
    }
    query = _REPORT_LOGGED.format(
        ipred=ipred,
        spred=spred,
        run_pred=rpred,
        run_visible="TRUE" if run_id is None else _RUN_VISIBLE.format(run_pred=rpred),
        prev_run_pred=run_scope_predicate(scope, alias="pr"),
    )
    # Binary results: the section's two years of temperatures are float8 arrays (store.savings.section_reads_sql).
    with conn.cursor(row_factory=dict_row, binary=True) as cur:
        row = cur.execute(query, params).fetchone()
    months = json.loads(row.pop("months"))
    for m in months:
        m["month"] = date.fromisoformat(m["month"])
    out = {"institution": row.pop("institution"), "run_visible": row.pop("run_visible"), "months": months}
    string_n, string_encoded = row.pop("string_n"), row.pop("string_encoded")
    section = [
        row.pop(k) for k in ("section_before", "section_during", "section_city", "section_has_projects")
    ]
    if row["run_id"] is None:
        out["found"], out["section"] = None, None
    else:
        out["section"] = section_reads_of(row["year"], *section)
        row["detail"] = detail_text(row["detail"], string_n, string_encoded)
        out["found"] = row
    return out
