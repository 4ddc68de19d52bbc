"""Queries behind the assessor API, with the caller's scope inside the SQL (docs/design.md §7, §9).

A scope is what an API key may see: everything (admin, assessor), a region and every region under
it (city assessor, through store.regions), or one institution. Every query here takes
the scope and puts it in its WHERE clause, so rows outside it never leave the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import string
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from store.regions import ancestors_sql, subtree_sql

ROLES = ("admin", "assessor", "city_assessor", "institution")
KEY_PREFIX_CHARS = string.ascii_lowercase + string.digits
KEY_PREFIX_LEN = 10


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


# --- API keys -----------------------------------------------------------------------------------


class KeyError_(ValueError):
    """A key cannot be created as asked (unknown role, region or institution)."""


@dataclass
class ApiKey:
    id: int
    prefix: str
    name: str
    role: str
    region_code: str | None
    institution_id: str | None
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None

    @property
    def scope(self) -> Scope:
        return Scope(self.role, self.region_code, self.institution_id)


KEY_COLS = "id, prefix, name, role, region_code, institution_id, created_at, revoked_at, expires_at"


def _hash_secret(secret: str) -> str:
    # The secret is 256 bits from `secrets`, so a fast hash is enough: nobody can brute-force that
    # space, and a slow KDF (bcrypt/argon2) would only add latency to every request.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    conn: psycopg.Connection,
    *,
    role: str,
    name: str,
    region_code: str | None = None,
    institution_id: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns it and the full token ``jn_<prefix>_<secret>`` (shown once, never stored).
    ``expires_at``: when it stops working (None: until revoked)."""
    if role not in ROLES:
        raise KeyError_(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if not name.strip():
        raise KeyError_("a key needs a name (who or what uses it)")
    if role == "city_assessor":
        if not region_code or institution_id:
            raise KeyError_("a city_assessor key needs --region and no --institution")
        if conn.execute("SELECT 1 FROM region WHERE code = %s", (region_code,)).fetchone() is None:
            raise KeyError_(f"unknown region {region_code!r}")
    elif role == "institution":
        if not institution_id or region_code:
            raise KeyError_("an institution key needs --institution and no --region")
        if conn.execute("SELECT 1 FROM institution WHERE id = %s", (institution_id,)).fetchone() is None:
            raise KeyError_(f"unknown institution {institution_id!r}")
    elif region_code or institution_id:
        raise KeyError_(f"a {role} key sees everything: give no --region or --institution")
    prefix = "".join(secrets.choice(KEY_PREFIX_CHARS) for _ in range(KEY_PREFIX_LEN))
    secret = secrets.token_urlsafe(32)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO api_key (prefix, secret_sha256, name, role, region_code, institution_id, expires_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)"
            f" RETURNING {KEY_COLS}",
            (prefix, _hash_secret(secret), name.strip(), role, region_code, institution_id, expires_at),
        ).fetchone()
    return ApiKey(**row), f"jn_{prefix}_{secret}"


class KeyRefused(Exception):
    """A well-formed token whose key exists and matches but may not be used (expired), with the reason."""


