"""Queries for scoring runs, their per-institution results and assessed items (0003_scoring.sql).

store/ imports nothing of ours, so rows come back as plain dicts; `scoring.model` has the matching
Pydantic models (RunInfo, RankingRow, InstitutionResult for `detail`, AssessedItem, AssessedAudit).
Every list/read function takes optional `region_codes` (an institution's region must lie at or under one in
the list) and `institution_id` filters, applied inside the SQL so callers can scope by role.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from store.regions import subtree_of_any_sql

_RUN_COLUMNS = """r.id, r.year, r.region_code, r.methodology_name, r.methodology_version, r.methodology_hash,
    r.results_hash, r.created_at, r.created_by"""


def _scope(
    alias: str, region_codes: Sequence[str] | None, institution_id: str | None, params: list[Any]
) -> str:
    """SQL conditions (leading AND) restricting rows of table `alias` (which has region_code /
    institution_id) to the caller's scope. A region code matches institutions in every region under it."""
    out = ""
    if region_codes is not None:
        out += f" AND {alias}.region_code = ANY({subtree_of_any_sql('%s')})"
        params.append(list(region_codes))
    if institution_id is not None:
        out += f" AND {alias}.institution_id = %s"
        params.append(institution_id)
    return out


# --- runs ----------------------------------------------------------------------------------------


def _copy_field(v: Any) -> bytes:
    """One field in COPY text format (PostgreSQL docs, COPY, "Text Format"): \\N for NULL, t/f for booleans,
    backslash, newline, carriage return and tab escaped. Floats as repr, which float8 reads back exactly."""
    if v is None:
        return b"\\N"
    if v is True or v is False:
        return b"t" if v else b"f"
    if isinstance(v, bytes):
        b = v
    elif isinstance(v, str):
        b = v.encode("utf-8")
    elif isinstance(v, float):
        return float.__repr__(v).encode("ascii")
    elif isinstance(v, int):
        return int.__repr__(v).encode("ascii")
    else:
        raise TypeError(f"cannot COPY {type(v).__name__} {v!r}")
    if b"\\" in b:
        b = b.replace(b"\\", b"\\\\")
    if b"\n" in b or b"\r" in b or b"\t" in b:
        b = b.replace(b"\n", b"\\n").replace(b"\r", b"\\r").replace(b"\t", b"\\t")
    return b


_COPY_CHUNK_BYTES = 1 << 20


