"""Points of one block (docs/design.md §6; national 公共机构节能示范单位 evaluation: 100 base points + 10 bonus).

- Against a quota (DB32/T 4001-2021 定额: 先进值 / 约束值): at or better than 先进值 full points, at or worse
  than 约束值 zero, linear between.
- Against peers where the methodology has no quota: the share of the other peers the institution beats,
  ties counting half: points = max × (n − r) / (n − 1), with r the average ascending rank (1 = best) among
  n peers; a group of one scores full points.
- Reduction against targets: each target contributes an equal share, max × min(1, achieved / required).
- Metering and data quality: max × (coverage − minimum) / (1 − minimum), clamped to [0, max].
- Assessed blocks: the sum of the assessors' item points; an item not assessed scores zero. An entry made
  against another maximum (assessed_item.out_of: the item's maximum in the methodology that validated it)
  scores the same share of this methodology's maximum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scoring.canonical import ROUND_DIGITS
from scoring.inputs import AssessedEntry
from scoring.methodology import LEVEL_INDICATORS, Block, Methodology, Quota, Target
from scoring.numbers import fmt, fmt_constant

if TYPE_CHECKING:
    from scoring.peers import PeerDistributions
    from scoring.prepare import Prepared


def clamp01(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else x


def quota_points(
    value: float, q: Quota, max_points: float, lower_is_better: bool = True
) -> tuple[float, str]:
    """Linear between 先进值 (full) and 约束值 (zero)."""
    a, c = q.advanced, q.constraint
    share = clamp01((c - value) / (c - a)) if lower_is_better else clamp01((value - c) / (a - c))
    pts = max_points * share
    return pts, (
        f"quota {q.peer_group}: 先进值 {fmt_constant(a)}, 约束值 {fmt_constant(c)} ({q.source}); value {fmt(value)} → "
        f"{fmt_constant(max_points)} × ({fmt_constant(c)} − {fmt(value)}) / ({fmt_constant(c)} − {fmt_constant(a)}) clamped = {fmt(pts)}"
    )


def percentile_share(avg_rank: float, n: int) -> float:
    """(n − r) / (n − 1): 1 for the best, 0 for the worst; 1 for a group of one."""
    return 1.0 if n <= 1 else (n - avg_rank) / (n - 1)


def percentile_points(
    value: float, avg_rank: float, n: int, group: str, max_points: float
) -> tuple[float, str]:
    share = percentile_share(avg_rank, n)
    pts = max_points * share
    if n <= 1:
        return pts, f"only scored institution in peer group {group}: full points"
    return pts, (
        f"no quota: peer percentile in {group}, value {fmt(value)} ranks {fmt(avg_rank)} of {n} "
        f"(1 = best, ties averaged) → {fmt_constant(max_points)} × ({n} − {fmt(avg_rank)}) / ({n} − 1) = {fmt(pts)}"
    )


def target_points(
    changes: Mapping[str, float | None], targets: list[Target], max_points: float, share: float = 1.0
) -> tuple[float, str, list[str]]:
    """(points, reason, failed targets). `changes` maps a level indicator to its change vs baseline in %.
    `share` is the part of each (plan-end) target due by the scored year (pro-rated plans; 1 otherwise).
    A target whose change is unknown earns nothing and is not listed as failed: the missing baseline is a
    veto of its own (missing statistics)."""
    share_each = max_points / len(targets)
    pts = 0.0
    why, failed = [], []
    for t in targets:
        ch = changes.get(t.indicator)
        if ch is None:
            why.append(f"{t.indicator}: no baseline figure → 0")
            continue
        achieved = -ch
        required = t.reduction_pct * share
        p = share_each * (clamp01(achieved / required) if required > 0 else 1.0)
        pts += p
        a, req = fmt(achieved), fmt_constant(required) if share == 1.0 else fmt(required)
        due = (
            ""
            if share == 1.0
            else f" ({fmt_constant(t.reduction_pct)}% by the plan's end × {fmt(share)} due)"
        )
        why.append(
            f"{t.indicator}: reduction {a}% of required {req}%{due} → {fmt_constant(share_each)} × min(1, {a} / {req}) = {fmt(p)}"
        )
        if round(achieved, 6) < round(
            required, 6
        ):  # at published precision: float noise never fails a target
            failed.append(
                f"{t.indicator}: reduced {a}% against the baseline, target {req}%{due} ({t.source})"
            )
    return pts, "; ".join(why), failed


def annual_target_points(
    changes: Sequence[tuple[int, int, str, float | None]], targets: list[Target], max_points: float, rule: str
) -> tuple[float, str, list[str], list[str]]:
    """(points, reason, failed, gaps) for annual targets checked in each of the last years against its
    previous year (近两年度). `changes`: (year, against year, indicator, change %). Each (year, target) pair
    earns an equal share, max × min(1, achieved / required); a pair whose change is unknown earns nothing
    and is a gap (missing statistics), a pair short of its target a failure (failed annual target)."""
    share_each = max_points / len(changes) if changes else 0.0
    by_code = {t.indicator: t for t in targets}
    pts = 0.0
    why, failed, gaps = [], [], []
    for y, y0, ind, ch in changes:
        t = by_code[ind]
        req = fmt_constant(t.reduction_pct)
        if ch is None:
            why.append(f"{y} vs {y0} {ind}: no figure → 0")
            gaps.append(f"annual target {ind} {y} against {y0}: no figure for one of the years ({rule})")
            continue
        achieved = -ch
        p = share_each * clamp01(achieved / t.reduction_pct)
        pts += p
        a = fmt(achieved)
        why.append(
            f"{y} vs {y0} {ind}: reduction {a}% of required {req}% → {fmt(share_each)} × min(1, {a} / {req}) = {fmt(p)}"
        )
        if round(achieved, 6) < t.reduction_pct:
            failed.append(f"{ind}: {y} reduced {a}% against {y0}, annual target {req}% ({t.source}; {rule})")
    return pts, "; ".join(why), failed, gaps


def coverage_points(coverage: float | None, min_coverage: float, max_points: float) -> tuple[float, str]:
    if coverage is None:
        return 0.0, "data quality unknown → 0"
    if min_coverage >= 1:
        share = 1.0 if coverage >= 1 else 0.0
    else:
        share = clamp01((coverage - min_coverage) / (1 - min_coverage))
    pts = max_points * share
    return pts, (
        f"lowest counted-meter coverage {fmt(coverage)}, minimum {fmt_constant(min_coverage)} → "
        f"{fmt_constant(max_points)} × ({fmt(coverage)} − {fmt_constant(min_coverage)}) / (1 − {fmt_constant(min_coverage)}) clamped = {fmt(pts)}"
    )


def assessed_block(block: Block, entries: Mapping[str, AssessedEntry]) -> dict:
    """The block as a dict shaped like scoring.model.BlockResult (items: AssessedItemResult dicts)."""
    items = []
    notes: dict[str, str] = {}
    for it in block.items:
        e = entries.get(it.code)
        if e is None:
            got = 0.0
        elif e.out_of is not None:
            # entered against another maximum (another methodology weighing the item differently): the same share
            got = float(it.points * min(1.0, e.points / e.out_of))
            if e.out_of != it.points:
                notes[it.code] = f" (entered {fmt_constant(e.points)} of {fmt_constant(e.out_of)})"
        else:
            got = float(min(e.points, it.points))
        items.append(
            dict(
                code=it.code,
                label=it.label,
                star=it.star,
                max_points=it.points,
                points=got,
                assessed=e is not None,
                evidence=e.evidence if e else None,
                entered_by=e.entered_by if e else None,
                entered_at=e.entered_at if e else None,
            )
        )
    pts = sum(i["points"] for i in items)
    parts = [
        f"{i['code']} {fmt_constant(i['points'])}/{fmt_constant(i['max_points'])}"
        + notes.get(i["code"], "")
        + ("" if i["assessed"] else " (not assessed)")
        for i in items
    ]
    return dict(
        code=block.code,
        label=block.label,
        kind=block.kind,
        max_points=block.points,
        points=pts,
        method="assessed",
        indicator=None,
        reason=" + ".join(parts) + f" = {fmt(pts)}",
        items=items,
    )


# --- step 3 of a run: every block of one institution --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockScores:
    """Step 3 of a run: one institution's blocks and what they found for the vetoes."""

    blocks: list[dict]  # shaped like scoring.model.BlockResult, in the methodology's order
    failed_targets: list[str]  # annual targets (or, without them, cumulative targets) short of required
    failed_plan: list[str]  # cumulative plan targets short of their pro-rated share (with annual targets)
    annual_gaps: list[str]  # (year, target) pairs with no figure for one of the years
    quotas: dict[str, tuple[float, Quota]]  # level indicator -> (its value, the quota that applies)
    base_points: float | None  # measured + assessed, out of the methodology's base points; None: not scored
    bonus_points: float | None
    total_points: float | None