def authenticate(conn: psycopg.Connection, token: str) -> ApiKey | None:
    """The live key for a ``jn_<prefix>_<secret>`` token, or None (malformed, unknown, wrong, revoked).
    Raises KeyRefused for a key past its expiry (the secret was right, so the holder may be told)."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "jn" or len(parts[1]) != KEY_PREFIX_LEN or not parts[2]:
        return None
    if any(c not in KEY_PREFIX_CHARS for c in parts[1]):
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {KEY_COLS}, secret_sha256, expires_at <= now() AS expired FROM api_key WHERE prefix = %s",
            (parts[1],),
        ).fetchone()
    if row is None or row["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(row.pop("secret_sha256"), _hash_secret(parts[2])):
        return None
    if row.pop("expired"):
        raise KeyRefused(f"API key expired at {row['expires_at'].isoformat()}")
    return ApiKey(**row)


def list_keys(conn: psycopg.Connection, *, include_revoked: bool = True) -> list[ApiKey]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {KEY_COLS} FROM api_key"
            + ("" if include_revoked else " WHERE revoked_at IS NULL")
            + " ORDER BY id"
        ).fetchall()
    return [ApiKey(**r) for r in rows]


def revoke_key(conn: psycopg.Connection, key_id: int) -> bool:
    """Revoke a key now; False when there is no such live key."""
    cur = conn.execute(
        "UPDATE api_key SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL", (key_id,)
    )
    return cur.rowcount == 1


# --- access log ---------------------------------------------------------------------------------


def list_access(
    conn: psycopg.Connection, *, limit: int, offset: int, institution_id: str | None = None
) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, accessed_at, api_key_id, key_name, role, resource, institution_id, run_id, year, format, path,"
            " status, client_addr FROM report_access WHERE (%(inst)s::text IS NULL OR institution_id = %(inst)s)"
            " ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s",
            {"inst": institution_id, "limit": limit, "offset": offset},
        ).fetchall()


def log_access(
    conn: psycopg.Connection,
    *,
    key: ApiKey | None,
    resource: str,
    path: str,
    fmt: str = "json",
    status: int = 200,
    institution_id: str | None = None,
    run_id: int | None = None,
    year: int | None = None,
    client_addr: str | None = None,
) -> None:
    """One access-log row: a served pull (status 200) or a refusal (401/403, possibly without a key)."""
    conn.execute(
        f"INSERT INTO report_access ({_LOG_COLS}, status, client_addr)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            key.id if key else None,
            key.name if key else None,
            key.role if key else None,
            resource,
            institution_id,
            run_id,
            year,
            fmt,
            path,
            status,
            client_addr,
        ),
    )


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
            f"SELECT {INSTITUTION_COLS}, {pred} AS visible FROM institution i JOIN region rg ON rg.code = i.region_code"
            " WHERE i.id = %(id)s",
            {**scope.params(), "id": institution_id},
        ).fetchone()


def meter_visibility(conn: psycopg.Connection, scope: Scope, meter_id: str) -> dict | None:
    """The meter row plus ``visible``; None when there is no such meter."""
    pred = scope_predicate(scope, region_col="i.region_code", institution_col="i.id")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT m.id, m.institution_id, m.name, m.energy_type, m.unit, m.register, m.end_use,"
            f" m.parent_meter_id, m.multiplier, m.installed_at, m.retired_at, {pred} AS visible"
            " FROM meter m JOIN institution i ON i.id = m.institution_id WHERE m.id = %(id)s",
            {**scope.params(), "id": meter_id},
        ).fetchone()


def region_exists(conn: psycopg.Connection, code: str) -> bool:
    return conn.execute("SELECT 1 FROM region WHERE code = %s", (code,)).fetchone() is not None


# --- institutions -------------------------------------------------------------------------------

INSTITUTION_COLS = (
    "i.id, i.name, i.category, i.sub_kind, i.admin_level, i.region_code, rg.name AS region_name,"
    " i.climate_zone, i.baseline_year, i.address"
)


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
        inst = cur.execute(
            f"SELECT {INSTITUTION_COLS} FROM institution i JOIN region rg ON rg.code = i.region_code"
            f" WHERE i.id = %(id)s AND {pred}",
            params,
        ).fetchone()
        if inst is None:
            return None
        inst["years"] = cur.execute(
            "SELECT year, floor_area_m2, occupants FROM institution_year WHERE institution_id = %(id)s ORDER BY year",
            params,
        ).fetchall()
        inst["meters"] = cur.execute(
            "SELECT id, name, energy_type, unit, register, end_use, parent_meter_id, multiplier,"
            " installed_at, retired_at FROM meter WHERE institution_id = %(id)s ORDER BY id",
            params,
        ).fetchall()
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


def regions_overlap(conn: psycopg.Connection, a: str, b: str) -> bool:
    """True when one region lies at or under the other."""
    row = conn.execute(
        f"SELECT %(b)s = ANY({subtree_sql('%(a)s')}) OR %(a)s = ANY({subtree_sql('%(b)s')})", {"a": a, "b": b}
    ).fetchone()
    return bool(row[0])


def institution_in_region(conn: psycopg.Connection, institution_id: str, region_code: str) -> bool:
    """True when the institution lies in the region or a region under it."""
    row = conn.execute(
        f"SELECT region_code = ANY({subtree_sql('%(region)s')}) FROM institution WHERE id = %(id)s",
        {"region": region_code, "id": institution_id},
    ).fetchone()
    return bool(row and row[0])


# --- one-statement pulls: read and log together -------------------------------------------------
#
# A ranking page or a report is read and its access-log row written by ONE statement (a data-modifying
# CTE): the INSERT runs only when the caller may see what it pulls, and it commits with the read or
# not at all (autocommit: the statement is its own transaction), before the response leaves. One round
# trip instead of three or four; the scope stays in the SQL exactly as in the separate queries above.

_LOG_COLS = "api_key_id, key_name, role, resource, institution_id, run_id, year, format, path"


def _log_params(
    key: ApiKey, *, resource: str, fmt: str, path: str, client_addr: str | None = None
) -> dict[str, Any]:
    return {
        "log_key_id": key.id,
        "log_key_name": key.name,
        "log_role": key.role,
        "log_resource": resource,
        "log_format": fmt,
        "log_path": path,
        "log_client": client_addr,
    }


_LOG_VALUES = "%(log_key_id)s, %(log_key_name)s, %(log_role)s, %(log_resource)s"


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
    query = (
        "WITH run AS (SELECT r.id, r.year, r.region_code, r.methodology_name, r.methodology_version,"
        f" r.methodology_hash, r.created_at, {run_scope_predicate(scope)} AS visible"
        " FROM scoring_run r WHERE r.id = %(run_id)s),"
        f" logged AS (INSERT INTO report_access ({_LOG_COLS}, client_addr)"
        f" SELECT {_LOG_VALUES}, NULL, run.id, run.year, %(log_format)s, %(log_path)s, %(log_client)s"
        " FROM run WHERE run.visible)"
        f" SELECT run.*, pg.total, pg.items FROM run LEFT JOIN LATERAL ({page}) pg ON run.visible"
    )
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
    ``found``: the stored result (detail as JSON text) with the previous year's points and ranks, only when
    the institution and the run are visible, or None;
    ``months``: monthly kgce per energy type for the found result's year and the year before.

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
        **_log_params(key, resource="report", fmt=fmt, path=path, client_addr=client_addr),
    }
    run_visible = "TRUE" if run_id is None else f"(SELECT {rpred} FROM scoring_run r WHERE r.id = %(run_id)s)"
    prev = (
        " LEFT JOIN LATERAL (SELECT psr.run_id, pr.year, psr.total_points, psr.eligible, psr.rank_peer,"
        " psr.rank_city, psr.rank_province FROM scoring_result psr JOIN scoring_run pr ON pr.id = psr.run_id"
        f" WHERE psr.institution_id = sr.institution_id AND pr.year = r.year - 1"
        f" AND {run_scope_predicate(scope, alias='pr')}"
        " ORDER BY pr.created_at DESC, pr.id DESC LIMIT 1) p ON TRUE"
    )
    query = (
        f"WITH inst AS (SELECT {INSTITUTION_COLS}, {ipred} AS visible FROM institution i"
        " JOIN region rg ON rg.code = i.region_code WHERE i.id = %(id)s),"
        f" rv AS (SELECT {run_visible} AS visible),"
        " found AS (SELECT sr.run_id, r.year, r.region_code AS run_region_code, r.methodology_name,"
        " r.methodology_version, r.methodology_hash, r.created_at AS run_created_at, sr.total_points, sr.eligible,"
        " sr.leader, sr.rank_peer, sr.rank_city, sr.rank_province, sr.peer_group, sr.detail::text AS detail,"
        " to_jsonb(p) AS previous"
        " FROM scoring_result sr JOIN scoring_run r ON r.id = sr.run_id"
        + prev
        + f" WHERE sr.institution_id = %(id)s AND {spred} AND {rpred}"
        " AND (SELECT visible FROM inst) AND (SELECT visible FROM rv)"
        " AND (%(run_id)s::bigint IS NULL OR sr.run_id = %(run_id)s)"
        " AND (%(year)s::int IS NULL OR r.year = %(year)s)"
        " ORDER BY r.created_at DESC, r.id DESC LIMIT 1),"
        " months AS (SELECT m.energy_type, m.end_use = 'vehicle' AS vehicle, u.month,"
        " sum(u.consumption) AS consumption"
        " FROM found f JOIN meter m ON m.institution_id = %(id)s AND m.end_use IN ('main', 'vehicle')"
        " JOIN institution i ON i.id = m.institution_id"
        " JOIN usage_monthly u ON u.meter_id = m.id"
        f" WHERE {ipred} AND u.month >= make_date(f.year - 1, 1, 1) AND u.month < make_date(f.year + 1, 1, 1)"
        " GROUP BY m.energy_type, vehicle, u.month),"
        f" logged AS (INSERT INTO report_access ({_LOG_COLS}, client_addr)"
        f" SELECT {_LOG_VALUES}, %(id)s, f.run_id, f.year, %(log_format)s, %(log_path)s, %(log_client)s FROM found f)"
        " SELECT (SELECT to_jsonb(inst) FROM inst) AS institution, (SELECT visible FROM rv) AS run_visible,"
        " (SELECT coalesce(json_agg(json_build_object('energy_type', energy_type, 'vehicle', vehicle,"
        " 'month', month, 'consumption', consumption) ORDER BY month, energy_type), '[]')::text FROM months)"
        " AS months, f.* FROM (SELECT 1) one LEFT JOIN found f ON TRUE"
    )
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, params).fetchone()
    months = json.loads(row.pop("months"))
    for m in months:
        m["month"] = date.fromisoformat(m["month"])
    out = {"institution": row.pop("institution"), "run_visible": row.pop("run_visible"), "months": months}
    out["found"] = None if row["run_id"] is None else row
    return out


# --- scoring jobs -------------------------------------------------------------------------------
#
# POST /v1/runs queues a job; a worker (api.jobs) claims queued jobs with FOR UPDATE SKIP LOCKED and
# holds a session advisory lock (JOB_LOCK_CLASS, job id) while it runs one, so that a job whose
# worker died can be told from one still running (store/migrations/0012_api_jobs_audit.sql).

JOB_LOCK_CLASS = 72_001  # first key of the two-key advisory locks on jobs; no other lock here uses it
JOB_MAX_ATTEMPTS = 3  # a job that took its worker down this many times is failed, not retried forever
JOB_MAX_QUEUED_PER_KEY = 100  # queued jobs one key may have waiting; more: 429
JOB_QUEUE_LOCK_CLASS = 72_002  # serialises one key's enqueues so the count above is exact
JOB_COLS = (
    "id, year, region_code, methodology_hash, status, run_id, error, attempts, created_by, created_at,"
    " started_at, finished_at"
)


class JobQueueFull(Exception):
    """The key has JOB_MAX_QUEUED_PER_KEY jobs queued already."""


def enqueue_job(
    conn: psycopg.Connection, *, year: int, region_code: str | None, methodology_hash: str, created_by: str
) -> tuple[dict, bool]:
    """The queued or running job for these inputs, or a new queued one; and whether it is new.
    Raises JobQueueFull when ``created_by`` already has JOB_MAX_QUEUED_PER_KEY jobs waiting (a loop over
    years and regions would otherwise queue thousands of runs ahead of everyone else's).
    ``conn`` must be in a transaction: the per-key lock that makes the count exact lasts until its end."""
    params = {"year": year, "region": region_code, "hash": methodology_hash, "by": created_by}
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (JOB_QUEUE_LOCK_CLASS, created_by))
        for _ in range(3):  # a job of the same inputs may finish between the INSERT and the SELECT
            row = cur.execute(
                f"SELECT {JOB_COLS} FROM scoring_job WHERE year = %(year)s"
                " AND coalesce(region_code, '') = coalesce(%(region)s, '') AND methodology_hash = %(hash)s"
                " AND status IN ('queued', 'running')",
                params,
            ).fetchone()
            if row is not None:
                return row, False
            queued = cur.execute(
                "SELECT count(*) AS n FROM scoring_job WHERE status = 'queued' AND created_by = %(by)s",
                params,
            ).fetchone()["n"]
            if queued >= JOB_MAX_QUEUED_PER_KEY:
                raise JobQueueFull(
                    f"{queued} scoring jobs of yours are queued already (at most {JOB_MAX_QUEUED_PER_KEY})"
                )
            row = cur.execute(
                f"INSERT INTO scoring_job (year, region_code, methodology_hash, created_by)"
                f" VALUES (%(year)s, %(region)s, %(hash)s, %(by)s) ON CONFLICT DO NOTHING RETURNING {JOB_COLS}",
                params,
            ).fetchone()
            if row is not None:
                return row, True
    raise RuntimeError("could not queue or find the scoring job")


def get_job(conn: psycopg.Connection, job_id: int) -> dict | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {JOB_COLS} FROM scoring_job WHERE id = %s", (job_id,)).fetchone()


def claim_job(conn: psycopg.Connection) -> dict | None:
    """Mark the oldest queued job whose (year, methodology) has none running as running, and take its
    lease (a session advisory lock, kept after the commit). ``conn`` must be in autocommit mode and
    hold no other job lease. None when there is nothing to run (or another worker won the race)."""
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            job = cur.execute(
                f"UPDATE scoring_job SET status = 'running', started_at = now(), attempts = attempts + 1"
                " WHERE id = (SELECT j.id FROM scoring_job j WHERE j.status = 'queued' AND NOT EXISTS"
                " (SELECT 1 FROM scoring_job r WHERE r.status = 'running' AND r.year = j.year"
                " AND r.methodology_hash = j.methodology_hash)"
                " ORDER BY j.id LIMIT 1 FOR UPDATE SKIP LOCKED)"
                f" RETURNING {JOB_COLS}"
            ).fetchone()
            if job is not None:
                # Taken before the commit makes the row 'running' for others: no moment without a lease.
                cur.execute("SELECT pg_advisory_lock(%s, %s::int)", (JOB_LOCK_CLASS, job["id"]))
            return job
    except psycopg.errors.UniqueViolation:
        return None  # another worker started a job of the same year and methodology at the same moment


def release_job(conn: psycopg.Connection, job_id: int) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s, %s::int)", (JOB_LOCK_CLASS, job_id))


def finish_job(conn: psycopg.Connection, job_id: int, *, run_id: int | None, error: str | None) -> None:
    conn.execute(
        "UPDATE scoring_job SET status = %s, run_id = %s, error = %s, finished_at = now() WHERE id = %s",
        ("done" if error is None else "failed", run_id, error, job_id),
    )


def requeue_orphans(conn: psycopg.Connection) -> list[int]:
    """Jobs left 'running' by a worker that is gone (no lease held): queued again, or failed after
    JOB_MAX_ATTEMPTS. ``conn`` (autocommit) must hold no job lease itself (leases are re-entrant)."""
    found: list[int] = []
    with conn.transaction():
        rows = conn.execute(
            "SELECT id, attempts FROM scoring_job WHERE status = 'running' ORDER BY id FOR UPDATE SKIP LOCKED"
        ).fetchall()
        for job_id, attempts in rows:
            if not conn.execute(
                "SELECT pg_try_advisory_xact_lock(%s, %s::int)", (JOB_LOCK_CLASS, job_id)
            ).fetchone()[0]:
                continue  # its worker still holds the lease: running
            if attempts >= JOB_MAX_ATTEMPTS:
                conn.execute(
                    "UPDATE scoring_job SET status = 'failed', finished_at = now(),"
                    " error = 'its worker stopped during each of ' || attempts || ' attempts' WHERE id = %s",
                    (job_id,),
                )
            else:
                conn.execute(
                    "UPDATE scoring_job SET status = 'queued', started_at = NULL WHERE id = %s", (job_id,)
                )
            found.append(job_id)
    return found
