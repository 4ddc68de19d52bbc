"""Scoring runs and their per-institution results (0003_scoring.sql).

store/ imports nothing of ours above it, so rows come back as plain dicts; `scoring.model` has the matching
Pydantic models (RunInfo, RankingRow, InstitutionResult for `detail`). Every list/read function takes
optional `region_codes` (an institution's region must lie at or under one in the list) and
`institution_id` filters (store.scope.filter_conditions), applied inside the SQL so callers can scope by role.
Assessed items are in store.assessed, reading coverage in store.coverage.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from store.result_detail import REF_NUMBERS_SQL_PATTERN, expand
from store.scope import filter_conditions

_RUN_COLUMNS = """r.id, r.year, r.region_code, r.methodology_name, r.methodology_version, r.methodology_hash,
    r.results_hash, r.created_at, r.created_by"""


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

_INSERT_RUN = """
INSERT INTO scoring_run (year, region_code, methodology_name, methodology_version, methodology_hash,
    methodology_text, results_hash, created_by, detail_format)
VALUES (%(year)s, %(region_code)s, %(methodology_name)s, %(methodology_version)s, %(methodology_hash)s,
    %(methodology_text)s, %(results_hash)s, %(created_by)s, %(detail_format)s)
RETURNING id
"""

_CLIENT_ENCODING_UTF8 = """
SET LOCAL client_encoding TO 'UTF8'
"""

# The default TOAST compression in force, when the server was built with lz4 (else no row).
_TOAST_COMPRESSION_IF_LZ4 = """
SELECT setting FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)
"""

_SET_TOAST_COMPRESSION = """
SELECT set_config('default_toast_compression', %(method)s, true)
"""

# The scored year's figures (migration 0027), in the order the COPY below lists and writes them.
_CURRENT_FIGURES = (
    "current_building_energy_kgce",
    "current_total_energy_kgce",
    "current_water_m3",
    "current_floor_area_m2",
    "current_occupants",
)

_COPY_RESULTS = f"""
COPY scoring_result (run_id, institution_id, region_code, category, peer_group, total_points,
    eligible, leader, rank_peer, rank_city, rank_province, vetoes, detail,
    baseline_building_energy_kgce, baseline_floor_area_m2, {", ".join(_CURRENT_FIGURES)}) FROM STDIN
"""


def year_figures_sql(r: str) -> str:
    """A result's three figures of its scored year as SQL select items, from the ``scoring_result`` row ``r``
    (its current_* columns, migration 0027): building energy per floor area (kgce/m², official-vehicle fuel
    excluded), total energy per occupant (kgce/person) and water per occupant (m³/person), NULL where a figure
    or its divisor is missing. The institution dashboard's peer panel shows them beside the medians below."""
    return (
        f"{r}.current_building_energy_kgce / nullif({r}.current_floor_area_m2, 0) AS kgce_m2, "
        f"{r}.current_total_energy_kgce / nullif({r}.current_occupants, 0) AS kgce_person, "
        f"{r}.current_water_m3 / nullif({r}.current_occupants, 0) AS water_person"
    )


# A stored run never changes: its peer groups' medians of the three figures are computed once, in the run's
# transaction, so a panel reads one row however large the group (scoring_run_peer, migration 0027).
_INSERT_PEERS = f"""
INSERT INTO scoring_run_peer (run_id, peer_group, results, kgce_m2_median, kgce_person_median, water_person_median)
SELECT %(run_id)s, f.peer_group, count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY f.kgce_m2),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY f.kgce_person),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY f.water_person)
FROM (SELECT r.peer_group, {year_figures_sql("r")} FROM scoring_result r WHERE r.run_id = %(run_id)s) f
GROUP BY f.peer_group
"""

_COPY_STRINGS = """
COPY scoring_run_string (run_id, n, encoded) FROM STDIN
"""

