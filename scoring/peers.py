"""Peer groups with a minimum size and a fallback chain (docs/design.md §6).

A peer group is a key over category × subdivision (机关 by admin level, schools by kind, hospitals by
grade, venues by kind) × climate zone (GB 50176 热工分区: north Jiangsu 寒冷, the rest 夏热冬冷). The
methodology lists the levels from narrowest to widest, ending with [] (everyone in the run). An
institution takes the narrowest level whose group has at least `min_size` scored institutions; each
level skipped is recorded, so the report says which group was used and why.

Step 2 of a run (docs/design.md §6): `assign` gives each institution its group, `distributions` where its
indicator values stand among that group's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from scoring.inputs import InstitutionInput
from scoring.methodology import Methodology

if TYPE_CHECKING:
    from scoring.prepare import Prepared

ALL = "all"


def level_key(inst: InstitutionInput, level: Sequence[str], m: Methodology) -> str:
    """The group key of `inst` at one level, e.g. ``government:province:cold``; ``all`` for []."""
    parts = []
    subdivision = m.spec.peers.subdivision
    for f in level:
        if f == "category":
            parts.append(inst.category)
        elif f == "climate_zone":
            parts.append(inst.climate_zone)
        else:
            how = subdivision.get(inst.category, "none")
            value = inst.admin_level if how == "admin_level" else inst.sub_kind if how == "sub_kind" else None
            if value:
                parts.append(value)
    return ":".join(parts) if parts else ALL


def chain(inst: InstitutionInput, m: Methodology) -> list[str]:
    """The institution's keys from narrowest to widest, duplicates (an undivided category) removed."""
    out: list[str] = []
    for level in m.spec.peers.levels:
        k = level_key(inst, level, m)
        if k not in out:
            out.append(k)
    return out


def label(key: str, labels: Mapping[str, str]) -> str:
    if key == ALL:
        return labels.get(ALL, "全部")
    return " · ".join(labels.get(p, p) for p in key.split(":"))


def assign(
    insts: Sequence[InstitutionInput], scored: set[str], m: Methodology, labels: Mapping[str, str]
) -> dict[str, dict]:
    """Step 2a of a run: the peer group of every institution.

    Each institution takes the narrowest level of its chain whose group holds at least `min_size` scored
    institutions; sizes count scored institutions only (unscored ones have no figures to compare). The widest
    level is used whatever its size, and every level skipped is recorded.

    Parameters
    ----------
    insts : sequence of InstitutionInput
        Every institution of the run.
    scored : set of str
        Ids of the institutions whose scored year is complete.
    m : Methodology
        `[peers]`: levels (narrowest first, ending with []), subdivision per category, `min_size`.
    labels : mapping of str to str
        Display names of the keys' parts (category, sub-kind, admin level, climate zone codes).

    Returns
    -------
    dict of str to dict
        Institution id → dict shaped like scoring.model.PeerGroupInfo (key used, label, narrowest key, size
        in institutions, the fallback sentences).

    References
    ----------
    The national 公共机构节能示范单位评价 (like institutions compared with each other); DB32/T 4001 (its
    institution kinds); GB 50176 (the climate zones).
    """
    chains = {i.id: chain(i, m) for i in insts}
    sizes: Counter[str] = Counter()
    for i in insts:
        if i.id in scored:
            sizes.update(chains[i.id])
    min_size = m.spec.peers.min_size
    out: dict[str, dict] = {}
    for i in insts:
        keys = chains[i.id]
        fallback: list[str] = []
        used = keys[-1]
        for k in keys:
            if sizes[k] >= min_size or k == keys[-1]:
                used = k
                break
            fallback.append(f"{k} has {sizes[k]} scored institution(s), fewer than {min_size}: widened")
        out[i.id] = dict(
            key=used, label=label(used, labels), wanted=keys[0], size=sizes[used], fallback=fallback
        )
    return out


def members(
    insts: Sequence[InstitutionInput],
    scored: set[str],
    groups: Mapping[str, dict],
    chains: Mapping[str, Sequence[str]],
) -> dict[str, tuple[list[str], set[str]]]:
    """For each peer-group key in use: (every scored institution whose chain holds the key, in id order; the
    institutions that use it). A fallen-back institution's group is the whole wider group (docs/design.md §6)."""
    used: dict[str, set[str]] = {}
    for i in insts:
        if i.id in scored:
            used.setdefault(groups[i.id]["key"], set()).add(i.id)
    out: dict[str, tuple[list[str], set[str]]] = {k: ([], u) for k, u in used.items()}
    for i in insts:
        if i.id in scored:
            for k in chains[i.id]:
                if k in out:
                    out[k][0].append(i.id)
    return out


@dataclass(frozen=True, slots=True)
class PeerDistributions:
    """Step 2 of a run: where each scored institution's indicator value stands in its peer group."""

    # indicator code -> institution id -> (average ascending rank, 1 = best; values compared in the group)
    ranks: Mapping[str, Mapping[str, tuple[float, int]]]

    def of(self, indicator: str, institution_id: str) -> tuple[float, int]:
        return self.ranks[indicator][institution_id]


def distributions(
    insts: Sequence[InstitutionInput],
    prepared: Mapping[str, Prepared],
    scored: set[str],
    groups: Mapping[str, dict],
    m: Methodology,
) -> PeerDistributions:
    """Peer percentiles: one average rank per indicator a block scores against its peers, within each used
    peer group (pandas ranks, ties averaged).

    A group's members are every scored institution whose chain holds its key, so an institution that fell
    back to a wider group is compared with all of that group, not only with the others that fell back.
    Institutions without a value for the indicator are left out of its distribution.

    Parameters
    ----------
    insts : sequence of InstitutionInput
        Every institution of the run, in institution id order.
    prepared : mapping of str to Prepared
        Step 1 of each institution (its indicators, in their units: kgce/m², kgce/person, m³/person,
        kgCO₂/m², % change, coverage 0..1).
    scored : set of str
        Ids of the institutions whose scored year is complete.
    groups : mapping of str to dict
        The peer group each institution uses (peers.assign).
    m : Methodology
        The blocks (method ``indicator``) whose indicators are ranked.

    Returns
    -------
    PeerDistributions
        (average rank, values ranked) per indicator and institution using the group.

    References
    ----------
    The national 公共机构节能示范单位评价 (comparison within like institutions); DB32/T 4001 (the
    institution kinds its quota groups distinguish; a percentile stands in where it has no quota).
    """
    group_members = members(insts, scored, groups, {iid: p.chain for iid, p in prepared.items()})
    pct: dict[str, dict[str, tuple[float, int]]] = {}
    for blk in m.spec.blocks:
        if blk.method != "indicator" or blk.indicator in pct:
            continue
        ind = blk.indicator
        pct[ind] = {}
        for ids, users in group_members.values():
            recs = [(iid, prepared[iid].by_code[ind]["value"]) for iid in ids]
            recs = [r for r in recs if r[1] is not None]
            if not recs:
                continue
            asc = prepared[recs[0][0]].by_code[ind]["lower_is_better"]
            ranks_ = pd.Series([r[1] for r in recs]).rank(method="average", ascending=asc).tolist()
            n = len(recs)
            for (iid, _v), r in zip(recs, ranks_, strict=True):
                if iid in users:
                    pct[ind][iid] = (r, n)
    return PeerDistributions(ranks=pct)
