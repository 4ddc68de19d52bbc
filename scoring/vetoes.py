"""Vetoes (一票否决) of the national 公共机构节能示范单位 evaluation (docs/design.md §6): a ★ item at zero, missing or
falsified statistics, a failed annual target (in either of the last two years, against its previous year, when the
methodology has [[annual_targets]]; else the cumulative targets), a quota 约束值 exceeded; optionally a cumulative
plan target missed (failed_plan_target). Each methodology switches them on or off;
a vetoed institution keeps its points and rank but cannot qualify.
"""

from __future__ import annotations

from scoring.methodology import Methodology, Quota
from scoring.numbers import fmt


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
