"""Simulated assessor entries for the items no meter measures (management, retrofits, purchasing, bonus).

Only the demo uses these, so that a fresh province has a ranking with qualifying units; a real
deployment gets them from assessors through the API. Deterministic in the seed, like the readings.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim import rand


@dataclass(frozen=True)
class ItemSpec:
    code: str
    max_points: float
    star: bool = False
    bonus: bool = False


@dataclass(frozen=True)
class AssessedEntry:
    institution_id: str
    year: int
    item_code: str
    points: float
    evidence: str


def simulated_assessments(
    institution_ids: list[str], items: list[ItemSpec], year: int, seed: int, *, star_zero_share: float = 0.03
) -> list[AssessedEntry]:
    """Points per institution and item, rounded to 0.5 as assessors' sheets are.

    Most units score 60–100 % of an item; bonus items are rarer (a third of units get any); a
    ``star_zero_share`` of units scores zero on one ★ item, so the demo shows that veto too.
    """
    out: list[AssessedEntry] = []
    for inst in sorted(institution_ids):
        k = rand.key(seed, "assessed", inst, year)
        draws = rand.uniform(k, range(len(items) + 1))
        star_zero = float(draws[-1]) < star_zero_share
        star_seen = False
        for i, item in enumerate(items):
            u = float(draws[i])
            if item.bonus:
                share = 0.0 if u < 2 / 3 else (u - 2 / 3) * 3
            else:
                share = 0.6 + 0.4 * u
            if item.star and star_zero and not star_seen:
                share, star_seen = 0.0, True
            points = round(item.max_points * share * 2) / 2
            out.append(AssessedEntry(inst, year, item.code, points, f"demo assessment {year} (simulated)"))
    return out
