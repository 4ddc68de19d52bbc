"""The worked example (tests/scoring/conftest.py), computed by hand: every figure below can be checked with a pencil.

Methodology: jiangsu-2026 1.0.0 (tests/scoring/data/worked-base-2026.toml) with two changes so that both scoring methods appear in a small province:
peer groups need 3 scored institutions (not 5), and the primary-school group has a per-area energy quota
(先进值 8.0, 约束值 14.0 kgce/m²). Coefficients (当量值): electricity 0.1229 kgce/kWh, natural gas 1.2143
kgce/m³, gasoline 1.4714 kgce/kg at 0.73 kg/L. Carbon: electricity 0.5703 kgCO₂/kWh, gas 2.162 kgCO₂/m³.

Blocks: area energy 18, capita energy 12, capita water 8, reduction 12 (4 targets × 3), carbon 5, data
quality 10, assessed 35, bonus 10. Peer percentile = max × (n − r) / (n − 1) with r the average rank.
"""

from __future__ import annotations

import pytest

from scoring.compute import score
from scoring.methodology import parse_methodology
from tests.scoring.conftest import WORKED_BASE


@pytest.fixture
def results(example_inputs, worked):
    return {r.institution_id: r for r in score(example_inputs, worked, 2026)}


def ind(r, code):
    return next(i.value for i in r.indicators if i.code == code)


def pts(r, code):
    return next(b.points for b in r.blocks if b.code == code)


def method(r, code):
    return next(b.method for b in r.blocks if b.code == code)


def A(x):
    # tight enough that a slip in the hand arithmetic (a digit in the 7th place) fails
    return pytest.approx(x, rel=1e-9, abs=1e-9)


def test_inputs_in_standard_coal(results):
    g1 = results["G1"].inputs.current
    lines = {(e.energy_type, e.vehicle): e for e in g1.energy}
    # electricity 900,000 kWh × 0.1229 = 110,610 kgce; carbon 900,000 × 0.5703 = 513,270 kgCO₂
    assert lines[("electricity", False)].energy_kgce == A(110_610)
    assert lines[("electricity", False)].carbon_kgco2 == A(513_270)
    # the HVAC sub-meter (360,000 kWh) is inside the main meter: only G1-e is counted
    assert lines[("electricity", False)].meter_ids == ["G1-e"]
    # gas 18,000 m³ × 1.2143 = 21,857.4 kgce; 18,000 × 2.162 = 38,916 kgCO₂
    assert lines[("natural_gas", False)].energy_kgce == A(21_857.4)
    # petrol 9,000 L × 0.73 kg/L = 6,570 kg × 1.4714 = 9,667.098 kgce, official vehicles
    v = lines[("gasoline", True)]
    assert v.quantity_in_coef_unit == A(6_570) and v.density_kg_per_l == 0.73
    assert v.energy_kgce == A(9_667.098)
    assert v.coef_basis == "当量值" and "GB/T 2589" in v.coef_source
    # total 110,610 + 21,857.4 + 9,667.098 = 142,134.498; building (no vehicle) 132,467.4
    assert g1.total_energy_kgce == A(142_134.498)
    assert g1.vehicle_energy_kgce == A(9_667.098)
    assert g1.building_energy_kgce == A(132_467.4)
    # building carbon 513,270 + 38,916 = 552,186 kgCO₂ (vehicle fuel excluded, like per-area energy)
    assert g1.building_carbon_kgco2 == A(552_186)
    assert g1.water_m3 == A(3_600)