def quota_for(chain: Sequence[str], indicator: str, m: Methodology) -> Quota | None:
    """Quotas are standard values, not peer statistics: the narrowest key of the institution's chain that has
    one applies, whatever the size of its peer group (DB32/T 4001-2021 定额 by institution kind)."""
    for key in chain:
        q = m.quota_index.get((key, indicator))
        if q is not None:
            return q
    return None


def plan_share(m: Methodology, year: int, baseline_year: int) -> float:
    """Share of a cumulative (plan-end) target due by `year`: 1 unless the plan pro-rates its targets."""
    p = m.spec.plan
    if p is None or not p.prorate_targets or p.last_year <= baseline_year:
        return 1.0
    return min(1.0, max(0.0, (year - baseline_year) / (p.last_year - baseline_year)))


def annual_changes(
    inds: Mapping[str, dict], targets: Sequence[Target], year: int, years: int
) -> list[tuple[int, int, str, float | None]]:
    """(year, against year, indicator, change %) for each annual target over the last `years` years: the scored
    year against the previous one, then the previous against the one before (indicators `_change_previous_pct`
    and `_change_prior_pct`)."""
    suffixes = ("_change_previous_pct", "_change_prior_pct")[:years]
    out = []
    for k, suffix in enumerate(suffixes):
        for t in targets:
            out.append((year - k, year - k - 1, t.indicator, inds[t.indicator + suffix]["value"]))
    return out


