"""Vetoes (一票否决) of the national 公共机构节能示范单位 evaluation (docs/design.md §6): a ★ item at zero, missing or
falsified statistics, a failed annual target (in either of the last two years, against its previous year, when the
methodology has [[annual_targets]]; else the cumulative targets), a quota 约束值 exceeded; optionally a cumulative
plan target missed (failed_plan_target). Each methodology switches them on or off;
a vetoed institution keeps its points and rank but cannot qualify.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scoring.methodology import Methodology, Quota
from scoring.numbers import fmt

if TYPE_CHECKING:
    from scoring.blocks import BlockScores
    from scoring.prepare import Prepared


def vetoes(
    m: Methodology,
    *,
    blocks: list[dict],
    missing_inputs: list[str],
    missing_baseline: list[str],
    failed_targets: list[str],
    quotas: dict[str, tuple[float, Quota]],
    failed_plan: list[str] | None = None,
) -> list[dict]:
    """Vetoes as dicts shaped like scoring.model.Veto. `blocks` are BlockResult-shaped dicts; `quotas` maps
    an indicator to (this institution's value, the quota that applies to it)."""
    v = m.spec.vetoes
    out: list[dict] = []
    if v.star_item_zero:
        for b in blocks:
            for it in b.get("items", ()):
                if it["star"] and it["points"] <= 0:
                    out.append(
                        dict(
                            code="star_item_zero",
                            reason=f"★ {it['code']} ({it['label']}) "
                            + ("scored 0" if it["assessed"] else "not assessed (scores 0)"),
                        )
                    )
    if v.missing_statistics:
        for r in missing_inputs + missing_baseline:
            out.append(dict(code="missing_statistics", reason=r))
    if v.failed_annual_target:
        for r in failed_targets:
            out.append(dict(code="failed_annual_target", reason=r))
    if v.failed_plan_target:
        for r in failed_plan or []:
            out.append(dict(code="failed_plan_target", reason=r))
    if v.quota_exceeded:
        for ind, (value, q) in sorted(quotas.items()):
            # compared at the 6 decimals results are published with, so float noise never decides a veto
            if round(value, 6) > q.constraint:
                out.append(
                    dict(
                        code="quota_exceeded",
                        reason=(
                            f"{ind} {fmt(value)} above 约束值 {fmt(q.constraint)} of {q.peer_group} ({q.source})"
                        ),
                    )
                )
    return out


def missing_baseline(p: Prepared, b: BlockScores, m: Methodology, year: int) -> list[str]:
    """Missing statistics of the comparison years: no baseline year before the scored one, no baseline figure
    for a target's indicator, occupants on another basis, an annual target's year without a figure. Empty
    for an unscored institution (its missing inputs already say why).

    Parameters
    ----------
    p : Prepared
        Step 1 of the institution (baseline year, its change-against-baseline indicators in %).
    b : BlockScores
        Step 3 (the annual-target pairs without a figure).
    m : Methodology
        The cumulative targets.
    year : int
        The scored year.

    Returns
    -------
    list of str
        One sentence each, in the order the veto lists them.

    References
    ----------
    The national 公共机构节能示范单位评价 (reduction against the baseline must be verifiable; missing
    statistics are a veto).
    """
    if not p.scored:
        return []
    out: list[str] = []
    if m.spec.targets:
        if p.baseline is None:
            out.append(f"baseline year {p.baseline_year} is not before {year}: reduction cannot be verified")
        else:
            gaps = [
                t.indicator
                for t in m.spec.targets
                if p.by_code[t.indicator + "_change_baseline_pct"]["value"] is None
            ]
            if gaps:
                out.append(
                    f"baseline year {p.baseline_year}: no figure for {', '.join(gaps)} "
                    "(registry, meter usage or reported statistics missing)"
                )
    return out + p.basis_gaps + b.annual_gaps


def institution_vetoes(p: Prepared, b: BlockScores, m: Methodology, year: int) -> list[dict]:
    """Step 4 of a run: every veto of one institution, from its inputs (step 1) and its blocks (step 3).

    Parameters
    ----------
    p : Prepared
        Step 1: the missing inputs, baseline figures and occupants basis.
    b : BlockScores
        Step 3: the blocks (★ items), failed targets, the quotas that apply (约束值 in the indicator's unit).
    m : Methodology
        Which vetoes are switched on.
    year : int
        The scored year.

    Returns
    -------
    list of dict
        Shaped like scoring.model.Veto, in the order of `vetoes`.

    References
    ----------
    The national 公共机构节能示范单位评价 (一票否决); DB32/T 4001-2021 (约束值).
    """
    return vetoes(
        m,
        blocks=b.blocks,
        missing_inputs=p.missing,
        missing_baseline=missing_baseline(p, b, m, year),
        failed_targets=b.failed_targets,
        quotas=b.quotas,
        failed_plan=b.failed_plan,
    )
