"""Assessed items: the points assessors enter for the items meters cannot measure (0003_scoring.sql),
with their audit trail; read by the scoring loader and the API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from store.scope import filter_conditions

# --- assessed items -------------------------------------------------------------------------------

_ITEM_FOR_UPDATE = """
SELECT institution_id, year, item_code, points, evidence, entered_by, entered_at FROM assessed_item
WHERE institution_id = %(institution_id)s AND year = %(year)s AND item_code = %(item_code)s FOR UPDATE
"""

_DELETE_ITEM = """
DELETE FROM assessed_item
WHERE institution_id = %(institution_id)s AND year = %(year)s AND item_code = %(item_code)s
"""

_UPSERT_ITEM = """
INSERT INTO assessed_item (institution_id, year, item_code, points, evidence, entered_by, out_of)
VALUES (%(institution_id)s, %(year)s, %(item_code)s, %(points)s, %(evidence)s, %(entered_by)s, %(out_of)s)
ON CONFLICT (institution_id, year, item_code) DO UPDATE
    SET points = EXCLUDED.points, evidence = EXCLUDED.evidence,
        entered_by = EXCLUDED.entered_by, entered_at = now(), out_of = EXCLUDED.out_of
RETURNING institution_id, year, item_code, points, evidence, entered_by, entered_at
"""

_INSERT_AUDIT = """
INSERT INTO assessed_item_audit (institution_id, year, item_code, old_points, new_points,
    old_evidence, new_evidence, changed_by)
VALUES (%(institution_id)s, %(year)s, %(item_code)s, %(old_points)s, %(new_points)s,
    %(old_evidence)s, %(new_evidence)s, %(changed_by)s)
"""


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
    key = {"institution_id": institution_id, "year": year, "item_code": item_code}
    with conn.cursor(row_factory=dict_row) as cur:
        old = cur.execute(_ITEM_FOR_UPDATE, key).fetchone()
        if points is None:
            new = None
            cur.execute(_DELETE_ITEM, key)
        else:
            new = cur.execute(
                _UPSERT_ITEM,
                {**key, "points": points, "evidence": evidence, "entered_by": entered_by, "out_of": out_of},
            ).fetchone()
        cur.execute(
            _INSERT_AUDIT,
            {
                **key,
                "old_points": old["points"] if old else None,
                "new_points": points,
                "old_evidence": old["evidence"] if old else None,
                "new_evidence": evidence if points is not None else None,
                "changed_by": entered_by,
            },
        )
    return old, new


_HAS_ASSESSED_ITEMS = """
SELECT EXISTS (SELECT 1 FROM assessed_item WHERE year = %(year)s)
"""


def has_assessed_items(conn: psycopg.Connection, year: int) -> bool:
    """Whether any institution has an assessed item entered for ``year``."""
    return conn.execute(_HAS_ASSESSED_ITEMS, {"year": year}).fetchone()[0]


# Templates: ``{where}`` is TRUE, then those of the fixed conditions below that the call asks for, then
# store.scope.filter_conditions' fragment; every value is a named parameter.

_OF_INSTITUTION = " AND a.institution_id = %(institution_id)s"
_OF_YEAR = " AND a.year = %(year)s"
_OF_ITEM = " AND a.item_code = %(item_code)s"

_LIST_ITEMS = """
SELECT a.institution_id, a.year, a.item_code, a.points, a.evidence, a.entered_by, a.entered_at
FROM assessed_item a JOIN institution i ON i.id = a.institution_id
WHERE {where} ORDER BY a.institution_id, a.year, a.item_code
"""

_LIST_AUDIT = """
SELECT a.id, a.institution_id, a.year, a.item_code, a.old_points, a.new_points, a.old_evidence,
    a.new_evidence, a.changed_by, a.changed_at
FROM assessed_item_audit a JOIN institution i ON i.id = a.institution_id
WHERE {where} ORDER BY a.id LIMIT %(limit)s
"""

_POINTS_FOR_YEAR = """
SELECT institution_id, item_code, points, evidence, entered_by, entered_at, out_of
FROM assessed_item WHERE year = %(year)s{institutions} ORDER BY institution_id, item_code
"""

_OF_INSTITUTIONS = " AND institution_id = ANY(%(institution_ids)s)"


def list_assessed_items(
    conn: psycopg.Connection,
    institution_id: str | None = None,
    year: int | None = None,
    *,
    region_codes: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Assessed items, optionally for one institution and/or year, within the caller's regions."""
    params: dict[str, Any] = {"institution_id": institution_id, "year": year}
    where = "TRUE"
    if institution_id is not None:
        where += _OF_INSTITUTION
    if year is not None:
        where += _OF_YEAR
    where += filter_conditions("i", region_codes, None, params)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_LIST_ITEMS.format(where=where), params).fetchall()


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
    params: dict[str, Any] = {
        "institution_id": institution_id,
        "year": year,
        "item_code": item_code,
        "limit": limit,
    }
    where = "TRUE"
    if institution_id is not None:
        where += _OF_INSTITUTION
    if year is not None:
        where += _OF_YEAR
    if item_code is not None:
        where += _OF_ITEM
    where += filter_conditions("i", region_codes, None, params)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_LIST_AUDIT.format(where=where), params).fetchall()


def assessed_points_for_year(
    conn: psycopg.Connection, year: int, institution_ids: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Assessed items of a year for scoring (all institutions, or the given ones)."""
    params: dict[str, Any] = {"year": year}
    institutions = ""
    if institution_ids is not None:
        institutions = _OF_INSTITUTIONS
        params["institution_ids"] = list(institution_ids)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_POINTS_FOR_YEAR.format(institutions=institutions), params).fetchall()
