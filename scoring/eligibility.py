"""Steps 6 and 7 of a run (docs/design.md §6): whether an institution qualifies as a 示范单位, and whether it
is an energy-efficiency leader (能效领跑者) under the methodology's stricter rule."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scoring.methodology import Methodology
from scoring.numbers import fmt


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Qualification as a 示范单位: scored, no veto, total at or above the threshold."""

    eligible: bool
    reasons: list[str]  # why not, in order: unscored, each veto, below the threshold; empty when eligible


@dataclass(frozen=True, slots=True)
class Leadership:
    """Qualification as a 能效领跑者."""

    leader: bool
    reason: str  # the comparison made, with the numbers, or why it was not made


def eligibility(scored: bool, vetoes: list[dict], total_points: float | None, m: Methodology) -> Eligibility:
    """Whether one institution qualifies as a 示范单位.

    Parameters
    ----------
    scored : bool
        Its scored year's inputs are complete.
    vetoes : list of dict
        Its vetoes (step 4; scoring.model.Veto-shaped).
    total_points : float or None
        Base + bonus points, out of 110 in the national split; None when not scored.
    m : Methodology
        `eligibility.threshold`, in points.

    Returns
    -------
    Eligibility
        Eligible, or every reason it is not.

    References
    ----------
    The national 公共机构节能示范单位评价 (qualify at the threshold, 85 points, with no 一票否决).
    """
    threshold = m.spec.eligibility.threshold
    reasons: list[str] = []
    if not scored:
        reasons.append("not scored: inputs incomplete")
    reasons += [f"veto {v['code']}: {v['reason']}" for v in vetoes]
    if total_points is not None and total_points < threshold:
        reasons.append(f"total {fmt(total_points)} below the threshold {fmt(threshold)}")
    return Eligibility(eligible=not reasons, reasons=reasons)


def leader(
    e: Eligibility, total_points: float | None, peer_rank: int | None, peer_size: int, m: Methodology
) -> Leadership:
    """Whether one institution is an energy-efficiency leader: a qualifying unit with at least the minimum
    total, placed within the top share of its peer group.

    Parameters
    ----------
    e : Eligibility
        Step 6 of the institution.
    total_points : float or None
        Its total, in points.
    peer_rank : int or None
        Its place in the peer group used (1 = best); None when not ranked.
    peer_size : int
        Scored institutions in that group.
    m : Methodology
        The `[leader]` rule: enabled, `min_total` (points), `top_share_of_peer_group` (0..1).

    Returns
    -------
    Leadership
        Leader or not, with the comparison in words; the rank cut-off is ⌈share × group size⌉.

    References
    ----------
    The national 公共机构节能示范单位评价 and the 能效领跑者 selection it feeds; the methodology's
    `leader.source`.
    """
    lead = m.spec.leader
    if not lead.enabled:
        return Leadership(False, "no leader rule in this methodology")
    if not e.eligible:
        return Leadership(False, "not a qualifying unit")
    cutoff = math.ceil(lead.top_share_of_peer_group * peer_size)
    is_leader = total_points >= lead.min_total and peer_rank is not None and peer_rank <= cutoff
    return Leadership(
        is_leader,
        f"total {fmt(total_points)} vs minimum {fmt(lead.min_total)}; peer rank {peer_rank} vs "
        f"top {fmt(lead.top_share_of_peer_group * 100)}% of {peer_size} = rank ≤ {cutoff}"
        + (" → leader" if is_leader else " → not a leader"),
    )
