"""Reported statistics (公共机构能源资源消费统计) for years without meter data, and vehicle meters vs coverage.

The worked example (conftest) has meter usage for 2020 and 2026. Here G1's 2020 figures come from its
statistics return instead, with the same quantities, so every indicator, block and veto must come out as in
the hand-worked example; only the stated source differs.
"""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest

from scoring.compute import score
from scoring.inputs import MeterQuality, ReportedUse
from scoring.runner import compute_results

SRC = "2020年度公共机构能源资源消费统计报表"
# G1's 2020 use, as in conftest.EXAMPLE: 1,000,000 kWh, 20,000 m³ gas, 10,000 L petrol, 4,000 m³ water
G1_2020 = [
    ReportedUse("electricity", "main", "kWh", 1_000_000.0, SRC),
    ReportedUse("gasoline", "vehicle", "L", 10_000.0, SRC),
    ReportedUse("natural_gas", "main", "m3", 20_000.0, SRC),
    ReportedUse("water", "main", "m3", 4_000.0, SRC),
]


def by_id(results):
    return {r.institution_id: r for r in results}


def without_meter_year(inst, year):
    """The institution with no meter usage for `year` (as if its meters were installed later)."""
    return replace(
        inst,
        meters=[
            replace(mu, by_year={y: v for y, v in mu.by_year.items() if y != year}) for mu in inst.meters
        ],
    )


def scored(insts, m, only="G1"):
    return by_id(score(insts, m, 2026))[only]


def same_figures(a, b):
    assert [(i.code, i.value) for i in a.indicators] == [(i.code, i.value) for i in b.indicators]
    assert [(x.code, x.points, x.reason) for x in a.blocks] == [
        (x.code, x.points, x.reason) for x in b.blocks
    ]
    assert (a.vetoes, a.total_points, a.eligible, a.ranks) == (b.vetoes, b.total_points, b.eligible, b.ranks)


def test_reported_baseline_stands_in_when_no_meter_data(make_example, worked):
    expected = scored(make_example(), worked, "G1")
    insts = make_example()
    # without meter data for 2020 and no statistics: the baseline is missing, a missing_statistics veto
    insts[0] = without_meter_year(insts[0], 2020)
    assert insts[0].id == "G1"
    bare = scored(insts, worked)
    assert [v.code for v in bare.vetoes] == ["missing_statistics"] and not bare.eligible
    assert bare.inputs.baseline.source == "none"
    # with the statistics return: the same figures as from meters (G1 is the leader in the worked example)
    insts[0].reported[2020] = list(G1_2020)
    r = scored(insts, worked)
    same_figures(r, expected)
    assert r.eligible and r.leader
    base = r.inputs.baseline
    assert base.source == "reported"
    assert base.source_detail == f"reported statistics (公共机构能源资源消费统计): {SRC}"
    assert [(e.energy_type, e.vehicle, e.quantity, e.meter_ids, e.reported_sources) for e in base.energy] == [
        ("electricity", False, 1_000_000.0, [], [SRC]),
        ("gasoline", True, 10_000.0, [], [SRC]),
        ("natural_gas", False, 20_000.0, [], [SRC]),
    ]
    assert base.water_m3 == 4_000.0
    # (1,000,000 × 0.1229 + 20,000 × 1.2143 + 10,000 L × 0.73 kg/L × 1.4714) kgce, as from meters
    assert base.total_energy_kgce == pytest.approx(expected.inputs.baseline.total_energy_kgce)
    assert r.inputs.current.source == "meters"
    assert r.inputs.current.source_detail == "meter usage (usage_monthly)"
    assert "(year 2026 against 2020)" in next(
        i.formula for i in r.indicators if i.code == "capita_energy_kgce_change_baseline_pct"
    )


def test_meter_data_wins_over_reported_figures(make_example, worked):
    expected = scored(make_example(), worked, "G1")
    insts = make_example()
    # a statistics return twice the metered 2020 use: ignored, because meters cover 2020
    insts[0].reported[2020] = [replace(x, quantity=x.quantity * 2) for x in G1_2020]
    r = scored(insts, worked)
    same_figures(r, expected)
    assert r.inputs.baseline.source == "meters"
    assert all(e.reported_sources == [] and e.meter_ids for e in r.inputs.baseline.energy)


def test_a_year_is_never_part_meters_part_reported(make_example, worked):
    insts = make_example()
    g1 = insts[0]
    # only the water meter recorded 2020: meter data do not cover that year (no electricity), so the whole
    # statistics return is used and the water meter's 2020 figure is not added to it
    g1.meters = [
        replace(mu, by_year={y: v for y, v in mu.by_year.items() if y != 2020 or mu.energy_type == "water"})
        for mu in g1.meters
    ]
    g1.meters = [
        replace(mu, by_year={**mu.by_year, 2020: 999.0}) if mu.energy_type == "water" else mu
        for mu in g1.meters
    ]
    g1.reported[2020] = list(G1_2020)
    r = scored(insts, worked)
    assert r.inputs.baseline.source == "reported"
    assert all(e.meter_ids == [] for e in r.inputs.baseline.energy)
    assert r.inputs.baseline.water_m3 == 4_000.0
    assert r.inputs.baseline.source_reason == (
        "meter data do not cover 2020 (no main electricity meter data in 2020): the statistics return is used"
    )


