"""Ranks in peer group, city and province with the methodology's deterministic tie-break.

The order is a total order: the methodology's tie_break keys (e.g. total points desc, per-area energy asc)
always end with institution id asc, so equal scores never share a rank or depend on input order.
Only scored institutions are ranked; a vetoed institution keeps its place (it simply cannot qualify).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def rank(rows: Sequence[dict], tie_break: Sequence[str]) -> pd.DataFrame:
    """`rows`: dicts with institution_id, peer_group, city_code and every tie-break field. Returns a frame
    indexed by institution_id with rank_peer, rank_city, rank_province and the group sizes."""
    cols = ["institution_id", "peer_group", "city_code"]
    if not rows:
        return pd.DataFrame(columns=["rank_peer", "rank_city", "rank_province"]).rename_axis("institution_id")
    df = pd.DataFrame.from_records(rows)
    by, asc = [], []
    for tb in tie_break:
        field, direction = tb.split()
        by.append(field)
        asc.append(direction == "asc")
        if field not in cols:
            cols.append(field)
    df = df[cols].sort_values(by=by, ascending=asc, kind="mergesort", na_position="last").reset_index(drop=True)
    df["rank_province"] = range(1, len(df) + 1)
    df["rank_peer"] = df.groupby("peer_group", sort=False).cumcount() + 1
    df["rank_city"] = df.groupby("city_code", sort=False).cumcount() + 1
    return df.set_index("institution_id")