def test_indicators(results):
    r = results
    # G1: 132,467.4 / 10,000 = 13.24674 kgce/m²; 142,134.498 / 200 = 710.67249 kgce/person;
    #     3,600 / 200 = 18 m³/person; 552,186 / 10,000 = 55.2186 kgCO₂/m²
    assert ind(r["G1"], "area_energy_kgce_m2") == A(13.24674)
    assert ind(r["G1"], "capita_energy_kgce") == A(710.67249)
    assert ind(r["G1"], "capita_water_m3") == A(18)
    assert ind(r["G1"], "area_carbon_kgco2_m2") == A(55.2186)
    # G2: elec 970,000 × 0.1229 = 119,213; gas 9,700 × 1.2143 = 11,778.71; building 130,991.71 / 8,000 = 16.37396375
    #     petrol 4,850 × 0.73 = 3,540.5 kg × 1.4714 = 5,209.4917; total 136,201.2017 / 100 = 1,362.012017
    #     water 1,940 / 100 = 19.4; carbon (553,191 + 20,971.4) / 8,000 = 71.7703
    assert ind(r["G2"], "area_energy_kgce_m2") == A(16.37396375)
    assert ind(r["G2"], "capita_energy_kgce") == A(1_362.012017)
    assert ind(r["G2"], "capita_water_m3") == A(19.4)
    assert ind(r["G2"], "area_carbon_kgco2_m2") == A(71.7703)
    # G3: elec 1,080,000 × 0.1229 = 132,732; gas 27,000 × 1.2143 = 32,786.1; building 165,518.1 / 12,000 = 13.793175
    #     petrol 9,667.098; total 175,185.198 / 300 = 583.95066; water 4,500 / 300 = 15
    #     carbon (615,924 + 58,374) / 12,000 = 56.1915
    assert ind(r["G3"], "area_energy_kgce_m2") == A(13.793175)
    assert ind(r["G3"], "capita_energy_kgce") == A(583.95066)
    assert ind(r["G3"], "capita_water_m3") == A(15)
    assert ind(r["G3"], "area_carbon_kgco2_m2") == A(56.1915)
    # S1: elec 1,350,000 × 0.1229 = 165,915; gas 36,000 × 1.2143 = 43,714.8; no vehicle: total = building = 209,629.8
    #     / 20,000 = 10.48149; / 1,000 = 209.6298; water 27,000 / 1,000 = 27; carbon (769,905 + 77,832) / 20,000 = 42.38685
    assert ind(r["S1"], "area_energy_kgce_m2") == A(10.48149)
    assert ind(r["S1"], "capita_energy_kgce") == A(209.6298)
    assert ind(r["S1"], "capita_water_m3") == A(27)
    assert ind(r["S1"], "area_carbon_kgco2_m2") == A(42.38685)
    # S2: building 110,610 + 21,857.4 = 132,467.4 / 15,000 = 8.83116; petrol 1,800 × 0.73 × 1.4714 = 1,933.4196
    #     total 134,400.8196 / 800 = 168.0010245; water 18,000 / 800 = 22.5; carbon 552,186 / 15,000 = 36.8124
    assert ind(r["S2"], "area_energy_kgce_m2") == A(8.83116)
    assert ind(r["S2"], "capita_energy_kgce") == A(168.0010245)
    assert ind(r["S2"], "capita_water_m3") == A(22.5)
    assert ind(r["S2"], "area_carbon_kgco2_m2") == A(36.8124)
    # S3: elec 1,440,000 × 0.1229 = 176,976; gas 32,786.1; 209,762.1 / 10,000 = 20.97621; / 500 = 419.5242
    #     water 13,500 / 500 = 27; carbon (821,232 + 58,374) / 10,000 = 87.9606
    assert ind(r["S3"], "area_energy_kgce_m2") == A(20.97621)
    assert ind(r["S3"], "capita_energy_kgce") == A(419.5242)
    assert ind(r["S3"], "capita_water_m3") == A(27)
    assert ind(r["S3"], "area_carbon_kgco2_m2") == A(87.9606)
    # changes against 2020: every use × 0.9 with area and people unchanged → −10 % on every indicator;
    # G2 × 0.97 → −3 %
    for iid in ("G1", "G3", "S1", "S2", "S3"):
        for code in ("area_energy_kgce_m2", "capita_energy_kgce", "capita_water_m3", "area_carbon_kgco2_m2"):
            assert ind(r[iid], code + "_change_baseline_pct") == A(-10.0)
    assert ind(r["G2"], "capita_energy_kgce_change_baseline_pct") == A(-3.0)
    # against 2025 (G1 only has 2025 data, 2020 × 0.95): 0.9 / 0.95 − 1 = −5.263158 %
    assert ind(r["G1"], "area_energy_kgce_m2_change_previous_pct") == A(-5.2631579)
    assert ind(r["G2"], "area_energy_kgce_m2_change_previous_pct") is None
    # data quality: lowest counted-meter coverage; G3 misses every 20th hour → 0.95
    assert ind(r["G1"], "coverage_min") == 1.0
    assert ind(r["G3"], "coverage_min") == 0.95


