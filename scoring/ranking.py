"""Ranks in peer group, city and province with the methodology's deterministic tie-break.

The order is a total order: the methodology's tie_break keys (e.g. total points desc, per-area energy asc)
always end with institution id asc, so equal scores never share a rank or depend on input order.
Only scored institutions are ranked; a vetoed institution keeps its place (it simply cannot qualify).
The peer rank is the place among every scored institution of the group used, including those whose
narrower group was large enough (a row's `chain` lists its groups narrowest first).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


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
