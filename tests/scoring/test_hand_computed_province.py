"""A small province computed by hand, end to end: readings → ingest rollups → scoring with jiangsu-2026.

Every expected figure below is a literal worked out with a pencil (the arithmetic is in the comments), never by
calling the code under test. The methodology is jiangsu-2026 (15th plan, baseline 2025) with one change: peer
groups need 2 scored institutions (not 5), so a small province has groups of its own.

| id | peer group (narrowest)             | city   | m²     | people | 2026 meters (daily readings, 365 days)          |
|----|------------------------------------|--------|--------|--------|-------------------------------------------------|
| A1 | government:city:hot_summer_cold_w. | 320100 | 10,000 | 200    | elec CT ×40, 60/day raw; water 10/day; petrol 4 × 250 L |
| A2 | government:city:hot_summer_cold_w. | 320100 | 8,000  | 100    | elec 2,000/day; water 6/day, counter reset on day 181 |
| A3 | government:city:cold → falls back  | 320300 | 12,000 | 300    | elec 3,500/day; water 12/day                     |
| B1 | school:primary:hot_summer_cold_w.  | 320200 | 20,000 | 1,000  | elec 3,000/day; water 60/day                     |
| B2 | school:primary:hot_summer_cold_w.  | 320200 | 15,000 | 500    | elec 2,000/day; water 30/day                     |
| B3 | school:primary:hot_summer_cold_w.  | 320200 | 9,000  | 400    | meters installed 1 July 2026: incomplete         |

2024 and 2025 (baseline) come from each institution's statistics return (meters were installed on 1 January
2026). Coefficients (当量值): electricity 0.1229 kgce/kWh, 0.5703 kgCO₂/kWh; petrol 0.73 kg/L × 1.4714 kgce/kg.
Blocks: per-area energy 18, per-capita energy 12, per-capita water 8, carbon 5 (peer percentile
max × (n − r) / (n − 1)), cumulative reduction 6 (4 targets × 1.5, each due 7/6/7/7 % × (2026 − 2025) / 5),
two-year annual targets 6 (8 pairs × 0.75 at 1.44/1.23/1.44/1.44 %), data quality 10, assessed 35, bonus 10.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from ingest.rollup import rollup_until_idle
from scoring.compute import score
from scoring.explain import explain_lines
from scoring.loader import load_inputs
from scoring.methodology import METHODOLOGY_DIR, parse_methodology
from scoring.runner import labels

START = "2026-01-01T00:00:00+08:00"
REP = "年度公共机构能源资源消费统计报表"
FULL = {
    "mgmt_organisation": 5,
    "mgmt_statistics": 5,
    "mgmt_rules": 5,
    "retrofit_envelope_hvac": 6,
    "retrofit_renewables": 4,
    "green_purchasing": 5,
    "water_saving": 5,
}  # 35
STD31 = {**FULL, "mgmt_rules": 3, "water_saving": 3}  # 35 − 2 − 2 = 31
STD33 = {**FULL, "water_saving": 3}  # 33
INSTS = {  # id: (category, sub_kind, region, zone, area, occupants, assessed items)
    "A1": (
        "government",
        None,
        "320100",
        "hot_summer_cold_winter",
        10_000,
        200,
        {**FULL, "bonus_innovation": 5, "bonus_honours": 5},
    ),
    "A2": ("government", None, "320100", "hot_summer_cold_winter", 8_000, 100, STD31),
    "A3": (
        "government",
        None,
        "320300",
        "cold",
        12_000,
        300,
        {**FULL, "bonus_innovation": 5, "bonus_honours": 5},
    ),
    "B1": ("school", "primary", "320200", "hot_summer_cold_winter", 20_000, 1_000, STD33),
    "B2": (
        "school",
        "primary",
        "320200",
        "hot_summer_cold_winter",
        15_000,
        500,
        {**FULL, "bonus_innovation": 5},
    ),
    "B3": ("school", "primary", "320200", "hot_summer_cold_winter", 9_000, 400, FULL),
}
REPORTED = {  # id: {year: (electricity kWh, water m³, petrol L)}
    "A1": {2025: (900_000, 3_800, 1_100), 2024: (920_000, 3_900, 1_150)},
    "A2": {2025: (730_000, 2_190, None), 2024: (740_000, 2_200, None)},
    "A3": {2025: (1_320_000, 4_500, None), 2024: (1_350_000, 4_600, None)},
    "B1": {2025: (1_120_000, 22_500, None), 2024: (1_150_000, 23_000, None)},
    "B2": {2025: (745_000, 11_200, None), 2024: (760_000, 11_500, None)},
    "B3": {2025: (500_000, 7_000, None), 2024: (510_000, 7_100, None)},
}
# meter: (institution, energy, unit, register, end use, multiplier, first day, SQL value at day d)
METERS = {
    "A1-e": ("A1", "electricity", "kWh", "cumulative", "main", 40, 0, "5000 + 60 * d"),
    "A1-w": ("A1", "water", "m3", "cumulative", "main", 1, 0, "100 + 10 * d"),
    "A2-e": ("A2", "electricity", "kWh", "cumulative", "main", 1, 0, "2000 * d"),
    # the counter restarts from zero on day 181: 1,000 + 6 × 180 = 2,080, then 6
    "A2-w": (
        "A2",
        "water",
        "m3",
        "cumulative",
        "main",
        1,
        0,
        "CASE WHEN d <= 180 THEN 1000 + 6 * d ELSE 6 * (d - 180) END",
    ),
    "A3-e": ("A3", "electricity", "kWh", "cumulative", "main", 1, 0, "3500 * d"),
    "A3-w": ("A3", "water", "m3", "cumulative", "main", 1, 0, "12 * d"),
    "B1-e": ("B1", "electricity", "kWh", "cumulative", "main", 1, 0, "3000 * d"),
    "B1-w": ("B1", "water", "m3", "cumulative", "main", 1, 0, "60 * d"),
    "B2-e": ("B2", "electricity", "kWh", "cumulative", "main", 1, 0, "2000 * d"),
    "B2-w": ("B2", "water", "m3", "cumulative", "main", 1, 0, "30 * d"),
    "B3-e": ("B3", "electricity", "kWh", "cumulative", "main", 1, 181, "1000 * d"),
    "B3-w": ("B3", "water", "m3", "cumulative", "main", 1, 181, "20 * d"),
}
FILL_UPS = [
    "2026-03-01T10:00:00+08:00",
    "2026-06-01T10:00:00+08:00",
    "2026-09-01T10:00:00+08:00",
    "2026-11-01T10:00:00+08:00",
]


def methodology():
    text = (METHODOLOGY_DIR / "jiangsu-2026.toml").read_text(encoding="utf-8")
    assert "min_size = 5" in text
    return parse_methodology(text.replace("min_size = 5", "min_size = 2"), "province-2026.toml")


def load_province(conn: psycopg.Connection) -> None:
    for iid, (cat, sub, region, zone, area, occ, items) in INSTS.items():
        conn.execute(
            """INSERT INTO institution (id, name, category, sub_kind, admin_level, region_code, climate_zone)
                        VALUES (%s, %s, %s, %s, 'city', %s, %s)""",
            (iid, f"手算单位 {iid}", cat, sub, region, zone),
        )
        for y in (2024, 2025, 2026):
            conn.execute(
                "INSERT INTO institution_year VALUES (%s, %s, %s, %s, %s)",
                (iid, y, area, occ, "yes" if cat == "school" else None),
            )
        for y, (kwh, m3, litres) in REPORTED[iid].items():
            rows = [("electricity", "main", "kWh", kwh), ("water", "main", "m3", m3)]
            rows += [("gasoline", "vehicle", "L", litres)] if litres else []
            for et, eu, unit, qty in rows:
                conn.execute(
                    "INSERT INTO reported_usage VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (iid, y, et, eu, unit, qty, f"{y}{REP}"),
                )
        for code, pts in items.items():
            conn.execute(
                "INSERT INTO assessed_item (institution_id, year, item_code, points, evidence, entered_by,"
                " entered_at) VALUES (%s, 2026, %s, %s, 'evidence', 'assessor', %s)",
                (iid, code, pts, datetime(2027, 1, 15, tzinfo=UTC)),
            )
    for mid, (iid, et, unit, register, end_use, mult, first, value) in METERS.items():
        conn.execute(
            """INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, multiplier,
                            installed_at, read_interval_s) VALUES (%s, %s, %s, %s, %s, %s, %s,
                            %s::timestamptz + make_interval(days => %s), 86400)""",
            (mid, iid, et, unit, register, end_use, mult, START, first),
        )
        conn.execute(
            f"""INSERT INTO reading (meter_id, ts, value)
                         SELECT %s, %s::timestamptz + make_interval(days => d), {value}
                         FROM generate_series(%s::int, 365) d""",
            (mid, START, first),
        )
    # official-vehicle petrol: an interval register, one reading per fill-up (event-based by default)
    conn.execute(
        """INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at)
                    VALUES ('A1-v', 'A1', 'gasoline', 'L', 'interval', 'vehicle', %s)""",
        (START,),
    )
    for ts in FILL_UPS:
        conn.execute("INSERT INTO reading (meter_id, ts, value) VALUES ('A1-v', %s, 250)", (ts,))
    conn.execute("""INSERT INTO usage_dirty (meter_id, ts_min, ts_max)
                    SELECT meter_id, min(ts), max(ts) FROM reading GROUP BY meter_id""")


@pytest.fixture(scope="module")
def results(tmp_path_factory, pg_admin_url, migrated_template):
    from tests.conftest import _with_dbname, create_database, drop_database

    name = create_database(pg_admin_url, migrated_template)
    url = _with_dbname(pg_admin_url, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            with conn.transaction():
                load_province(conn)
            rollup_until_idle(conn, "Asia/Shanghai")
            m = methodology()
            insts = load_inputs(conn, m, 2026)
        yield {r.institution_id: r for r in score(insts, m, 2026, labels=labels())}
    finally:
        drop_database(pg_admin_url, name)


def A(x):
    return pytest.approx(x, rel=1e-9, abs=1e-9)


def ind(r, code):
    return next(i.value for i in r.indicators if i.code == code)


def pts(r, code):
    return next(b.points for b in r.blocks if b.code == code)


def test_inputs_from_meters_and_statistics(results):
    a1 = results["A1"].inputs
    lines = {(e.energy_type, e.vehicle): e for e in a1.current.energy}
    # CT ×40: 60 raw units a day × 40 × 365 days = 876,000 kWh × 0.1229 = 107,660.4 kgce; × 0.5703 = 499,582.8 kgCO₂
    assert lines[("electricity", False)].quantity == A(876_000)
    assert lines[("electricity", False)].energy_kgce == A(107_660.4)
    assert lines[("electricity", False)].carbon_kgco2 == A(499_582.8)
    # petrol 4 × 250 = 1,000 L × 0.73 = 730 kg × 1.4714 = 1,074.122 kgce (official vehicles)
    assert lines[("gasoline", True)].quantity == A(1_000) and lines[("gasoline", True)].energy_kgce == A(
        1_074.122
    )
    # total 107,660.4 + 1,074.122 = 108,734.522; water 10 × 365 = 3,650 m³
    assert a1.current.total_energy_kgce == A(108_734.522) and a1.current.water_m3 == A(3_650)
    assert a1.current.source == "meters"
    # baseline 2025 = previous year, from the statistics return: 900,000 × 0.1229 = 110,610;
    # 1,100 L × 0.73 × 1.4714 = 1,181.5342; total 111,791.5342
    for y in (a1.baseline, a1.previous):
        assert (y.year, y.source) == (2025, "reported")
        assert y.source_reason == "no meter usage in 2025: the statistics return is used"
        assert y.total_energy_kgce == A(111_791.5342)
    # 2024 (two-year annual check): 920,000 × 0.1229 = 113,068; 1,150 × 0.73 × 1.4714 = 1,235.2403 → 114,303.2403
    assert (a1.prior.year, a1.prior.source) == (2024, "reported") and a1.prior.total_energy_kgce == A(
        114_303.2403
    )
    # A2's water counter reset on day 181: still 6 × 365 = 2,190 m³, and the reset is counted
    a2 = results["A2"].inputs
    assert a2.current.water_m3 == A(2_190)
    assert {m.meter_id: m.resets for m in a2.meters}["A2-w"] == 1
    # daily meters read every day: coverage 1; the vehicle meter is event-based, not checked
    cov = {m.meter_id: (m.coverage, m.coverage_checked) for m in a1.meters}
    assert cov["A1-e"] == (1.0, True) and cov["A1-w"] == (1.0, True) and cov["A1-v"][1] is False


def test_indicators(results):
    r = results
    # A1: (108,734.522 − 1,074.122) / 10,000 = 10.76604; 108,734.522 / 200 = 543.67261; 3,650 / 200 = 18.25;
    #     499,582.8 / 10,000 = 49.95828
    assert [
        ind(r["A1"], c)
        for c in ("area_energy_kgce_m2", "capita_energy_kgce", "capita_water_m3", "area_carbon_kgco2_m2")
    ] == [A(10.76604), A(543.67261), A(18.25), A(49.95828)]
    # A2: 730,000 × 0.1229 = 89,717 / 8,000 = 11.214625; / 100 = 897.17; 2,190 / 100 = 21.9; 416,319 / 8,000 = 52.039875
    assert [
        ind(r["A2"], c)
        for c in ("area_energy_kgce_m2", "capita_energy_kgce", "capita_water_m3", "area_carbon_kgco2_m2")
    ] == [A(11.214625), A(897.17), A(21.9), A(52.039875)]
    # A3: 1,277,500 × 0.1229 = 157,004.75 / 12,000 = 13.0837291667; / 300 = 523.3491666667; 4,380 / 300 = 14.6;
    #     728,558.25 / 12,000 = 60.7131875
    assert ind(r["A3"], "area_energy_kgce_m2") == A(157_004.75 / 12_000)
    assert ind(r["A3"], "capita_energy_kgce") == A(157_004.75 / 300)
    assert ind(r["A3"], "capita_water_m3") == A(14.6) and ind(r["A3"], "area_carbon_kgco2_m2") == A(
        60.7131875
    )
    # B1: 1,095,000 × 0.1229 = 134,575.5 / 20,000 = 6.728775; / 1,000 = 134.5755; 21,900 / 1,000 = 21.9
    # B2: 730,000 × 0.1229 = 89,717 / 15,000 = 5.9811333; / 500 = 179.434; 10,950 / 500 = 21.9 (a tie with B1)
    assert ind(r["B1"], "capita_water_m3") == ind(r["B2"], "capita_water_m3") == A(21.9)
    assert ind(r["B2"], "area_energy_kgce_m2") == A(89_717 / 15_000) and ind(
        r["B2"], "capita_energy_kgce"
    ) == A(179.434)
    # changes: A1 per-capita energy 2026 vs 2025 (543.67261 − 558.957671) / 558.957671 = −2.7345650 %;
    #          2025 vs 2024 (558.957671 − 571.5162015) / 571.5162015 = −2.1974059 %
    assert ind(r["A1"], "capita_energy_kgce_change_previous_pct") == A(
        (543.67261 - 558.957671) / 558.957671 * 100
    )
    assert ind(r["A1"], "capita_energy_kgce_change_prior_pct") == A(
        (558.957671 - 571.5162015) / 571.5162015 * 100
    )
    assert ind(r["A1"], "capita_water_m3_change_baseline_pct") == A((18.25 - 19) / 19 * 100)  # −3.947368 %


def test_peer_groups_fallback_and_percentile_points(results):
    r = results
    assert r["A1"].peer_group.key == r["A2"].peer_group.key == "government:city:hot_summer_cold_winter"
    assert r["A1"].peer_group.size == 2
    # A3 is alone in government:city:cold and falls back to government:city: A1, A2 and A3
    a3 = r["A3"].peer_group
    assert (a3.wanted, a3.key, a3.size) == ("government:city:cold", "government:city", 3)
    assert a3.fallback == ["government:city:cold has 1 scored institution(s), fewer than 2: widened"]
    # A1 beats A2 on all four: 18, 12, 8, 5 and 0 for A2
    assert [
        pts(r["A1"], b) for b in ("area_energy", "capita_energy", "capita_water", "carbon_intensity")
    ] == [18, 12, 8, 5]
    assert [
        pts(r["A2"], b) for b in ("area_energy", "capita_energy", "capita_water", "carbon_intensity")
    ] == [0, 0, 0, 0]
    # A3 among three: per-area 13.08 is worst (rank 3) → 0; per-capita 523.35 best (A1 543.67, A2 897.17) → 12;
    # water 14.6 best → 8; carbon 60.71 worst → 0
    assert [
        pts(r["A3"], b) for b in ("area_energy", "capita_energy", "capita_water", "carbon_intensity")
    ] == [0, 12, 8, 0]
    # schools: B2 better per area (5.98 < 6.73) and carbon (27.75 < 31.22), B1 per capita (134.58 < 179.43);
    # water tied at 21.9 → rank 1.5 each → 8 × (2 − 1.5) / 1 = 4
    assert [
        pts(r["B1"], b) for b in ("area_energy", "capita_energy", "capita_water", "carbon_intensity")
    ] == [0, 12, 4, 0]
    assert [
        pts(r["B2"], b) for b in ("area_energy", "capita_energy", "capita_water", "carbon_intensity")
    ] == [18, 0, 4, 5]


def test_targets_totals_vetoes_ranks(results):
    r = results
    # cumulative reduction against 2025, due 7/6/7/7 % × 1/5 = 1.4/1.2/1.4/1.4 % in 2026: A1, A3, B1, B2 reduce
    # by 2 % or more on every indicator → 6; A2 reduced nothing → 0
    # (A2's hourly-spread meter total differs from 730,000 kWh in the 14th digit, hence approx)
    assert [pts(r[i], "reduction") for i in ("A1", "A3", "B1", "B2", "A2")] == [A(6), A(6), A(6), A(6), A(0)]
    # annual targets: A1, A3, B1, B2 beat 1.44/1.23 % in both years → 6. A2: 2026 vs 2025 0 % → 4 × 0;
    # 2025 vs 2024: per capita −1.351351 % → 0.75 × 1.351351 / 1.44 = 0.703829; per area 1.351351 ≥ 1.23 → 0.75;
    # water (2,190 − 2,200) / 2,200 = −0.454545 % → 0.75 × 0.454545 / 1.44 = 0.236742; carbon as per capita 0.703829
    assert [pts(r[i], "annual_targets") for i in ("A1", "A3", "B1", "B2")] == [A(6), A(6), A(6), A(6)]
    assert pts(r["A2"], "annual_targets") == A(0.75 * (10 / 7.4) / 1.44 * 2 + 0.75 + 0.75 * (10 / 22) / 1.44)
    assert [pts(r[i], "data_quality") for i in ("A1", "A2", "A3", "B1", "B2")] == [10] * 5
    # A1 = 18 + 12 + 8 + 5 + 6 + 6 + 10 + 35 = 100; + 10 = 110
    assert (r["A1"].base_points, r["A1"].total_points) == (A(100), A(110))
    # A2 = 2.394400082 + 10 + 31 = 43.394400082, published to 6 decimals: 43.3944
    assert r["A2"].total_points == A(43.3944)
    # A3 = 0 + 12 + 8 + 0 + 6 + 6 + 10 + 35 = 77; + 10 = 87
    assert r["A3"].total_points == A(87)
    # B1 = 0 + 12 + 4 + 0 + 6 + 6 + 10 + 33 = 71; B2 = 18 + 0 + 4 + 5 + 6 + 6 + 10 + 35 = 84; + 5 = 89
    assert (r["B1"].total_points, r["B2"].total_points) == (A(71), A(89))
    # vetoes: A2 missed 4 annual targets in 2026 and 3 in 2025 (per area 1.35 % beat 1.23 %)
    assert [v.code for v in r["A2"].vetoes] == ["failed_annual_target"] * 7
    assert (
        r["A2"]
        .vetoes[0]
        .reason.startswith("capita_energy_kgce: 2026 reduced 0% against 2025, annual target 1.44%")
    )
    assert all(r[i].vetoes == [] for i in ("A1", "A3", "B1", "B2"))
    # B3: meters from 1 July, no 2026 statistics return: 184 of 365 days = 0.5041 → not scored
    b3 = r["B3"]
    assert not b3.scored and b3.total_points is None
    assert b3.missing_inputs == [
        "meter B3-e: coverage 0.5041 below the minimum 0.9",
        "meter B3-w: coverage 0.5041 below the minimum 0.9",
    ]
    assert "the partial meter data are shown" in b3.inputs.current.source_reason
    # eligible: ≥ 85 and no veto → A1 110, B2 89, A3 87; leader: ≥ 95 and first of its group → A1 only
    assert sorted(i for i, x in r.items() if x.eligible) == ["A1", "A3", "B2"]
    assert [i for i, x in r.items() if x.leader] == ["A1"]
    # A3 is 2nd of 3 in government:city (A1 110 > A3 87 > A2 43.39): not a leader, cut-off ceil(0.1 × 3) = 1
    assert (r["A3"].ranks.peer, r["A3"].ranks.peer_size) == (2, 3) and "rank ≤ 1" in r["A3"].leader_reason
    # province: A1 110 > B2 89 > A3 87 > B1 71 > A2 43.39; city 320100 A1, A2; 320200 B2, B1; 320300 A3
    assert [r[i].ranks.province for i in ("A1", "B2", "A3", "B1", "A2")] == [1, 2, 3, 4, 5]
    assert [r[i].ranks.peer for i in ("A1", "A2", "B2", "B1")] == [1, 2, 1, 2]
    assert [r[i].ranks.city for i in ("A1", "A2", "B2", "B1", "A3")] == [1, 2, 1, 2, 1]
    assert r["B3"].ranks.province is None and r["A1"].ranks.province_size == 5


def test_explain_says_where_every_year_came_from(results):
    text = "\n".join(explain_lines(results["A1"]))
    assert "scored year 2026" in text and "baseline 2025" in text and "previous year 2025" in text
    assert "year before the previous (two-year annual targets) 2024" in text
    assert "why: meter data cover 2026" in text
    assert text.count("why: no meter usage in 2025: the statistics return is used") == 2
    assert "why: no meter usage in 2024: the statistics return is used" in text