def score_blocks(
    p: Prepared, group_key: str, dist: PeerDistributions, m: Methodology, year: int
) -> BlockScores:
    """Points of every block of one institution, with the targets and quotas the vetoes judge.

    An unscored institution (inputs missing) gets zero in every measured block, with the reason; assessed
    blocks are the assessors' points either way. A measured indicator block scores against the quota of the
    narrowest group of its chain that has one, else against its peer distribution.

    Parameters
    ----------
    p : Prepared
        Step 1 of the institution (indicators in kgce/m², kgce/person, m³/person, kgCO₂/m², % change and
        coverage 0..1; the baseline year).
    group_key : str
        The peer group it uses (peers.assign).
    dist : PeerDistributions
        Step 2: its average rank among that group's values.
    m : Methodology
        Blocks (points), quotas (先进值 / 约束值 in the indicator's unit), targets (% reduction), the plan and
        the coverage minimum (0..1).
    year : int
        The scored year.

    Returns
    -------
    BlockScores
        Blocks in points with their reasons; failed targets, annual gaps and the quotas that apply; base,
        bonus and total points rounded to the published 6 decimals (None when not scored).

    References
    ----------
    The national 公共机构节能示范单位评价 (100 base points + 10 bonus; measured and assessed parts);
    DB32/T 4001-2021 (定额 先进值 and 约束值); GB/T 2589-2020 (the kgce the indicators are in).
    """
    spec = m.spec
    inst = p.institution
    inds = p.by_code
    is_scored = p.scored
    blocks: list[dict] = []
    failed_targets: list[str] = []
    failed_plan: list[str] = []
    annual_gaps: list[str] = []
    quotas_hit: dict[str, tuple[float, Quota]] = {}
    for ind in LEVEL_INDICATORS:
        q = quota_for(p.chain, ind, m)
        v = inds[ind]["value"]
        if q is not None and v is not None and is_scored:
            quotas_hit[ind] = (v, q)
    for blk in spec.blocks:
        if blk.method == "assessed":
            blocks.append(assessed_block(blk, inst.assessed))
            continue
        common = dict(code=blk.code, label=blk.label, kind=blk.kind, max_points=blk.points, items=[])
        if not is_scored:
            blocks.append(
                dict(
                    common,
                    points=0.0,
                    method="missing",
                    indicator=blk.indicator,
                    reason="not scored: " + "; ".join(p.missing),
                )
            )
            continue
        if blk.method == "indicator":
            ind = inds[blk.indicator]
            q = quota_for(p.chain, blk.indicator, m)
            if ind["value"] is None:
                blocks.append(
                    dict(
                        common,
                        points=0.0,
                        method="missing",
                        indicator=ind["code"],
                        reason=f"{ind['code']} missing: {ind['formula']}",
                    )
                )
            elif q is not None:
                pts, why = quota_points(ind["value"], q, blk.points, ind["lower_is_better"])
                blocks.append(dict(common, points=pts, method="quota", indicator=ind["code"], reason=why))
            else:
                r, n = dist.of(blk.indicator, inst.id)
                pts, why = percentile_points(ind["value"], r, n, group_key, blk.points)
                blocks.append(
                    dict(common, points=pts, method="peer_percentile", indicator=ind["code"], reason=why)
                )
        elif blk.method == "target":
            changes = {t.indicator: inds[t.indicator + "_change_baseline_pct"]["value"] for t in spec.targets}
            pts, why, failed = target_points(
                changes, spec.targets, blk.points, share=plan_share(m, year, p.baseline_year)
            )
            if spec.annual_targets:
                failed_plan = failed
            else:
                failed_targets = failed
            blocks.append(dict(common, points=pts, method="target", indicator=None, reason=why))
        elif blk.method == "annual_target":
            pairs = annual_changes(inds, spec.annual_targets, year, spec.annual.years)
            pts, why, failed, gaps = annual_target_points(
                pairs, spec.annual_targets, blk.points, spec.annual.source
            )
            failed_targets = failed
            annual_gaps = gaps
            blocks.append(dict(common, points=pts, method="annual_target", indicator=None, reason=why))
        else:  # coverage
            pts, why = coverage_points(inds["coverage_min"]["value"], spec.vetoes.min_coverage, blk.points)
            blocks.append(dict(common, points=pts, method="coverage", indicator="coverage_min", reason=why))
    if not is_scored:
        return BlockScores(blocks, [], [], annual_gaps, quotas_hit, None, None, None)
    base_pts = round(sum(b["points"] for b in blocks if b["kind"] != "bonus"), ROUND_DIGITS)
    bonus_pts = round(sum(b["points"] for b in blocks if b["kind"] == "bonus"), ROUND_DIGITS)
    total = round(base_pts + bonus_pts, ROUND_DIGITS)
    return BlockScores(
        blocks, failed_targets, failed_plan, annual_gaps, quotas_hit, base_pts, bonus_pts, total
    )