def test_scored_year_from_reported_statistics_has_no_coverage_check(make_example, worked):
    insts = make_example()
    g1 = without_meter_year(insts[0], 2026)
    g1.reported[2026] = [replace(x, quantity=x.quantity * 0.9, source="2026年度统计报表") for x in G1_2020]
    # its meters recorded nothing in 2026: hourly coverage 0, which must not count against a reported year
    g1.quality = {k: replace(q, coverage=0.0) for k, q in g1.quality.items()}
    insts[0] = g1
    r = scored(insts, worked)
    assert r.scored and r.missing_inputs == []
    assert r.inputs.current.source == "reported"
    assert (
        r.inputs.current.source_detail == "reported statistics (公共机构能源资源消费统计): 2026年度统计报表"
    )
    # 2026 = 2020 × 0.9 as in the worked example, so the indicators are G1's
    expected = scored(make_example(), worked, "G1")
    for code in ("capita_energy_kgce", "area_energy_kgce_m2", "capita_water_m3", "area_carbon_kgco2_m2"):
        got = next(i.value for i in r.indicators if i.code == code)
        assert got == pytest.approx(next(i.value for i in expected.indicators if i.code == code))
    # a reported year without a water figure is incomplete statistics
    g1.reported[2026] = [x for x in g1.reported[2026] if x.energy_type != "water"]
    r = scored(insts, worked)
    assert r.missing_inputs == ["no water figure in the reported statistics for 2026"]


def test_vehicle_meters_are_exempt_from_the_coverage_minimum(make_example, worked):
    expected = scored(make_example(), worked, "G1")
    insts = make_example()
    g1 = insts[0]
    # a fuel meter reports once per fill-up: ~50 readings a year is 0.6% of the hours
    g1.quality["G1-v"] = MeterQuality("G1-v", coverage=0.006, longest_gap_hours=400.0)
    r = scored(insts, worked)
    same_figures(r, expected)
    assert r.missing_inputs == [] and r.eligible
    cov = next(i for i in r.indicators if i.code == "coverage_min")
    assert cov.value == 1.0 and "vehicle-fuel meters excluded" in cov.formula
    info = {m.meter_id: m for m in r.inputs.meters}
    assert (info["G1-v"].coverage, info["G1-v"].coverage_checked) == (0.006, False)  # still shown
    assert info["G1-e"].coverage_checked and not info["G1-hvac"].coverage_checked
    # the same coverage on the main electricity meter is a missing_statistics veto
    g1.quality["G1-e"] = MeterQuality("G1-e", coverage=0.006)
    r = scored(insts, worked)
    assert r.missing_inputs == ["meter G1-e: coverage 0.006 below the minimum 0.9"]


def test_loader_reads_reported_usage_and_converts_units(example_db, worked, example_inputs):
    expected = by_id(score(example_inputs, worked, 2026))
    with psycopg.connect(example_db) as conn:
        # G1's meters were installed in 2021: no 2020 meter usage; its statistics return has 2020, in MWh
        conn.execute("DELETE FROM usage_monthly WHERE meter_id LIKE 'G1-%%' AND month < '2021-01-01'")
        conn.execute(
            """INSERT INTO reported_usage VALUES
               ('G1', 2020, 'electricity', 'main', 'MWh', 1000, %(s)s),
               ('G1', 2020, 'natural_gas', 'main', 'm3', 20000, %(s)s),
               ('G1', 2020, 'gasoline', 'vehicle', 'L', 10000, %(s)s),
               ('G1', 2020, 'water', 'main', 'm3', 4000, %(s)s),
               ('G2', 2020, 'electricity', 'main', 'kWh', 5, 'ignored: meters cover 2020'),
               ('G2', 2020, 'water', 'main', 'm3', 5, NULL)""",
            {"s": SRC},
        )
        conn.commit()
        res = by_id(compute_results(conn, worked, year=2026))
    for iid in ("G1", "G2"):
        assert res[iid].total_points == pytest.approx(expected[iid].total_points, abs=1e-6)
        assert [v.code for v in res[iid].vetoes] == [v.code for v in expected[iid].vetoes]
        assert res[iid].eligible == expected[iid].eligible
    assert res["G1"].inputs.baseline.source == "reported"
    assert res["G1"].inputs.baseline.source_detail.endswith(SRC)
    elec = next(e for e in res["G1"].inputs.baseline.energy if e.energy_type == "electricity")
    assert (elec.quantity, elec.unit) == (pytest.approx(1_000_000.0), "kWh")
    assert res["G2"].inputs.baseline.source == "meters"