_SET_RESULTS_HASH = """
UPDATE scoring_run SET results_hash = %(results_hash)s WHERE id = %(id)s
"""


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
    strings: Sequence[bytes] | Callable[[], Sequence[bytes]] = (),
    detail_format: str | None = None,
) -> int:
    """Store a run and its results in the caller's transaction; returns the run id.

    Each result dict has the scoring_result columns: institution_id, region_code, category, peer_group,
    total_points, eligible, leader, rank_peer, rank_city, rank_province, vetoes (list), detail (dict, or
    its stored JSON text as str or UTF-8 bytes, stored as given: store/result_detail.py), and optionally
    baseline_building_energy_kgce and baseline_floor_area_m2 (the detail's inputs.baseline figures) and
    current_building_energy_kgce, current_total_energy_kgce, current_water_m3, current_floor_area_m2 and
    current_occupants (its inputs.current figures, migration 0027).
    `strings`: the run's shared strings by number (their JSON encodings), which the details' references
    point to. `results` may be a generator, consumed once while it is copied in; `results_hash` and
    `strings` may then be callables, asked after the last result has been written. `detail_format`: the
    writer's scoring.canonical.DETAIL_FORMAT when every detail is its canonical JSON (in the stored form),
    else None; a reader passes a detail of the current format through without validating it.
    """
    run_id = conn.execute(
        _INSERT_RUN,
        {
            "year": year,
            "region_code": region_code,
            "methodology_name": methodology_name,
            "methodology_version": methodology_version,
            "methodology_hash": methodology_hash,
            "methodology_text": methodology_text,
            "results_hash": results_hash if isinstance(results_hash, str) else "",
            "created_by": created_by,
            "detail_format": detail_format,
        },
    ).fetchone()[0]
    if conn.info.encoding != "utf-8":  # the rows below are UTF-8 bytes
        conn.execute(_CLIENT_ENCODING_UTF8)
    run_field = _copy_field(run_id)
    # Each ~12 KB detail is TOAST-compressed. With lz4 instead of the default pglz the server stored a
    # 10,000-institution run in 1.6 s instead of 2.9 s, for 7% more disk and faster reads (bench/README.md).
    # Only for this COPY, and only where the server was built with lz4; a datum records its own method, so
    # readers need nothing.
    old_compression = conn.execute(_TOAST_COMPRESSION_IF_LZ4).fetchone()
    if old_compression is not None:
        conn.execute(_SET_TOAST_COMPRESSION, {"method": "lz4"})
    # The COPY text is written here rather than by psycopg's write_row: a result's detail is ~12 KB of JSON
    # that needs at most a backslash doubling, and per-row formatting was most of the client's store time.
    whole_details = False
    with conn.cursor() as cur, cur.copy(_COPY_RESULTS) as copy:
        chunk: list[bytes] = []
        size = 0
        for r in results:
            detail = r["detail"]
            if isinstance(detail, dict):
                whole_details = True
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
                                r.get("baseline_building_energy_kgce"),
                                r.get("baseline_floor_area_m2"),
                                *map(r.get, _CURRENT_FIGURES),
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
        conn.execute(_SET_TOAST_COMPRESSION, {"method": old_compression[0]})
    shared = strings() if callable(strings) else strings
    if shared and whole_details:
        # a dict's string "\x01<n>" would read back as string n: only a StoredWriter's details go with strings
        raise ValueError("details given as dicts cannot be stored with a run's shared strings")
    if shared:
        with conn.cursor() as cur, cur.copy(_COPY_STRINGS) as copy:
            copy.write(
                b"".join(
                    b"\t".join((run_field, _copy_field(n), _copy_field(e))) + b"\n"
                    for n, e in enumerate(shared)
                )
            )
    conn.execute(_INSERT_PEERS, {"run_id": run_id})
    if not isinstance(results_hash, str):
        conn.execute(_SET_RESULTS_HASH, {"results_hash": results_hash(), "id": run_id})
    return run_id


# --- reads ---------------------------------------------------------------------------------------
# Templates: ``{scope}`` is store.scope.filter_conditions' fragment (its values bound as parameters) and
# the other fields are the fixed fragments below, included or left empty; every value is a named parameter.

_RUN_COUNTS = """count(s.institution_id) AS institutions,
    count(s.institution_id) FILTER (WHERE s.eligible) AS eligible,
    count(s.institution_id) FILTER (WHERE s.leader) AS leaders"""

# With a scope, only runs that include at least one institution in scope.
_ANY_IN_SCOPE = "HAVING count(s.institution_id) > 0"

_LIST_RUNS = f"""
SELECT {_RUN_COLUMNS},
    {_RUN_COUNTS}
FROM scoring_run r LEFT JOIN scoring_result s ON s.run_id = r.id {{scope}}
{{where}}
GROUP BY r.id {{having}}
ORDER BY r.created_at DESC, r.id DESC LIMIT %(limit)s
"""

_OF_YEAR = "WHERE r.year = %(year)s"

_GET_RUN = f"""
SELECT {_RUN_COLUMNS}{{extra}},
    {_RUN_COUNTS}
FROM scoring_run r LEFT JOIN scoring_result s ON s.run_id = r.id {{scope}}
WHERE r.id = %(run_id)s GROUP BY r.id {{having}}
"""

_WITH_METHODOLOGY_TEXT = ", r.methodology_text"

_LATEST_RUN_ID = """
SELECT id FROM scoring_run WHERE year = %(year)s AND region_code IS NOT DISTINCT FROM %(region_code)s
ORDER BY created_at DESC, id DESC LIMIT 1
"""