def test_government_group_by_peer_percentile(results):
    r = results
    for iid in ("G1", "G2", "G3"):
        assert r[iid].peer_group.key == "government:city:hot_summer_cold_winter"
        assert r[iid].peer_group.fallback == [] and r[iid].peer_group.size == 3
        assert method(r[iid], "area_energy") == "peer_percentile"
    # area energy: G1 13.25 < G3 13.79 < G2 16.37 → ranks 1, 2, 3 of 3 → 18 × (3−r)/2 = 18, 9, 0
    assert (pts(r["G1"], "area_energy"), pts(r["G3"], "area_energy"), pts(r["G2"], "area_energy")) == (
        18,
        9,
        0,
    )
    # capita energy: G3 583.95 < G1 710.67 < G2 1,362.01 → 12, 6, 0
    assert (pts(r["G3"], "capita_energy"), pts(r["G1"], "capita_energy"), pts(r["G2"], "capita_energy")) == (
        12,
        6,
        0,
    )
    # capita water: G3 15 < G1 18 < G2 19.4 → 8, 4, 0
    assert (pts(r["G3"], "capita_water"), pts(r["G1"], "capita_water"), pts(r["G2"], "capita_water")) == (
        8,
        4,
        0,
    )
    # carbon: G1 55.22 < G3 56.19 < G2 71.77 → 5, 2.5, 0
    assert (
        pts(r["G1"], "carbon_intensity"),
        pts(r["G3"], "carbon_intensity"),
        pts(r["G2"], "carbon_intensity"),
    ) == (5, 2.5, 0)
    # reduction: −10 % beats every target (7/6/7/7 %) → 4 × 3 = 12.
    # G2 reduced 3 %: per-area 3 × 3/6 = 1.5; the three 7 % targets 3 × 3/7 = 1.285714 each → 5.357143
    assert pts(r["G1"], "reduction") == 12 and pts(r["G3"], "reduction") == 12
    assert pts(r["G2"], "reduction") == A(1.5 + 3 * 3 * 3 / 7)
    # data quality: coverage 1 → 10; G3 0.95 → 10 × (0.95 − 0.9) / (1 − 0.9) = 5
    assert pts(r["G1"], "data_quality") == 10 and pts(r["G3"], "data_quality") == A(5)


def test_school_group_quota_and_ties(results):
    r = results
    for iid in ("S1", "S2", "S3"):
        assert r[iid].peer_group.key == "school:primary:hot_summer_cold_winter"
        assert method(r[iid], "area_energy") == "quota"
        assert method(r[iid], "capita_energy") == "peer_percentile"
    # quota 先进值 8, 约束值 14: S1 18 × (14 − 10.48149) / 6 = 10.55553; S2 18 × (14 − 8.83116) / 6 = 15.50652;
    # S3 20.98 ≥ 14 → 0 (and a veto)
    assert pts(r["S1"], "area_energy") == A(10.55553)
    assert pts(r["S2"], "area_energy") == A(15.50652)
    assert pts(r["S3"], "area_energy") == 0
    # capita energy: S2 168.0 < S1 209.6 < S3 419.5 → 12, 6, 0
    assert (pts(r["S2"], "capita_energy"), pts(r["S1"], "capita_energy"), pts(r["S3"], "capita_energy")) == (
        12,
        6,
        0,
    )
    # water: S2 22.5 best; S1 and S3 tie at 27 → average rank 2.5 → 8 × (3 − 2.5) / 2 = 2 each
    assert (pts(r["S2"], "capita_water"), pts(r["S1"], "capita_water"), pts(r["S3"], "capita_water")) == (
        8,
        2,
        2,
    )
    # carbon: S2 36.81 < S1 42.39 < S3 87.96 → 5, 2.5, 0
    assert (
        pts(r["S2"], "carbon_intensity"),
        pts(r["S1"], "carbon_intensity"),
        pts(r["S3"], "carbon_intensity"),
    ) == (5, 2.5, 0)


