"""A fallen-back institution is scored and ranked among every scored institution of the group it falls back to.

The worked example (conftest) plus G4: G3's figures in the cold zone, coverage 1.0. With min_size 3,
G1, G2, G3 stay in government:city:hot_summer_cold_winter (3 scored); G4 is alone in
government:city:cold and falls back to government:city, whose scored institutions are G1, G2, G3 and G4.
"""

from __future__ import annotations

import pytest

from scoring.compute import score

G4 = dict(
    cat="government",
    sub=None,
    region="320300",
    area=12_000,
    occ=300,
    zone="cold",
    use={2020: (1_200_000, 30_000, 10_000, 5_000), 2026: (1_080_000, 27_000, 9_000, 4_500)},
    coverage=1.0,
    assessed={
        "mgmt_organisation": 5,
        "mgmt_statistics": 5,
        "mgmt_rules": 5,
        "retrofit_envelope_hvac": 6,
        "retrofit_renewables": 4,
        "green_purchasing": 5,
        "water_saving": 5,
        "bonus_innovation": 5,
    },
)


def pts(r, code):
    return next(b.points for b in r.blocks if b.code == code)


def test_fallen_back_institution_is_compared_with_the_whole_wider_group(make_example, worked):
    res = {r.institution_id: r for r in score(make_example(extra={"G4": G4}), worked, 2026)}
    g4 = res["G4"]
    assert g4.peer_group.wanted == "government:city:cold"
    assert g4.peer_group.key == "government:city" and g4.peer_group.size == 4
    # the others keep their narrow group (3 scored), with unchanged points
    assert res["G3"].peer_group.key == "government:city:hot_summer_cold_winter"
    assert res["G3"].total_points == pytest.approx(88.5)
    # among G1, G2, G3, G4 (G4 ties G3 on every indicator):
    # per-area G1 13.25 < G3 = G4 13.79 < G2 16.37 → rank 2.5 of 4 → 18 × (4 − 2.5) / 3 = 9
    assert pts(g4, "area_energy") == pytest.approx(9)
    assert "ranks 2.5 of 4" in next(b.reason for b in g4.blocks if b.code == "area_energy")
    # per capita G3 = G4 583.95 best → rank 1.5 → 12 × 2.5 / 3 = 10; water 15 best → 8 × 2.5 / 3 = 6.666667
    assert pts(g4, "capita_energy") == pytest.approx(10)
    assert pts(g4, "capita_water") == pytest.approx(8 * 2.5 / 3)
    # carbon G1 55.22 < G3 = G4 56.19 → rank 2.5 → 5 × 1.5 / 3 = 2.5
    assert pts(g4, "carbon_intensity") == pytest.approx(2.5)
    # 9 + 10 + 6.666667 + 12 + 2.5 + 10 (coverage 1) + 35 + 5 = 90.166667
    assert g4.total_points == pytest.approx(90 + 1 / 6)
    # peer rank among the four by total: G1 100, G4 90.17, G3 88.5, G2 49.36
    assert (g4.ranks.peer, g4.ranks.peer_size) == (2, 4)
    # leader: rank 2 > ceil(0.1 × 4) = 1 → not a leader
    assert g4.eligible and not g4.leader
    assert "of 4 = rank ≤ 1" in g4.leader_reason
