"""A second small province computed by hand, through `jieneng score` and the stored run.

Every expected figure is a literal worked out by hand (arithmetic in the comments), never by calling the code
under test. Methodology: jiangsu-2026 (baseline 2025, annual targets 1.44 / 1.23 / 1.44 / 1.44 % in each of
2026 and 2025, cumulative 7 / 6 / 7 / 7 % × 1/5 due in 2026) with peer groups of 2.

| id | peer group wanted → used                       | city   | m²     | people | 2026 kWh/day | m³/day |
|----|------------------------------------------------|--------|--------|--------|--------------|--------|
| G1 | government:city:hot_summer_cold_winter         | 320100 | 10,000 | 200    | 2,000        | 8      |
| G2 | government:city:hot_summer_cold_winter         | 320100 | 8,000  | 100    | 2,000        | 5      |
| G3 | government:province:cold → government          | 320300 | 12,000 | 300    | 3,100        | 9      |
| S1 | school:primary:hot_summer_cold_winter          | 320200 | 20,000 | 1,000  | 4,000 − 1,000 dormitory | 50 |
| S2 | school:primary:hot_summer_cold_winter          | 320200 | 15,000 | 900    | 2,400        | 24     |
| S3 | school:primary (occupants exclude students)    | 320200 | 9,000  | 60     | 1,000        | 3      |
| H1 | hospital:grade3:hot_summer_cold_winter → all   | 320100 | 30,000 | 1,500  | 9,000        | 30     |

Meters are read once a day (electricity registered at 86,400 s; water left at the registry default, daily).
All meters start on 1 January 2026 except G2's, installed on 1 December 2025: its 31 days of 2025 do not cover
2025, whose statistics return stands. Electricity only, so carbon ranks as per-area energy does.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from typer.testing import CliRunner

from ingest.rollup import rollup_until_idle
from scoring.methodology import METHODOLOGY_DIR
from store import scoring as S

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
BONUS = {"bonus_innovation": 5, "bonus_honours": 5}  # 10
INSTS = {  # id: (category, sub_kind, admin level, region, zone, m², people, students counted, assessed)
    "G1": (
        "government",
        None,
        "city",
        "320100",
        "hot_summer_cold_winter",
        10_000,
        200,
        None,
        {**FULL, **BONUS},
    ),
    "G2": ("government", None, "city", "320100", "hot_summer_cold_winter", 8_000, 100, None, FULL),
    "G3": ("government", None, "province", "320300", "cold", 12_000, 300, None, {**FULL, **BONUS}),
    "S1": (
        "school",
        "primary",
        "city",
        "320200",
        "hot_summer_cold_winter",
        20_000,
        1_000,
        "yes",
        {**FULL, "water_saving": 2, **BONUS},
    ),  # 32 + 10
    "S2": (
        "school",
        "primary",
        "city",
        "320200",
        "hot_summer_cold_winter",
        15_000,
        900,
        "yes",
        {**FULL, **BONUS},
    ),
    "S3": ("school", "primary", "city", "320200", "hot_summer_cold_winter", 9_000, 60, "no", FULL),
    "H1": (
        "hospital",
        "grade3",
        "city",
        "320100",
        "hot_summer_cold_winter",
        30_000,
        1_500,
        None,
        {**FULL, **BONUS},
    ),
}
REPORTED = {  # id: {year: (electricity kWh, water m³)}; S1's electricity leaves out its dormitory, as its area does
    "G1": {2025: (760_000, 3_000), 2024: (790_000, 3_020)},
    "G2": {2025: (750_000, 1_900), 2024: (780_000, 1_960)},
    "G3": {2025: (1_170_000, 3_400), 2024: (1_200_000, 3_500)},
    "S1": {2025: (1_130_000, 18_800), 2024: (1_160_000, 19_300)},
    "S2": {2025: (900_000, 9_000), 2024: (930_000, 9_300)},
    "S3": {2025: (370_000, 1_100), 2024: (380_000, 1_150)},
    "H1": {2025: (3_400_000, 11_300), 2024: (3_500_000, 11_600)},
}
# meter: (institution, energy, unit, end use, parent, accounting, read interval s, kWh or m³ per day, first day)
METERS = {
    "G1-e": ("G1", "electricity", "kWh", "main", None, None, 86_400, 2_000, "2026-01-01"),
    "G1-w": ("G1", "water", "m3", "main", None, None, None, 8, "2026-01-01"),
    "G2-e": ("G2", "electricity", "kWh", "main", None, None, 86_400, 2_000, "2025-12-01"),
    "G2-w": ("G2", "water", "m3", "main", None, None, None, 5, "2025-12-01"),
    "G3-e": ("G3", "electricity", "kWh", "main", None, None, 86_400, 3_100, "2026-01-01"),
    "G3-w": ("G3", "water", "m3", "main", None, None, None, 9, "2026-01-01"),
    "S1-e": ("S1", "electricity", "kWh", "main", None, None, 86_400, 4_000, "2026-01-01"),
    # the dormitory (outside 建筑面积) is fed through S1-e and sub-metered: deducted
    "S1-dorm": (
        "S1",
        "electricity",
        "kWh",
        "lighting_sockets",
        "S1-e",
        "excluded_area",
        86_400,
        1_000,
        "2026-01-01",
    ),
    "S1-w": ("S1", "water", "m3", "main", None, None, None, 50, "2026-01-01"),
    "S2-e": ("S2", "electricity", "kWh", "main", None, None, 86_400, 2_400, "2026-01-01"),
    "S2-w": ("S2", "water", "m3", "main", None, None, None, 24, "2026-01-01"),
    "S3-e": ("S3", "electricity", "kWh", "main", None, None, 86_400, 1_000, "2026-01-01"),
    "S3-w": ("S3", "water", "m3", "main", None, None, None, 3, "2026-01-01"),
    "H1-e": ("H1", "electricity", "kWh", "main", None, None, 86_400, 9_000, "2026-01-01"),
    "H1-w": ("H1", "water", "m3", "main", None, None, None, 30, "2026-01-01"),
}


def methodology_text() -> str:
    text = (METHODOLOGY_DIR / "jiangsu-2026.toml").read_text(encoding="utf-8")
    assert "min_size = 5" in text
    return text.replace("min_size = 5", "min_size = 2")


def load_province(conn: psycopg.Connection) -> None:
    for iid, (cat, sub, level, region, zone, area, occ, students, items) in INSTS.items():
        conn.execute(
            """INSERT INTO institution (id, name, category, sub_kind, admin_level, region_code, climate_zone)
                        VALUES (%s, %s, %s, %s, %s, %s, %s)""",
            (iid, f"手算单位 {iid}", cat, sub, level, region, zone),
        )
        for y in (2024, 2025, 2026):
            conn.execute(
                "INSERT INTO institution_year VALUES (%s, %s, %s, %s, %s)", (iid, y, area, occ, students)
            )
        for y, (kwh, m3) in REPORTED[iid].items():
            for et, unit, qty in (("electricity", "kWh", kwh), ("water", "m3", m3)):
                conn.execute(
                    "INSERT INTO reported_usage VALUES (%s, %s, %s, 'main', %s, %s, %s)",
                    (iid, y, et, unit, qty, f"{y}{REP}"),
                )
        for code, pts in items.items():
            conn.execute(
                "INSERT INTO assessed_item (institution_id, year, item_code, points, evidence, entered_by,"
                " entered_at) VALUES (%s, 2026, %s, %s, 'evidence', 'assessor', %s)",
                (iid, code, pts, datetime(2027, 1, 15, tzinfo=UTC)),
            )
    for mid, (iid, et, unit, end_use, parent, accounting, interval, per_day, first) in METERS.items():
        start = f"{first}T00:00:00+08:00"
        conn.execute(
            """INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, parent_meter_id,
                            accounting, installed_at, read_interval_s)
                        VALUES (%s, %s, %s, %s, 'cumulative', %s, %s, %s, %s, %s)""",
            (mid, iid, et, unit, end_use, parent, accounting, start, interval),
        )
        # one reading a day at local midnight, from installation to 1 January 2027
        conn.execute(
            """INSERT INTO reading (meter_id, ts, value)
                        SELECT %s, ts, %s * extract(epoch FROM ts - %s::timestamptz)::bigint / 86400
                        FROM generate_series(%s::timestamptz, '2027-01-01T00:00:00+08:00', '1 day') ts""",
            (mid, per_day, start, start),
        )
    conn.execute("""INSERT INTO usage_dirty (meter_id, ts_min, ts_max)
                    SELECT meter_id, min(ts), max(ts) FROM reading GROUP BY meter_id""")


@pytest.fixture(scope="module")
def province(tmp_path_factory, pg_admin_url, migrated_template):
    from tests.conftest import _with_dbname, create_database, drop_database

    name = create_database(pg_admin_url, migrated_template)
    url = _with_dbname(pg_admin_url, name)
    path = tmp_path_factory.mktemp("province-b") / "province-b-2026.toml"
    path.write_text(methodology_text(), encoding="utf-8")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            with conn.transaction():
                load_province(conn)
            rollup_until_idle(conn, "Asia/Shanghai")
        from jieneng.cli import app

        runner = CliRunner()
        env = {"JIENENG_DATABASE_URL": url}
        runs = []
        for by in ("first", "second"):
            out = runner.invoke(
                app,
                ["score", "--year", "2026", "--methodology", str(path), "--by", by, "--limit", "0"],
                env=env,
            )
            assert out.exit_code == 0, out.output
            runs.append((out.output, int(out.output.strip().splitlines()[-1].split()[-1])))
        with psycopg.connect(url) as conn:
            details = {iid: S.get_result(conn, runs[0][1], iid) for iid in INSTS}
            infos = [S.get_run(conn, r) for _o, r in runs]
        explain = {
            iid: runner.invoke(app, ["score", "--explain", iid, "--run", str(runs[0][1])], env=env).output
            for iid in ("G2", "S1")
        }
        yield dict(d=details, runs=runs, infos=infos, explain=explain)
    finally:
        drop_database(pg_admin_url, name)


def A(x):
    # stored details are canonical JSON: floats rounded to 6 decimals
    return pytest.approx(x, rel=1e-12, abs=5.1e-7)


def ind(r, code):
    return next(i["value"] for i in r["indicators"] if i["code"] == code)


def pts(r, code):
    return next(b["points"] for b in r["blocks"] if b["code"] == code)


def line(y, et):
    return next(e for e in y["energy"] if e["energy_type"] == et and not e["vehicle"])


MEASURED = ("area_energy", "capita_energy", "capita_water", "carbon_intensity")


def test_years_read_and_their_sources(province):
    d = province["d"]
    # G2's meters since 1 December 2025: 31 of 365 days = 0.0849 of 2025; the 2025 return stands (750,000 kWh)
    g2 = d["G2"]["inputs"]
    assert (g2["baseline"]["source"], g2["previous"]["source"]) == ("reported", "reported")
    assert g2["baseline"]["source_reason"] == (
        "meter data do not cover 2025 (meter G2-e: coverage 0.0849 below the minimum 0.9; meter G2-w: coverage "
        "0.0849 below the minimum 0.9): the statistics return is used"
    )
    assert line(g2["baseline"], "electricity")["quantity"] == A(750_000)
    # 750,000 × 0.1229 = 92,175 kgce; water 1,900 m³
    assert g2["baseline"]["total_energy_kgce"] == A(92_175) and g2["baseline"]["water_m3"] == A(1_900)
    # 2026 from its meters: 2,000 × 365 = 730,000 kWh; water 5 × 365 = 1,825 m³, a daily meter at coverage 1
    assert g2["current"]["source"] == "meters" and line(g2["current"], "electricity")["quantity"] == A(
        730_000
    )
    assert g2["current"]["water_m3"] == A(1_825)
    assert {m["meter_id"]: m["coverage"] for m in g2["meters"]} == {"G2-e": A(1.0), "G2-w": A(1.0)}
    assert (g2["prior"]["year"], g2["prior"]["source"]) == (2024, "reported")
    # S1: 4,000 × 365 = 1,460,000 kWh main − 1,000 × 365 = 365,000 dormitory = 1,095,000 kWh
    s1 = line(d["S1"]["inputs"]["current"], "electricity")
    assert (s1["quantity"], s1["deducted_quantity"], s1["deducted_meter_ids"]) == (
        A(1_095_000),
        A(365_000),
        ["S1-dorm"],
    )
    # 1,095,000 × 0.1229 = 134,575.5 kgce; × 0.5703 = 624,478.5 kgCO₂
    assert s1["energy_kgce"] == A(134_575.5) and s1["carbon_kgco2"] == A(624_478.5)
    # the dormitory meter is deducted, not counted; its daily readings cover the year (365 / 365), and are checked
    s1m = {m["meter_id"]: m for m in d["S1"]["inputs"]["meters"]}
    assert (s1m["S1-dorm"]["counted"], s1m["S1-dorm"]["deducted"], s1m["S1-dorm"]["coverage_checked"]) == (
        False,
        True,
        True,
    )
    assert s1m["S1-dorm"]["coverage"] == A(1.0)


def test_indicators_by_hand(province):
    d = province["d"]
    # kgce = kWh × 0.1229; kgCO₂ = kWh × 0.5703
    expect = {  # id: (per-area kgce/m², per-capita kgce, per-capita water m³, per-area kgCO₂/m²)
        "G1": (730_000 * 0.1229 / 10_000, 730_000 * 0.1229 / 200, 2_920 / 200, 730_000 * 0.5703 / 10_000),
        # 8.9717, 448.585, 14.6, 41.6319
        "G2": (8.9717 * 10 / 8, 897.17, 18.25, 41.6319 * 10 / 8),  # 11.214625, 897.17, 18.25, 52.039875
        # 1,131,500 kWh: 139,061.35 kgce / 12,000 = 11.5884458333; / 300 = 463.5378333; 3,285 / 300 = 10.95;
        # 645,294.45 kgCO₂ / 12,000 = 53.7745375
        "G3": (139_061.35 / 12_000, 139_061.35 / 300, 10.95, 645_294.45 / 12_000),
        # 134,575.5 / 20,000 = 6.728775; / 1,000 = 134.5755; 18,250 / 1,000 = 18.25; 624,478.5 / 20,000 = 31.223925
        "S1": (6.728775, 134.5755, 18.25, 31.223925),
        # 876,000 kWh: 107,660.4 kgce / 15,000 = 7.17736; / 900 = 119.6226667; 8,760 / 900 = 9.7333333;
        # 499,582.8 / 15,000 = 33.30552
        "S2": (7.17736, 107_660.4 / 900, 8_760 / 900, 33.30552),
        # 3,285,000 kWh: 403,726.5 kgce / 30,000 = 13.45755; / 1,500 = 269.151; 10,950 / 1,500 = 7.3;
        # 1,873,435.5 / 30,000 = 62.44785
        "H1": (13.45755, 269.151, 7.3, 62.44785),
    }
    codes = ("area_energy_kgce_m2", "capita_energy_kgce", "capita_water_m3", "area_carbon_kgco2_m2")
    for iid, vals in expect.items():
        assert [ind(d[iid], c) for c in codes] == [A(v) for v in vals], iid
    # G1 per-capita water 2025 against 2024: (3,000 − 3,020) / 3,020 = −0.6622517 %, short of 1.44 %
    assert ind(d["G1"], "capita_water_m3_change_prior_pct") == A(-20 / 3_020 * 100)
    # G2 per-area energy 2026 against the 2025 return: (730,000 − 750,000) / 750,000 = −2.6666667 %
    assert ind(d["G2"], "area_energy_kgce_m2_change_baseline_pct") == A(-20_000 / 750_000 * 100)


def test_peer_groups_and_fallbacks(province):
    d = province["d"]
    g = {iid: d[iid]["peer_group"] for iid in INSTS}
    assert (g["G1"]["key"], g["G1"]["size"]) == ("government:city:hot_summer_cold_winter", 2)
    assert (g["S1"]["key"], g["S1"]["size"]) == (
        "school:primary:hot_summer_cold_winter",
        2,
    )  # S3 is not scored
    # G3 falls back two levels, to all three government institutions
    assert (g["G3"]["wanted"], g["G3"]["key"], g["G3"]["size"]) == (
        "government:province:cold",
        "government",
        3,
    )
    assert g["G3"]["fallback"] == [
        "government:province:cold has 1 scored institution(s), fewer than 2: widened",
        "government:province has 1 scored institution(s), fewer than 2: widened",
    ]
    # H1 falls back to every scored institution: G1, G2, G3, S1, S2, H1
    assert (g["H1"]["wanted"], g["H1"]["key"], g["H1"]["size"]) == (
        "hospital:grade3:hot_summer_cold_winter",
        "all",
        6,
    )
    assert len(g["H1"]["fallback"]) == 3


def test_percentile_points_by_hand(province):
    d = province["d"]
    # G1 beats G2 on all four (8.97 < 11.21, 448.6 < 897.2, 14.6 < 18.25, 41.6 < 52.0): 18, 12, 8, 5 and 0
    assert [pts(d["G1"], b) for b in MEASURED] == [18, 12, 8, 5]
    assert [pts(d["G2"], b) for b in MEASURED] == [0, 0, 0, 0]
    # G3 among G1, G2, G3: per-area 11.59 worst of 8.97 / 11.21 → 0; per-capita 463.5 2nd (448.6 < 463.5 < 897.2)
    # → 12 × (3 − 2) / 2 = 6; water 10.95 best → 8; carbon 53.77 worst → 0
    assert [pts(d["G3"], b) for b in MEASURED] == [0, 6, 8, 0]
    # schools: S1 per-area 6.73 < 7.18 and carbon 31.2 < 33.3; S2 per-capita 119.6 < 134.6 and water 9.73 < 18.25
    assert [pts(d["S1"], b) for b in MEASURED] == [18, 0, 0, 5]
    assert [pts(d["S2"], b) for b in MEASURED] == [0, 12, 8, 0]
    # H1 among all six: per-area 13.46 worst → 0; per-capita 269.2 3rd (S2 119.6, S1 134.6, H1, G1 448.6,
    # G3 463.5, G2 897.2) → 12 × (6 − 3) / 5 = 7.2; water 7.3 best → 8; carbon 62.4 worst → 0
    assert [pts(d["H1"], b) for b in MEASURED] == [0, A(7.2), 8, 0]


def test_targets_totals_vetoes_and_ranks(province):
    d = province["d"]
    scored = ("G1", "G2", "G3", "S1", "S2", "H1")
    # every 2026 change is −2.5 % or better against 2025 (due 1.4 / 1.2 / 1.4 / 1.4 %): 4 × 1.5 = 6 each
    assert [pts(d[i], "reduction") for i in scored] == [A(6)] * 6
    # annual targets: all 8 pairs met but G1's 2025 per-capita water (−0.6622517 % of 1.44 %):
    # 7 × 0.75 + 0.75 × 0.6622517 / 1.44 = 5.25 + 0.3449227 = 5.5949227
    assert pts(d["G1"], "annual_targets") == A(5.25 + 0.75 * (20 / 3_020 * 100) / 1.44)
    assert [pts(d[i], "annual_targets") for i in scored[1:]] == [A(6)] * 5
    assert [pts(d[i], "data_quality") for i in scored] == [10] * 6
    # G1 = 43 + 6 + 5.5949227 + 10 + 35 + 10 = 109.594923 (6 decimals)
    # G2 = 0 + 6 + 6 + 10 + 35 = 57; G3 = 14 + 6 + 6 + 10 + 35 + 10 = 81
    # S1 = 23 + 6 + 6 + 10 + 32 + 10 = 87; S2 = 20 + 6 + 6 + 10 + 35 + 10 = 87 (a tie); H1 = 15.2 + 22 + 35 + 10 = 82.2
    totals = {i: d[i]["total_points"] for i in scored}
    assert totals == {"G1": A(109.594923), "G2": A(57), "G3": A(81), "S1": A(87), "S2": A(87), "H1": A(82.2)}
    assert d["S1"]["total_points"] == d["S2"]["total_points"]
    # G1 vetoed for the one missed annual target; nobody else
    assert [v["code"] for v in d["G1"]["vetoes"]] == ["failed_annual_target"]
    assert d["G1"]["vetoes"][0]["reason"].startswith("capita_water_m3: 2025 reduced 0.6623% against 2024")
    assert all(d[i]["vetoes"] == [] for i in scored[1:])
    # S3: occupants without students, where jiangsu-2026 counts them: not scored
    s3 = d["S3"]
    assert not s3["scored"] and s3["total_points"] is None
    assert s3["missing_inputs"][0].startswith("occupants for 2026 exclude the students")
    # eligible: ≥ 85, no veto → S1, S2; no leader (87 < 95)
    assert sorted(i for i in INSTS if d[i]["eligible"]) == ["S1", "S2"]
    assert not any(d[i]["leader"] for i in INSTS)
    # province: G1 109.59 > S1 87 = S2 87 (per-area 6.73 < 7.18: S1 first) > H1 82.2 > G3 81 > G2 57
    assert [d[i]["ranks"]["province"] for i in ("G1", "S1", "S2", "H1", "G3", "G2")] == [1, 2, 3, 4, 5, 6]
    # peer: G1 1, G2 2 of 2; S1 1, S2 2 of 2; G3 2 of 3 (G1 > G3 > G2); H1 4 of 6 (after G1, S1, S2)
    assert [
        (d[i]["ranks"]["peer"], d[i]["ranks"]["peer_size"]) for i in ("G1", "G2", "S1", "S2", "G3", "H1")
    ] == [(1, 2), (2, 2), (1, 2), (2, 2), (2, 3), (4, 6)]
    # city 320100: G1, H1, G2; 320200: S1, S2; 320300: G3
    assert [d[i]["ranks"]["city"] for i in ("G1", "H1", "G2", "S1", "S2", "G3")] == [1, 2, 3, 1, 2, 1]


def test_cli_table_hash_and_explain(province):
    out, _run = province["runs"][0]
    assert "institutions 7, eligible 2, leaders 0" in out
    # the same data and methodology twice: byte-identical results
    a, b = province["infos"]
    assert (
        a["results_hash"] == b["results_hash"]
        and f"results hash {a['results_hash']}" in province["runs"][1][0]
    )
    g2 = province["explain"]["G2"]
    for y in (
        "scored year 2026",
        "baseline 2025",
        "previous year 2025",
        "year before the previous (two-year annual targets) 2024",
    ):
        assert y in g2
    assert "why: meter data do not cover 2025 (meter G2-e: coverage 0.0849" in g2
    assert "why: no meter usage in 2024: the statistics return is used" in g2
    assert "S1-dorm" in province["explain"]["S1"]
