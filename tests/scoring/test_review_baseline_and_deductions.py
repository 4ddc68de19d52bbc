"""A registry baseline year from another plan period, and an excluded-area sub-meter that does not cover its year.

Seen: the example province's registry gives every institution baseline_year 2020 (the 14th plan's), and scoring
2026 with jiangsu-2026 (15th plan, baseline 2025) measured every reduction against 2020. And a dormitory
sub-meter installed in July deducted half a year of the dormitory's use from a total whose floor area leaves the
dormitory out all year, without a word.
"""

from __future__ import annotations

import pytest

from scoring.compute import score
from scoring.explain import explain_lines
from scoring.inputs import MeterQuality, MeterUse
from scoring.methodology import load_methodology


def by_id(results):
    return {r.institution_id: r for r in results}


def test_a_registry_baseline_before_the_plan_is_not_used(make_example):
    m = load_methodology("jiangsu-2026")
    insts = make_example()
    g1 = next(i for i in insts if i.id == "G1")
    g1.baseline_year = 2020  # the 14th plan's baseline, as the example registry states it
    r = by_id(score(insts, m, 2026))["G1"]
    # the 15th plan's baseline 2025: G1's 2025 use (2020 × 0.95) is the reference, not 2020
    assert (r.baseline_year, r.baseline_year_source) == (2025, "methodology")
    assert r.inputs.baseline.year == 2025
    assert r.baseline_year_note == (
        "institution.baseline_year 2020 is before the baseline year 2025 of the plan period this methodology "
        "scores (江苏省“十五五”公共机构节约能源资源工作规划 (2026-2030)): the plan's baseline is used"
    )
    assert any("institution.baseline_year 2020 is before" in line for line in explain_lines(r))


def test_a_registry_baseline_inside_the_plan_is_used(make_example):
    # a later baseline (an institution established during the plan) is the registry's to set
    m = load_methodology("jiangsu-2025")
    insts = make_example()
    g1 = next(i for i in insts if i.id == "G1")
    g1.baseline_year = 2020
    r = by_id(score(insts, m, 2025))["G1"]
    assert (r.baseline_year, r.baseline_year_source, r.baseline_year_note) == (2020, "institution", None)


def test_an_excluded_area_meter_that_does_not_cover_the_year_is_a_coverage_gap(make_example, worked):
    insts = make_example()
    s1 = next(i for i in insts if i.id == "S1")
    # dormitory sub-meter installed 1 July 2026: 184 of 365 days, 100,000 kWh deducted instead of a year's
    s1.meters.append(
        MeterUse(
            "S1-dorm",
            "electricity",
            "lighting_sockets",
            False,
            "kWh",
            {2026: 100_000.0},
            read_interval_s=3600,
            deducted=True,
        )
    )
    s1.quality["S1-dorm"] = MeterQuality("S1-dorm", coverage=184 / 365)
    r = by_id(score(insts, worked, 2026))["S1"]
    assert not r.scored
    assert "meter S1-dorm: coverage 0.5041 below the minimum 0.9" in r.missing_inputs
    assert next(m for m in r.inputs.meters if m.meter_id == "S1-dorm").coverage_checked is True


def test_an_excluded_area_meter_that_covers_the_year_counts_in_data_quality(make_example, worked):
    insts = make_example()
    s1 = next(i for i in insts if i.id == "S1")
    s1.meters.append(
        MeterUse(
            "S1-dorm",
            "electricity",
            "lighting_sockets",
            False,
            "kWh",
            {2026: 200_000.0},
            read_interval_s=3600,
            deducted=True,
        )
    )
    s1.quality["S1-dorm"] = MeterQuality("S1-dorm", coverage=0.95)
    r = by_id(score(insts, worked, 2026))["S1"]
    assert r.scored
    # 10 × (0.95 − 0.9) / (1 − 0.9) = 5: the dormitory meter is the lowest of S1's meters
    assert next(b.points for b in r.blocks if b.code == "data_quality") == pytest.approx(5)


def test_a_deduction_larger_than_the_metered_use_is_refused(make_example, worked):
    insts = make_example()
    s1 = next(i for i in insts if i.id == "S1")
    # a dormitory meter registered with the wrong CT ratio: 2,000,000 kWh against S1's 1,350,000 kWh main meter
    s1.meters.append(
        MeterUse(
            "S1-dorm",
            "electricity",
            "lighting_sockets",
            False,
            "kWh",
            {2026: 2_000_000.0},
            read_interval_s=3600,
            deducted=True,
        )
    )
    s1.quality["S1-dorm"] = MeterQuality("S1-dorm", coverage=1.0)
    r = by_id(score(insts, worked, 2026))["S1"]
    # a negative total would rank S1 best of its peers; it is not scored, with the reason
    assert not r.scored and r.total_points is None
    assert (
        "2026: electricity: excluded floor area (meters S1-dorm) 2000000 kWh exceeds the metered 1350000 kWh"
        in r.missing_inputs
    )
    assert all(i.value is None or i.value >= 0 for i in r.indicators if not i.code.endswith("_pct"))


def test_a_deducted_meter_inside_a_deducted_meter_is_deducted_once(example_db, worked):
    import psycopg

    from scoring.runner import compute_results

    with psycopg.connect(example_db) as conn:
        # G1's dormitory block (50,000 kWh in 2026), and its air conditioning (20,000 kWh) inside it: both marked
        # excluded_area; the air conditioning is already inside the block's figure
        for mid, parent, kwh in (("G1-dorm", "G1-e", 50_000), ("G1-dorm-ac", "G1-dorm", 20_000)):
            conn.execute(
                """INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use,
                                parent_meter_id, accounting, installed_at)
                            VALUES (%s, 'G1', 'electricity', 'kWh', 'interval', 'lighting_sockets', %s,
                                    'excluded_area', '2019-01-01T00:00:00+08:00')""",
                (mid, parent),
            )
            for month in range(1, 13):
                conn.execute(
                    "INSERT INTO usage_monthly VALUES (%s, %s, %s)", (mid, f"2026-{month:02d}-01", kwh / 12)
                )
        conn.commit()
        r = by_id(compute_results(conn, worked, year=2026))["G1"]
    elec = next(e for e in r.inputs.current.energy if e.energy_type == "electricity")
    # 900,000 − 50,000 = 850,000 kWh: the block's meter alone is deducted
    assert elec.deducted_meter_ids == ["G1-dorm"]
    assert elec.deducted_quantity == pytest.approx(50_000) and elec.quantity == pytest.approx(850_000)