_LIST_RESULTS = """
SELECT s.institution_id, i.name, s.region_code, s.category, s.peer_group, s.total_points,
    s.eligible, s.leader, s.rank_peer, s.rank_city, s.rank_province, s.vetoes
FROM scoring_result s JOIN institution i ON i.id = s.institution_id
WHERE s.run_id = %(run_id)s {scope}
ORDER BY s.rank_province NULLS LAST, s.institution_id{page}
"""

_OF_PEER_GROUP = " AND s.peer_group = %(peer_group)s"
_OF_ELIGIBLE = " AND s.eligible = %(eligible)s"
_PAGE = " LIMIT %(limit)s OFFSET %(offset)s"

# The detail with the run's strings it refers to (STRINGS_OF_DETAIL: the report's pull reads them the same way).
STRINGS_OF_DETAIL = """LEFT JOIN LATERAL (SELECT array_agg(st.n) AS string_n, array_agg(st.encoded) AS string_encoded
    FROM scoring_run_string st WHERE st.run_id = {run_id} AND st.n IN (
        SELECT m[1]::integer FROM regexp_matches({detail}, %(ref_pattern)s, 'g') m)) strings ON TRUE"""

_GET_RESULT = f"""
SELECT s.detail, strings.string_n, strings.string_encoded
FROM scoring_result s {STRINGS_OF_DETAIL.format(run_id="s.run_id", detail="s.detail")}
WHERE s.run_id = %(run_id)s AND s.institution_id = %(institution_id)s {{scope}}
"""

_RESULT_DETAILS = """
SELECT institution_id, detail FROM scoring_result WHERE run_id = %(run_id)s ORDER BY institution_id
"""

_RUN_STRINGS = """
SELECT encoded FROM scoring_run_string WHERE run_id = %(run_id)s ORDER BY n
"""


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
    params: dict[str, Any] = {"year": year, "limit": limit}
    scope = filter_conditions("s", region_codes, institution_id, params)
    scoped = region_codes is not None or institution_id is not None
    sql = _LIST_RUNS.format(
        scope=scope, where=_OF_YEAR if year is not None else "", having=_ANY_IN_SCOPE if scoped else ""
    )
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
    params: dict[str, Any] = {"run_id": run_id}
    scope = filter_conditions("s", region_codes, institution_id, params)
    scoped = region_codes is not None or institution_id is not None
    sql = _GET_RUN.format(
        extra=_WITH_METHODOLOGY_TEXT if with_methodology_text else "",
        scope=scope,
        having=_ANY_IN_SCOPE if scoped else "",
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchone()


def latest_run_id(conn: psycopg.Connection, year: int, *, region_code: str | None = None) -> int | None:
    """The newest run for the year (province-wide runs only unless `region_code` is given)."""
    row = conn.execute(_LATEST_RUN_ID, {"year": year, "region_code": region_code}).fetchone()
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
    params: dict[str, Any] = {
        "run_id": run_id,
        "peer_group": peer_group,
        "eligible": eligible,
        "limit": limit,
        "offset": offset,
    }
    scope = filter_conditions("s", region_codes, institution_id, params)
    if peer_group is not None:
        scope += _OF_PEER_GROUP
    if eligible is not None:
        scope += _OF_ELIGIBLE
    sql = _LIST_RESULTS.format(scope=scope, page=_PAGE if limit is not None else "")
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
    params: dict[str, Any] = {
        "run_id": run_id,
        "institution_id": institution_id,
        "ref_pattern": REF_NUMBERS_SQL_PATTERN,
    }
    scope = filter_conditions("s", region_codes, None, params)
    row = conn.execute(_GET_RESULT.format(scope=scope), params).fetchone()
    return json.loads(detail_text(*row)) if row else None


def detail_text(detail: str, string_n: Sequence[int] | None, string_encoded: Sequence[str] | None) -> str:
    """The canonical JSON of a stored detail, given the run's strings STRINGS_OF_DETAIL read with it."""
    if not string_n:
        return detail
    strings = {n: e.encode("utf-8") for n, e in zip(string_n, string_encoded or (), strict=True)}
    return expand(detail, strings).decode("utf-8")


def result_details(conn: psycopg.Connection, run_id: int) -> list[tuple[str, str]]:
    """(institution_id, canonical JSON) for a run, by institution id: the text results_hash covers
    (scoring.compute.results_hash of these gives the run's results_hash; a run stored before migration 0025
    gives its details as jsonb wrote them)."""
    strings = [e.encode("utf-8") for (e,) in conn.execute(_RUN_STRINGS, {"run_id": run_id})]
    return [
        (iid, expand(detail, strings).decode("utf-8"))
        for iid, detail in conn.execute(_RESULT_DETAILS, {"run_id": run_id})
    ]


__all__ = [
    "STRINGS_OF_DETAIL",
    "detail_text",
    "get_result",
    "get_run",
    "insert_run",
    "latest_run_id",
    "list_results",
    "list_runs",
    "result_details",
]
