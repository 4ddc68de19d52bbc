"""Every year scoring reads takes meter data only when they cover that year; otherwise the statistics return.

Seen: a meter installed in December 2020 with one month of readings replaced G1's full-year 2020 statistics
return, turned the baseline into a twelfth of a year and per-area energy into a rise of over 1,000 %.
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


def test_a_december_meter_does_not_replace_the_full_year_return(make_example, worked):
    expected = by_id(score(make_example(), worked, 2026))["G1"]
    insts = make_example()
    g1 = insts[0]
    # meters installed 1 December 2020: one month of 2020 use, 31 of 366 days read
    dec = {"G1-e": 43_400.0, "G1-g": 900.0, "G1-v": 400.0, "G1-w": 180.0, "G1-hvac": 17_360.0}
    g1.meters = [replace(mu, by_year={**mu.by_year, 2020: dec[mu.meter_id]}) for mu in g1.meters]
    g1.quality_by_year[2020] = {mid: MeterQuality(mid, coverage=31 / 366) for mid in ("G1-e", "G1-g", "G1-w")}
    g1.reported[2020] = list(G1_2020)
    r = by_id(score(insts, worked, 2026))["G1"]
    base = r.inputs.baseline
    assert base.source == "reported"
    assert base.source_reason == (
        "meter data do not cover 2020 (meter G1-e: coverage 0.0847 below the minimum 0.9; meter G1-g: coverage "
        "0.0847 below the minimum 0.9; meter G1-w: coverage 0.0847 below the minimum 0.9): the statistics "
        "return is used"
    )
    # the full-year return: the same figures, vetoes and title as the hand-worked example
    assert base.total_energy_kgce == pytest.approx(expected.inputs.baseline.total_energy_kgce)
    assert [(i.code, i.value) for i in r.indicators] == [(i.code, i.value) for i in expected.indicators]
    assert r.vetoes == [] and r.eligible and r.leader and r.total_points == pytest.approx(100)
    # the scored year says why its meters were taken
    assert r.inputs.current.source_reason.startswith("meter data cover 2026")


def test_partial_meter_year_without_a_return_has_no_figures(make_example, worked):
    insts = make_example()
    g1 = insts[0]
    g1.quality_by_year[2020] = {mid: replace(q, coverage=0.5) for mid, q in g1.quality_by_year[2020].items()}
    r = by_id(score(insts, worked, 2026))["G1"]
    assert r.inputs.baseline.source == "none" and r.inputs.baseline.total_energy_kgce is None
    assert (
        "there is no statistics return for 2020: no figures for this year" in r.inputs.baseline.source_reason
    )
    assert [v.code for v in r.vetoes] == ["missing_statistics"] and not r.eligible
    # a previous year partly metered is not compared with either
    g1.quality_by_year[2025] = {mid: replace(q, coverage=0.5) for mid, q in g1.quality_by_year[2025].items()}
    r = by_id(score(insts, worked, 2026))["G1"]
    assert next(i.value for i in r.indicators if i.code == "capita_energy_kgce_change_previous_pct") is None


def test_loader_judges_each_year_by_its_own_readings(example_db, worked, example_inputs):
    expected = by_id(score(example_inputs, worked, 2026))
    with psycopg.connect(example_db) as conn:
        # G1's meters were installed on 1 December 2020 and read from then on; its 2020 return is complete
        conn.execute(
            "UPDATE meter SET installed_at = '2020-12-01T00:00:00+08:00' WHERE institution_id = 'G1'"
        )
        conn.execute("DELETE FROM reading WHERE meter_id LIKE 'G1-%%' AND ts <= '2020-12-01T00:00:00+08:00'")
        conn.execute("DELETE FROM usage_monthly WHERE meter_id LIKE 'G1-%%' AND month < '2020-12-01'")
        conn.execute(
            """INSERT INTO reported_usage VALUES
               ('G1', 2020, 'electricity', 'main', 'kWh', 1000000, %(s)s),
               ('G1', 2020, 'natural_gas', 'main', 'm3', 20000, %(s)s),
               ('G1', 2020, 'gasoline', 'vehicle', 'L', 10000, %(s)s),
               ('G1', 2020, 'water', 'main', 'm3', 4000, %(s)s)""",
            {"s": SRC},
        )
        conn.commit()
        res = by_id(compute_results(conn, worked, year=2026))
    g1 = res["G1"]
    assert g1.inputs.baseline.source == "reported"
    assert "meter G1-e: coverage 0.0847 below the minimum 0.9" in g1.inputs.baseline.source_reason
    assert g1.total_points == pytest.approx(expected["G1"].total_points, abs=1e-6)
    assert g1.vetoes == [] and g1.leader
    # G2's meters read all of 2020: meter data, coverage 1
    assert res["G2"].inputs.baseline.source == "meters"


def test_a_replaced_meter_and_its_successor_cover_the_year(example_db, worked):
    with psycopg.connect(example_db) as conn:
        # G1's main electricity meter was replaced on 1 July 2026: the old one read until then, the new one after
        conn.execute("UPDATE meter SET retired_at = '2026-07-01T00:00:00+08:00' WHERE id = 'G1-e'")
        conn.execute("DELETE FROM reading WHERE meter_id = 'G1-e' AND ts > '2026-07-01T00:00:00+08:00'")
        conn.execute("""INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at)
                        VALUES ('G1-e2', 'G1', 'electricity', 'kWh', 'interval', 'main', '2026-07-01T00:00:00+08:00')""")
        conn.execute("""INSERT INTO reading (meter_id, ts, value)
                        SELECT 'G1-e2', ts, 1.0 FROM generate_series('2026-07-01T01:00:00+08:00'::timestamptz,
                                                                     '2027-01-01T00:00:00+08:00', '1 hour') ts""")
        conn.execute("""INSERT INTO usage_monthly SELECT 'G1-e2', month, consumption FROM usage_monthly
                        WHERE meter_id = 'G1-e' AND month >= '2026-07-01'""")
        conn.execute("DELETE FROM usage_monthly WHERE meter_id = 'G1-e' AND month >= '2026-07-01'")
        conn.commit()
        res = by_id(compute_results(conn, worked, year=2026))
    g1 = res["G1"]
    cov = {m.meter_id: m.coverage for m in g1.inputs.meters}
    # each is judged over its part of the year: the old one until retirement, the new one from installation
    assert cov["G1-e"] == 1.0 and cov["G1-e2"] == 1.0
    assert g1.scored and g1.missing_inputs == [] and g1.inputs.current.source == "meters"
    elec = next(e for e in g1.inputs.current.energy if e.energy_type == "electricity")
    assert elec.meter_ids == ["G1-e", "G1-e2"] and elec.quantity == pytest.approx(900_000)
