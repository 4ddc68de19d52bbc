"""Peer groups with a minimum size and a fallback chain (docs/design.md §6).

A peer group is a key over category × subdivision (机关 by admin level, schools by kind, hospitals by
grade, venues by kind) × climate zone (GB 50176 热工分区: north Jiangsu 寒冷, the rest 夏热冬冷). The
methodology lists the levels from narrowest to widest, ending with [] (everyone in the run). An
institution takes the narrowest level whose group has at least `min_size` scored institutions; each
level skipped is recorded, so the report says which group was used and why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from scoring.inputs import InstitutionInput
from scoring.methodology import Methodology

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
    """Peer group of every institution (dicts shaped like scoring.model.PeerGroupInfo); sizes count scored
    institutions only (unscored ones have no figures to compare). The widest level is used whatever its size."""
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
    insts: Sequence[InstitutionInput], scored: set[str], groups: Mapping[str, dict], pre: Mapping[str, dict]
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
            for k in pre[i.id]["chain"]:
                if k in out:
                    out[k][0].append(i.id)
    return out