def insert_run(
    conn: psycopg.Connection,
    *,
    year: int,
    region_code: str | None,
    methodology_name: str,
    methodology_version: str,
    methodology_hash: str,
    methodology_text: str,
    results_hash: str | Callable[[], str],
    created_by: str,
    results: Iterable[dict[str, Any]],
) -> int:
    """Store a run and its results in the caller's transaction; returns the run id.

    Each result dict has the scoring_result columns: institution_id, region_code, category, peer_group,
    total_points, eligible, leader, rank_peer, rank_city, rank_province, vetoes (list), detail (dict, or
    an already-canonical JSON text as str or UTF-8 bytes, stored as given). `results` may be a generator,
    consumed once while it is copied in; `results_hash` may then be a callable, asked for the hash after
    the last result has been written.
    """
    run_id = conn.execute(
        """INSERT INTO scoring_run (year, region_code, methodology_name, methodology_version, methodology_hash,
               methodology_text, results_hash, created_by)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (
            year,
            region_code,
            methodology_name,
            methodology_version,
            methodology_hash,
            methodology_text,
            results_hash if isinstance(results_hash, str) else "",
            created_by,
        ),
    ).fetchone()[0]
    if conn.info.encoding != "utf-8":  # the rows below are UTF-8 bytes
        conn.execute("SET LOCAL client_encoding TO 'UTF8'")
    run_field = _copy_field(run_id)
    # Each ~12 KB detail is TOAST-compressed. With lz4 instead of the default pglz the server stored a
    # 10,000-institution run in 1.6 s instead of 2.9 s, for 7% more disk and faster reads (bench/README.md).
    # Only for this COPY, and only where the server was built with lz4; a datum records its own method, so
    # readers need nothing.
    old_compression = conn.execute(
        """SELECT setting FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"""
    ).fetchone()
    if old_compression is not None:
        conn.execute("SELECT set_config('default_toast_compression', 'lz4', true)")
    # The COPY text is written here rather than by psycopg's write_row: a result's detail is ~12 KB of JSON
    # that needs at most a backslash doubling, and per-row formatting was most of the client's store time.
    with (
        conn.cursor() as cur,
        cur.copy(
            """COPY scoring_result (run_id, institution_id, region_code, category, peer_group, total_points,
               eligible, leader, rank_peer, rank_city, rank_province, vetoes, detail) FROM STDIN"""
        ) as copy,
    ):
        chunk: list[bytes] = []
        size = 0
        for r in results:
            detail = r["detail"]
            if isinstance(detail, dict):
                detail = json.dumps(detail, ensure_ascii=False, sort_keys=True)
            line = (
                b"\t".join(
                    (
                        run_field,
                        *map(
                            _copy_field,
                            (
                                r["institution_id"],
                                r["region_code"],
                                r["category"],
                                r["peer_group"],
                                r["total_points"],
                                r["eligible"],
                                r["leader"],
                                r["rank_peer"],
                                r["rank_city"],
                                r["rank_province"],
                                json.dumps(r["vetoes"], ensure_ascii=False, sort_keys=True),
                                detail,
                            ),
                        ),
                    )
                )
                + b"\n"
            )
            chunk.append(line)
            size += len(line)
            if size >= _COPY_CHUNK_BYTES:
                copy.write(b"".join(chunk))
                chunk, size = [], 0
        if chunk:
            copy.write(b"".join(chunk))
    if old_compression is not None:
        conn.execute("SELECT set_config('default_toast_compression', %s, true)", (old_compression[0],))
    if not isinstance(results_hash, str):
        conn.execute("UPDATE scoring_run SET results_hash = %s WHERE id = %s", (results_hash(), run_id))
    return run_id


def list_runs(
    conn: psycopg.Connection,
    year: int | None = None,
    *,
    region_codes: Sequence[str] | None = None,
    institution_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Runs newest first, with counts of institutions / eligible / leaders within the caller's scope.

    With a scope, only runs that include at least one institution in scope are listed.
    """
    params: list[Any] = []
    scope = _scope("s", region_codes, institution_id, params)
    where = ""
    if year is not None:
        where = "WHERE r.year = %s"
        params.append(year)
    having = (
        "HAVING count(s.institution_id) > 0"
        if (region_codes is not None or institution_id is not None)
        else ""
    )
    params.append(limit)
    sql = f"""SELECT {_RUN_COLUMNS},
                     count(s.institution_id) AS institutions,
                     count(s.institution_id) FILTER (WHERE s.eligible) AS eligible,
                     count(s.institution_id) FILTER (WHERE s.leader) AS leaders
              FROM scoring_run r LEFT JOIN scoring_result s ON s.run_id = r.id {scope}
              {where}
              GROUP BY r.id {having}
              ORDER BY r.created_at DESC, r.id DESC LIMIT %s"""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()


def get_run(
    conn: psycopg.Connection,
    run_id: int,
    *,
    region_codes: Sequence[str] | None = None,
    institution_id: str | None = None,
    with_methodology_text: bool = False,
) -> dict[str, Any] | None:
    """One run (None if absent, or if it has no institution in the caller's scope)."""
    params: list[Any] = []
    scope = _scope("s", region_codes, institution_id, params)
    params.append(run_id)
    extra = ", r.methodology_text" if with_methodology_text else ""
    having = (
        "HAVING count(s.institution_id) > 0"
        if (region_codes is not None or institution_id is not None)
        else ""
    )
    sql = f"""SELECT {_RUN_COLUMNS}{extra},
                     count(s.institution_id) AS institutions,
                     count(s.institution_id) FILTER (WHERE s.eligible) AS eligible,
                     count(s.institution_id) FILTER (WHERE s.leader) AS leaders
              FROM scoring_run r LEFT JOIN scoring_result s ON s.run_id = r.id {scope}
              WHERE r.id = %s GROUP BY r.id {having}"""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchone()


def latest_run_id(conn: psycopg.Connection, year: int, *, region_code: str | None = None) -> int | None:
    """The newest run for the year (province-wide runs only unless `region_code` is given)."""
    row = conn.execute(
        """SELECT id FROM scoring_run WHERE year = %s AND region_code IS NOT DISTINCT FROM %s
           ORDER BY created_at DESC, id DESC LIMIT 1""",
        (year, region_code),
    ).fetchone()
    return row[0] if row else None


def list_results(
    conn: psycopg.Connection,
    run_id: int,
    *,
    region_codes: Sequence[str] | None = None,
    institution_id: str | None = None,
    peer_group: str | None = None,
    eligible: bool | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Ranking rows of a run (no detail), ordered by province rank then institution id (unscored last)."""
    params: list[Any] = [run_id]
    scope = _scope("s", region_codes, institution_id, params)
    if peer_group is not None:
        scope += " AND s.peer_group = %s"
        params.append(peer_group)
    if eligible is not None:
        scope += " AND s.eligible = %s"
        params.append(eligible)
    page = ""
    if limit is not None:
        page = " LIMIT %s OFFSET %s"
        params.extend([limit, offset])
    sql = f"""SELECT s.institution_id, i.name, s.region_code, s.category, s.peer_group, s.total_points,
                     s.eligible, s.leader, s.rank_peer, s.rank_city, s.rank_province, s.vetoes
              FROM scoring_result s JOIN institution i ON i.id = s.institution_id
              WHERE s.run_id = %s {scope}
              ORDER BY s.rank_province NULLS LAST, s.institution_id{page}"""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()


def get_result(
    conn: psycopg.Connection,
    run_id: int,
    institution_id: str,
    *,
    region_codes: Sequence[str] | None = None,
) -> dict[str, Any] | None:
    """One institution's `detail` (the InstitutionResult as a dict), or None if absent / out of scope."""
    params: list[Any] = [run_id, institution_id]
    scope = _scope("s", region_codes, None, params)
    row = conn.execute(
        f"SELECT s.detail FROM scoring_result s WHERE s.run_id = %s AND s.institution_id = %s {scope}", params
    ).fetchone()
    return row[0] if row else None


def result_details(conn: psycopg.Connection, run_id: int) -> list[tuple[str, str]]:
    """(institution_id, detail as stored text) for a run, by institution id: what results_hash covers."""
    return conn.execute(
        "SELECT institution_id, detail::text FROM scoring_result WHERE run_id = %s ORDER BY institution_id",
        (run_id,),
    ).fetchall()


# --- assessed items -------------------------------------------------------------------------------


def set_assessed_item(
    conn: psycopg.Connection,
    institution_id: str,
    year: int,
    item_code: str,
    points: float | None,
    evidence: str | None,
    entered_by: str,
    out_of: float | None = None,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Insert, change or (points=None) remove an assessed item, and append an audit row. Returns (old, new)
    item dicts (None for absent). Runs in the caller's transaction; the row lock serialises writers.
    `out_of`: the item's maximum in the methodology that validated the entry, kept so another methodology
    weighing the item differently scores the same share of it (scoring.blocks.assessed_block).

    Validation against the methodology (known item code, 0 ≤ points ≤ the item's maximum) is the
    caller's job (scoring.methodology.Methodology.check_assessed_item); the table only enforces ≥ 0.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        old = cur.execute(
            """SELECT institution_id, year, item_code, points, evidence, entered_by, entered_at FROM assessed_item
               WHERE institution_id = %s AND year = %s AND item_code = %s FOR UPDATE""",
            (institution_id, year, item_code),
        ).fetchone()
        if points is None:
            new = None
            cur.execute(
                "DELETE FROM assessed_item WHERE institution_id = %s AND year = %s AND item_code = %s",
                (institution_id, year, item_code),
            )
        else:
            new = cur.execute(
                """INSERT INTO assessed_item (institution_id, year, item_code, points, evidence, entered_by, out_of)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (institution_id, year, item_code) DO UPDATE
                     SET points = EXCLUDED.points, evidence = EXCLUDED.evidence,
                         entered_by = EXCLUDED.entered_by, entered_at = now(), out_of = EXCLUDED.out_of
                   RETURNING institution_id, year, item_code, points, evidence, entered_by, entered_at""",
                (institution_id, year, item_code, points, evidence, entered_by, out_of),
            ).fetchone()
        cur.execute(
            """INSERT INTO assessed_item_audit (institution_id, year, item_code, old_points, new_points,
                   old_evidence, new_evidence, changed_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                institution_id,
                year,
                item_code,
                old["points"] if old else None,
                points,
                old["evidence"] if old else None,
                evidence if points is not None else None,
                entered_by,
            ),
        )
    return old, new


_HAS_ASSESSED_ITEMS = """
SELECT EXISTS (SELECT 1 FROM assessed_item WHERE year = %(year)s)
"""


def has_assessed_items(conn: psycopg.Connection, year: int) -> bool:
    """Whether any institution has an assessed item entered for ``year``."""
    return conn.execute(_HAS_ASSESSED_ITEMS, {"year": year}).fetchone()[0]


def list_assessed_items(
    conn: psycopg.Connection,
    institution_id: str | None = None,
    year: int | None = None,
    *,
    region_codes: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Assessed items, optionally for one institution and/or year, within the caller's regions."""
    params: list[Any] = []
    where = "TRUE"
    if institution_id is not None:
        where += " AND a.institution_id = %s"
        params.append(institution_id)
    if year is not None:
        where += " AND a.year = %s"
        params.append(year)
    where += _scope("i", region_codes, None, params)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""SELECT a.institution_id, a.year, a.item_code, a.points, a.evidence, a.entered_by, a.entered_at
                FROM assessed_item a JOIN institution i ON i.id = a.institution_id
                WHERE {where} ORDER BY a.institution_id, a.year, a.item_code""",
            params,
        ).fetchall()


def list_assessed_audit(
    conn: psycopg.Connection,
    institution_id: str | None = None,
    year: int | None = None,
    *,
    item_code: str | None = None,
    region_codes: Sequence[str] | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """The audit trail of assessed items, oldest first."""
    params: list[Any] = []
    where = "TRUE"
    if institution_id is not None:
        where += " AND a.institution_id = %s"
        params.append(institution_id)
    if year is not None:
        where += " AND a.year = %s"
        params.append(year)
    if item_code is not None:
        where += " AND a.item_code = %s"
        params.append(item_code)
    where += _scope("i", region_codes, None, params)
    params.append(limit)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""SELECT a.id, a.institution_id, a.year, a.item_code, a.old_points, a.new_points, a.old_evidence,
                       a.new_evidence, a.changed_by, a.changed_at
                FROM assessed_item_audit a JOIN institution i ON i.id = a.institution_id
                WHERE {where} ORDER BY a.id LIMIT %s""",
            params,
        ).fetchall()


def assessed_points_for_year(
    conn: psycopg.Connection, year: int, institution_ids: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Assessed items of a year for scoring (all institutions, or the given ones)."""
    params: list[Any] = [year]
    where = "year = %s"
    if institution_ids is not None:
        where += " AND institution_id = ANY(%s)"
        params.append(list(institution_ids))
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""SELECT institution_id, item_code, points, evidence, entered_by, entered_at, out_of
                FROM assessed_item WHERE {where} ORDER BY institution_id, item_code""",
            params,
        ).fetchall()


__all__ = [
    "assessed_points_for_year",
    "get_result",
    "get_run",
    "insert_run",
    "latest_run_id",
    "list_assessed_audit",
    "list_assessed_items",
    "list_results",
    "list_runs",
    "result_details",
    "set_assessed_item",
]


# --- coverage against each meter's expected reading interval ---------------------------------------

_COVERAGE_SQL = """
WITH w AS (
    SELECT * FROM unnest(%(ids)s::text[], %(years)s::int[], %(a)s::timestamptz[], %(b)s::timestamptz[], %(s)s::int[],
                         %(c)s::timestamptz[])
        AS w(meter_id, year, a, b, s, c)
), k AS (
    SELECT w.*, ceil(extract(epoch FROM w.a AT TIME ZONE %(tz)s) / w.s)::bigint AS k0,
                floor(extract(epoch FROM w.b AT TIME ZONE %(tz)s) / w.s)::bigint AS k1
    FROM w
)
SELECT k.meter_id, k.year, greatest(k.k1 - k.k0, 0),
    (SELECT count(DISTINCT b.i) FROM (
        SELECT floor(extract(epoch FROM (r.ts - interval '1 microsecond') AT TIME ZONE %(tz)s) / k.s)::bigint AS i
        FROM reading r WHERE r.meter_id = k.meter_id AND r.ts > greatest(k.a, k.c) AND r.ts <= k.b) b
     WHERE b.i >= k.k0 AND b.i < k.k1)
FROM k
"""


def meter_window_coverage(
    conn: psycopg.Connection, windows: Sequence[tuple[str, int, Any, Any, int, Any]], tz: str
) -> dict[tuple[str, int], tuple[int, int]]:
    """(expected readings, readings present) per (meter id, year) window.

    `windows`: (meter id, year, start, end, interval in seconds > 0, installed_at), timestamps timezone-aware.
    The window is cut into intervals of the local wall clock in `tz` (a daily meter's days are local days);
    only whole intervals inside it are expected. A reading at ts counts for the interval containing ts − 1 µs
    (a reading at 10:00 closes 09:00-10:00; one at midnight closes the day), as store.quality counts hours;
    a reading at or before installation closes nothing (it is the register's starting value).
    """
    if not windows:
        return {}
    params = {
        "ids": [w[0] for w in windows],
        "years": [w[1] for w in windows],
        "a": [w[2] for w in windows],
        "b": [w[3] for w in windows],
        "s": [w[4] for w in windows],
        "c": [w[5] for w in windows],
        "tz": tz,
    }
    return {(mid, y): (int(exp), int(have)) for mid, y, exp, have in conn.execute(_COVERAGE_SQL, params)}
