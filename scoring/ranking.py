"""Ranks in peer group, city and province with the methodology's deterministic tie-break.

The order is a total order: the methodology's tie_break keys (e.g. total points desc, per-area energy asc)
always end with institution id asc, so equal scores never share a rank or depend on input order.
Only scored institutions are ranked; a vetoed institution keeps its place (it simply cannot qualify).
The peer rank is the place among every scored institution of the group used, including those whose
narrower group was large enough (a row's `chain` lists its groups narrowest first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from scoring.methodology import LEVEL_INDICATORS, Methodology

if TYPE_CHECKING:
    from scoring.inputs import InstitutionInput
    from scoring.prepare import Prepared


def rank(rows: Sequence[dict], tie_break: Sequence[str]) -> pd.DataFrame:
    """`rows`: dicts with institution_id, peer_group, city_code, every tie-break field and optionally chain
    (the row's peer-group keys, narrowest first; default [peer_group]). Returns a frame indexed by
    institution_id with rank_peer, rank_city and rank_province."""
    cols = ["institution_id", "peer_group", "city_code"]
    if not rows:
        return pd.DataFrame(columns=["rank_peer", "rank_city", "rank_province"]).rename_axis("institution_id")
    df = pd.DataFrame.from_records(rows)
    chains = {r["institution_id"]: r.get("chain") or [r["peer_group"]] for r in rows}
    by, asc = [], []
    for tb in tie_break:
        field, direction = tb.split()
        by.append(field)
        asc.append(direction == "asc")
        if field not in cols:
            cols.append(field)
    df = (
        df[cols]
        .sort_values(by=by, ascending=asc, kind="mergesort", na_position="last")
        .reset_index(drop=True)
    )
    df["rank_province"] = range(1, len(df) + 1)
    # place within the used group counting everyone whose chain holds it, in the one province order
    seen: dict[str, int] = {}
    used = set(df["peer_group"])
    peer_rank = []
    for iid, key in zip(df["institution_id"], df["peer_group"], strict=True):
        for k in chains[iid]:
            if k in used:
                seen[k] = seen.get(k, 0) + 1
        peer_rank.append(seen[key])
    df["rank_peer"] = peer_rank
    df["rank_city"] = df.groupby("city_code", sort=False).cumcount() + 1
    return df.set_index("institution_id")


def places(
    insts: Sequence[InstitutionInput],
    prepared: Mapping[str, Prepared],
    groups: Mapping[str, dict],
    totals: Mapping[str, float | None],
    m: Methodology,
) -> dict[str, dict]:
    """Step 5 of a run: every institution's ranks (dicts shaped like scoring.model.Ranks).

    Parameters
    ----------
    insts : sequence of InstitutionInput
        Every institution of the run, in institution id order.
    prepared : mapping of str to Prepared
        Step 1 of each (scored or not; level indicators for the tie-break, in kgce/m², kgce/person,
        m³/person, kgCO₂/m²; the peer chain).
    groups : mapping of str to dict
        The peer group each uses (peers.assign; `size` counts scored institutions).
    totals : mapping of str to float or None
        Total points of each (step 3); None when not scored.
    m : Methodology
        `ranking.tie_break`.

    Returns
    -------
    dict of str to dict
        Peer, city and province rank (None when not scored) and the sizes they are out of.

    References
    ----------
    The national 公共机构节能示范单位评价 (ranking within like institutions and the region).
    """
    spec = m.spec
    rows: list[dict] = []
    city_sizes: dict[str, int] = {}
    for inst in insts:
        p = prepared[inst.id]
        if not p.scored:
            continue
        city_sizes[inst.city_code] = city_sizes.get(inst.city_code, 0) + 1
        row = dict(
            institution_id=inst.id,
            peer_group=groups[inst.id]["key"],
            chain=p.chain,
            city_code=inst.city_code,
            total_points=totals[inst.id],
        )
        for ind in LEVEL_INDICATORS:
            row[ind] = p.by_code[ind]["value"]
        rows.append(row)
    ranks = rank(rows, spec.ranking.tie_break)[["rank_peer", "rank_city", "rank_province"]].to_dict("index")
    peer_sizes = {g["key"]: g["size"] for g in groups.values()}
    tie_text = ", then ".join(spec.ranking.tie_break)
    n_scored = len(rows)
    out: dict[str, dict] = {}
    for inst in insts:
        g = groups[inst.id]
        if prepared[inst.id].scored:
            r = ranks[inst.id]
            out[inst.id] = dict(
                peer=int(r["rank_peer"]),
                peer_size=peer_sizes[g["key"]],
                city=int(r["rank_city"]),
                city_size=city_sizes[inst.city_code],
                province=int(r["rank_province"]),
                province_size=n_scored,
                tie_break=tie_text,
            )
        else:
            out[inst.id] = dict(
                peer=None,
                peer_size=peer_sizes.get(g["key"], 0),
                city=None,
                city_size=city_sizes.get(inst.city_code, 0),
                province=None,
                province_size=n_scored,
                tie_break=tie_text,
            )
    return out
