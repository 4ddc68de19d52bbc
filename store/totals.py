"""Which meters add to an institution's totals, and with which sign: the one place the rule is written.

An institution's energy and water use is what its main meters (总表), its official vehicles' fuel and any
separately fed supply (``accounting = own_supply``) record. 分项 sub-meters measure part of a parent meter's
use and add nothing; a sub-meter of excluded floor area (``accounting = excluded_area``: dormitories,
leased-out space) is subtracted, as its area leaves 建筑面积, and only once: an excluded-area meter inside
another one is already in its ancestor's deduction. Scoring's loader (scoring/loader.py) and every dashboard
total (dashboards/sql.py) embed the fragment below, so the ranking and Grafana sum the same meters.

References
----------
公共机构能源资源消费统计制度 (国管局): 能源消费量按法人单位统计, 分项计量不重复计入; 出租、出借及
独立核算部分的面积与能耗不计入.
"""

from __future__ import annotations

# End uses whose top-level meters add to the totals (store.codes.END_USES holds every end use).
COUNTED_END_USES: tuple[str, ...] = ("main", "vehicle")

# A nested CASE, not ``AND NOT meter_inside_excluded_area(…)``: with accounting NULL (most meters) the AND is
# NULL, not false, and PostgreSQL would call the walk for every sub-meter to settle it.
_SIGN = """CASE
    WHEN {m}.parent_meter_id IS NULL AND ({m}.end_use IN ({counted}) OR {m}.accounting = 'own_supply') THEN 1
    WHEN {m}.parent_meter_id IS NOT NULL AND {m}.accounting = 'excluded_area' THEN
        CASE WHEN meter_inside_excluded_area({m}.parent_meter_id) THEN 0 ELSE -1 END
    ELSE 0 END"""


def totals_sign_sql(alias: str) -> str:
    """What a meter's use adds to its institution's totals, as a SQL ``integer`` expression.

    1 for a counted meter (a top-level main or vehicle meter, or an own-supply one), -1 for an excluded-area
    sub-meter with no excluded-area meter above it, 0 for every other meter (分项 sub-meters). Multiply a
    meter's consumption by it to sum the institution's use; ``<> 0`` selects the meters that enter it. The
    walk up the parent chain (``meter_inside_excluded_area``, migration 0022) runs only for excluded-area
    meters and stops on a cycle.

    Parameters
    ----------
    alias : str
        Alias of a ``meter`` row in the query, e.g. ``"m"``.

    References
    ----------
    公共机构能源资源消费统计制度: sub-metered use is not counted twice; leased-out and separately accounted
    floor area leaves the totals with its use.
    """
    counted = ", ".join(f"'{e}'" for e in COUNTED_END_USES)
    return _SIGN.format(m=alias, counted=counted)


def in_totals_sql(alias: str) -> str:
    """The meter enters its institution's totals (``totals_sign_sql(alias) <> 0``), as a SQL ``boolean``.

    Led by a condition the planner can estimate from column statistics (a meter that enters the totals has no
    parent, or is excluded floor area), so a query filtering meters by it still expects the right number of
    rows; the sign alone is an expression the planner cannot see into.

    Parameters
    ----------
    alias : str
        Alias of a ``meter`` row in the query, e.g. ``"m"``.
    """
    return (
        f"(({alias}.parent_meter_id IS NULL OR {alias}.accounting = 'excluded_area') "
        f"AND {totals_sign_sql(alias)} <> 0)"
    )


def sign_in_totals_sql(alias: str) -> str:
    """:func:`totals_sign_sql` for a meter already known to pass :func:`in_totals_sql`, as a cheap ``integer``.

    A meter in the totals with no parent is counted (1), one with a parent is excluded floor area (-1). A usage
    sum multiplies every row by the sign; this form spares it the whole rule at each row.

    Parameters
    ----------
    alias : str
        Alias of a ``meter`` row filtered by ``in_totals_sql(alias)`` in the same query.
    """
    return f"CASE WHEN {alias}.parent_meter_id IS NULL THEN 1 ELSE -1 END"