def test_assessed_blocks_totals_vetoes_eligibility(results):
    r = results
    # assessed (35 max): G1 35 + bonus 10; G2 31 + 3; G3 35 + 5; S1 30 (★ mgmt_statistics not assessed) + 0;
    # S2 31 + 0; S3 31 + 3
    # G1 = 18 + 6 + 4 + 12 + 5 + 10 + 35 = 90; + 10 = 100
    assert (r["G1"].base_points, r["G1"].bonus_points, r["G1"].total_points) == (90, 10, 100)
    # G2 = 0 + 0 + 0 + 5.357143 + 0 + 10 + 31 = 46.357143; + 3 = 49.357143
    assert r["G2"].total_points == A(49.357143)
    # G3 = 9 + 12 + 8 + 12 + 2.5 + 5 + 35 = 83.5; + 5 = 88.5
    assert r["G3"].total_points == A(88.5)
    # S1 = 10.55553 + 6 + 2 + 12 + 2.5 + 10 + 30 = 73.05553
    assert r["S1"].total_points == A(73.05553)
    # S2 = 15.50652 + 12 + 8 + 12 + 5 + 10 + 31 = 93.50652
    assert r["S2"].total_points == A(93.50652)
    # S3 = 0 + 0 + 2 + 12 + 0 + 10 + 31 = 55; + 3 = 58
    assert r["S3"].total_points == A(58)
    s1_items = {i.code: i for b in r["S1"].blocks for i in b.items}
    assert s1_items["mgmt_statistics"].assessed is False and s1_items["mgmt_statistics"].points == 0
    assert s1_items["mgmt_organisation"].evidence == "证明材料 mgmt_organisation"

    def codes(iid):
        return sorted(v.code for v in r[iid].vetoes)

    assert codes("G1") == codes("G3") == codes("S2") == []
    assert codes("G2") == ["failed_annual_target"] * 4  # all four targets missed (3 % < 6 / 7 %)
    assert codes("S1") == ["star_item_zero"]
    assert codes("S3") == ["quota_exceeded"]  # 20.97621 > 约束值 14
    assert "20.9762" in r["S3"].vetoes[0].reason
    assert codes("X1") == ["missing_statistics", "star_item_zero", "star_item_zero"]
    # threshold 85 and no veto: G1 100, S2 93.5, G3 88.5 qualify
    assert sorted(i for i, x in r.items() if x.eligible) == ["G1", "G3", "S2"]
    assert any("below the threshold" in s for s in r["G2"].ineligible_reasons)
    # leader: total ≥ 95 and peer rank ≤ ceil(0.1 × 3) = 1 → only G1; S2 is first of its group but 93.5 < 95,
    # G3 has 88.5 and rank 2
    assert [i for i, x in r.items() if x.leader] == ["G1"]
    assert "rank ≤ 1" in r["G3"].leader_reason


def test_ranks_and_missing_institution(results):
    r = results
    # province: G1 100 > S2 93.51 > G3 88.5 > S1 73.06 > S3 58 > G2 49.36; X1 not scored
    assert [r[i].ranks.province for i in ("G1", "S2", "G3", "S1", "S3", "G2")] == [1, 2, 3, 4, 5, 6]
    assert r["G1"].ranks.province_size == 6
    # peer: G1 1, G3 2, G2 3; S2 1, S1 2, S3 3
    assert [r[i].ranks.peer for i in ("G1", "G3", "G2", "S2", "S1", "S3")] == [1, 2, 3, 1, 2, 3]
    # city 320100 (南京): G1, S1, G2; 320200 (无锡): S2, G3, S3
    assert [r[i].ranks.city for i in ("G1", "S1", "G2")] == [1, 2, 3]
    assert [r[i].ranks.city for i in ("S2", "G3", "S3")] == [1, 2, 3]
    x1 = r["X1"]
    assert x1.scored is False and x1.total_points is None and x1.ranks.province is None
    assert x1.missing_inputs == ["no floor area / occupants for 2026 (institution_year)"]
    assert all(b.points == 0 for b in x1.blocks if b.kind == "measured")
    assert not x1.eligible and x1.ineligible_reasons[0] == "not scored: inputs incomplete"


def test_fallback_with_jiangsu_min_size(example_inputs):
    """jiangsu-2026 1.0.0 itself needs 5 scored institutions: each group of 3 widens to the whole province."""
    text = WORKED_BASE.read_text(encoding="utf-8")
    m = parse_methodology(text, "worked-base-2026.toml")
    res = {x.institution_id: x for x in score(example_inputs, m, 2026)}
    g1 = res["G1"]
    assert g1.peer_group.wanted == "government:city:hot_summer_cold_winter"
    assert g1.peer_group.key == "all" and g1.peer_group.size == 6
    assert g1.peer_group.fallback == [
        "government:city:hot_summer_cold_winter has 3 scored institution(s), fewer than 5: widened",
        "government:city has 3 scored institution(s), fewer than 5: widened",
        "government has 3 scored institution(s), fewer than 5: widened",
    ]
    # among all six, G1's per-area energy ranks 3rd (S2 8.83, S1 10.48, G1 13.25, G3 13.79, G2 16.37,
    # S3 20.98): 18 × (6 − 3) / 5 = 10.8; no quota in jiangsu-2026, so S1 is scored by percentile too
    assert pts(g1, "area_energy") == A(10.8)
    assert method(res["S1"], "area_energy") == "peer_percentile"
    assert res["S1"].ranks.peer == res["S1"].ranks.province
