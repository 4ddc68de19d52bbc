"""The region hierarchy (GB/T 2260 codes linked by ``region.parent_code``): the one place that walks it.

"This region and everything under it", "this region and everything above it" and "the city a region
belongs to" are written here and nowhere else; the API's scopes, the registry's region filter,
scoring's scoped reads, the scoring loader and the weather lookup (store.weather) all embed these
fragments, and :func:`city_of` reads a region's city with the same rule. A region's city is never
derived from its code's digits: a re-coded county keeps its code under another city. The walk is recursive, so it
holds for any depth the schema allows (0001_core.sql does not bound it), and UNION (not UNION ALL)
makes it stop on a cycle and count each code once when several roots overlap.

The subtree and ancestor fragments are each an ``ARRAY(...)`` of codes, meant for ``col = ANY(...)``:
PostgreSQL computes the array once per query (an InitPlan), so the planner can use an index on
``col`` instead of joining every row against the recursive CTE.
"""

from __future__ import annotations

import psycopg

_SUBTREE = """ARRAY(WITH RECURSIVE sub(code) AS (
    SELECT code FROM region WHERE code {roots}
    UNION
    SELECT r.code FROM region r JOIN sub ON r.parent_code = sub.code
) SELECT code FROM sub)"""

_ANCESTORS = """ARRAY(WITH RECURSIVE up(code, parent) AS (
    SELECT code, parent_code FROM region WHERE code = {code}
    UNION
    SELECT r.code, r.parent_code FROM region r JOIN up ON r.code = up.parent
) SELECT code FROM up)"""


def subtree_sql(code: str) -> str:
    """Region codes at and under one region, as a SQL ``text[]`` expression.

    Parameters
    ----------
    code : str
        SQL expression of the root's code, e.g. ``"%(region)s"``.
    """
    return _SUBTREE.format(roots=f"= {code}")


def subtree_of_any_sql(codes: str) -> str:
    """Region codes at and under any of several regions, as a SQL ``text[]`` expression.

    Parameters
    ----------
    codes : str
        SQL expression of a ``text[]`` of root codes, e.g. ``"%(regions)s"`` bound to a list.
    """
    return _SUBTREE.format(roots=f"= ANY({codes})")


def ancestors_sql(code: str) -> str:
    """Region codes at and above one region (the region, its city, its province), as a ``text[]``.

    Parameters
    ----------
    code : str
        SQL expression of the region's code: a placeholder or a scalar subquery.
    """
    return _ANCESTORS.format(code=code)


_CITY = """coalesce((WITH RECURSIVE up(code, parent, level) AS (
    SELECT {a}.code, {a}.parent_code, {a}.level
    UNION
    SELECT r.code, r.parent_code, r.level FROM region r JOIN up ON r.code = up.parent AND up.level <> 'city'
) SELECT code FROM up WHERE level = 'city' LIMIT 1), {a}.code)"""


def city_code_sql(alias: str) -> str:
    """The code of the city a region row belongs to, as a SQL ``text`` expression: the nearest city-level
    region at or above it, however deep (a county under a county of a city); a region with no city at or
    above it (the province, a county without a parent, a loop of counties) stands for itself.

    Parameters
    ----------
    alias : str
        Alias of a ``region`` row in the query, e.g. ``"r"``.

    References
    ----------
    GB/T 2260 行政区划代码: a county-level code sits under its prefecture-level city.
    """
    return _CITY.format(a=alias)


def city_of_sql(code: str) -> str:
    """The statement of :func:`city_of` with a SQL expression for the code (a column of a statement that
    composes it)."""
    return f"""
SELECT coalesce((SELECT {city_code_sql("r")} FROM region r WHERE r.code = {code}), {code})
"""


_CITY_OF = city_of_sql("%(code)s")


def city_of(conn: psycopg.Connection, code: str) -> str:
    """The code of the city region ``code`` belongs to (:func:`city_code_sql`); a code the region table
    does not hold stands for itself."""
    return conn.execute(_CITY_OF, {"code": code}).fetchone()[0]
