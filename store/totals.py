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

# CASE tries its branches in order and stops at the first true one, so the walk up the parent chain (the last
# branch) runs for excluded-area sub-meters only. Not an AND in one branch: ``accounting`` is NULL for an
# ordinary sub-meter, ``NULL = 'excluded_area'`` is NULL rather than false, and an AND goes on past a NULL.
_SIGN = """CASE
    WHEN {m}.parent_meter_id IS NULL AND ({m}.end_use IN ({counted}) OR {m}.accounting = 'own_supply') THEN 1
    WHEN {m}.parent_meter_id IS NULL OR {m}.accounting IS DISTINCT FROM 'excluded_area' THEN 0
    WHEN EXISTS (
        WITH RECURSIVE up(id, parent_meter_id, accounting) AS (
            SELECT p.id, p.parent_meter_id, p.accounting FROM meter p WHERE p.id = {m}.parent_meter_id
            UNION
            SELECT p.id, p.parent_meter_id, p.accounting FROM meter p JOIN up ON p.id = up.parent_meter_id
        ) SELECT 1 FROM up WHERE up.accounting = 'excluded_area') THEN 0
    ELSE -1 END"""


def totals_sign_sql(alias: str) -> str:
    """What a meter's use adds to its institution's totals, as a SQL ``integer`` expression.

    1 for a counted meter (a top-level main or vehicle meter, or an own-supply one), -1 for an excluded-area
    sub-meter with no excluded-area meter above it, 0 for every other meter (分项 sub-meters). Multiply a
    meter's consumption by it to sum the institution's use; ``<> 0`` selects the meters that enter it. The
    walk up the parent chain runs only for excluded-area meters and stops on a cycle (UNION).

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
