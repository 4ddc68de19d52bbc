"""Runs against real PostgreSQL: load, score, store, read back, explain; determinism; scoping; assessed items."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from scoring.compute import score
from scoring.model import InstitutionResult, RunInfo
from scoring.runner import compute_results, run_scoring
from store import assessed as A
from store import scoring as S


def test_run_from_database_matches_the_hand_worked_example(example_db, worked_file, example_inputs, worked):
    with psycopg.connect(example_db) as conn:
        run_id = run_scoring(conn, year=2026, methodology_path=worked_file, created_by="tester")
        rows = {r["institution_id"]: r for r in S.list_results(conn, run_id)}
        info = RunInfo.model_validate(S.get_run(conn, run_id))
        detail = InstitutionResult.model_validate(S.get_result(conn, run_id, "G3"))
    expected = {r.institution_id: r for r in score(example_inputs, worked, 2026)}
    assert info.institutions == 7 and info.eligible == 3 and info.leaders == 1 and info.created_by == "tester"
    for iid, e in expected.items():
        row = rows[iid]
        if e.total_points is None:
            assert row["total_points"] is None
        else:
            assert row["total_points"] == pytest.approx(e.total_points, abs=1e-6)
        assert (row["rank_province"], row["rank_peer"], row["rank_city"]) == (
            e.ranks.province,
            e.ranks.peer,
            e.ranks.city,
        )
        assert (row["eligible"], row["leader"]) == (e.eligible, e.leader)
    # loaded from the database: the monthly rows add up, the sub-meter is left out, quality comes from readings
    assert detail.inputs.current.total_energy_kgce == pytest.approx(175_185.198)
    cov = {m.meter_id: m.coverage for m in detail.inputs.meters}
    assert cov["G3-e"] == pytest.approx(0.95) and cov["G3-hvac"] is None
    assert [r for r in rows.values() if r["rank_province"] == 1][0]["institution_id"] == "G1"


def test_same_data_same_bytes(example_db):
    with psycopg.connect(example_db) as conn:
        a = run_scoring(conn, year=2026, created_by="a")
        b = run_scoring(conn, year=2026, created_by="b")
        ra, rb = S.get_run(conn, a, with_methodology_text=True), S.get_run(conn, b)
        assert ra["results_hash"] == rb["results_hash"]
        assert S.result_details(conn, a) == S.result_details(conn, b)
        assert ra["methodology_name"] == "jiangsu-2026" and "[methodology]" in ra["methodology_text"]
        # a changed assessed item changes the hash
        A.set_assessed_item(conn, "S2", 2026, "bonus_honours", 5, "省级节能荣誉证书", "assessor-2")
        c = run_scoring(conn, year=2026, created_by="c")
        assert S.get_run(conn, c)["results_hash"] != ra["results_hash"]
        assert S.latest_run_id(conn, 2026) == c
        assert [r["id"] for r in S.list_runs(conn, 2026)] == [c, b, a]


def test_region_run_and_scoped_reads(example_db):
    with psycopg.connect(example_db) as conn:
        run_id = run_scoring(conn, year=2026, region_code="320200", created_by="city")
        ids = [r["institution_id"] for r in S.list_results(conn, run_id)]
        assert sorted(ids) == ["G3", "S2", "S3"]
        assert (
            S.latest_run_id(conn, 2026) is None
            and S.latest_run_id(conn, 2026, region_code="320200") == run_id
        )
        full = run_scoring(conn, year=2026, created_by="province")
        assert {r["institution_id"] for r in S.list_results(conn, full, region_codes=["320100"])} == {
            "G1",
            "G2",
            "S1",
            "X1",
        }
        assert S.get_result(conn, full, "G1", region_codes=["320200"]) is None
        assert S.get_result(conn, full, "G1", region_codes=["320100"])["institution_id"] == "G1"
        assert S.get_run(conn, full, institution_id="G1")["institutions"] == 1
        assert [r["id"] for r in S.list_runs(conn, 2026, region_codes=["320100"])] == [full]
        with pytest.raises(ValueError, match="unknown region"):
            run_scoring(conn, year=2026, region_code="999999", created_by="x")


def test_missing_inputs_make_institutions_ineligible_not_crash(example_db, worked):
    with psycopg.connect(example_db) as conn:
        # G1 loses its water meter's readings (coverage 0 < 0.9); S1 loses its main electricity meter
        conn.execute("DELETE FROM reading WHERE meter_id = 'G1-w'")
        conn.execute("UPDATE meter SET parent_meter_id = NULL WHERE id = 'S1-hvac'")
        conn.execute("DELETE FROM usage_monthly WHERE meter_id = 'S1-e'")
        conn.execute("DELETE FROM reading WHERE meter_id = 'S1-e'")
        conn.execute("DELETE FROM meter WHERE id = 'S1-e'")
        # S2 has no occupants figure for 2026 (registry row removed)
        conn.execute("DELETE FROM institution_year WHERE institution_id = 'S2' AND year = 2026")
        conn.commit()
        res = {r.institution_id: r for r in compute_results(conn, worked, year=2026)}
    assert res["G1"].missing_inputs == ["meter G1-w: coverage 0 below the minimum 0.9"]
    # its HVAC sub-meter, left without a parent, feeds nothing: named, never dropped silently
    assert res["S1"].missing_inputs == [
        "meter S1-hvac (hvac sub-meter) has no parent meter and is not marked own_supply: its use is counted "
        "nowhere, so the totals may be incomplete (set parent_meter_id, or accounting = own_supply)",
        "no main electricity meter",
    ]
    assert res["S2"].missing_inputs == ["no floor area / occupants for 2026 (institution_year)"]
    for iid in ("G1", "S1", "S2", "X1"):
        assert not res[iid].scored and not res[iid].eligible and res[iid].ranks.province is None
        assert "missing_statistics" in {v.code for v in res[iid].vetoes}
    assert sorted(r.ranks.province for r in res.values() if r.scored) == [1, 2, 3]


def test_unconvertible_usage_is_named(example_db, worked):
    with psycopg.connect(example_db) as conn:
        conn.execute(
            """INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at)
               VALUES ('G1-o', 'G1', 'other', 'kWh', 'interval', 'main', '2019-01-01T00:00:00+08:00')"""
        )
        conn.execute("INSERT INTO usage_monthly VALUES ('G1-o', '2026-03-01', 100)")
        res = {r.institution_id: r for r in compute_results(conn, worked, year=2026)}
    assert not res["G1"].scored
    assert any("other" in s and "no coefficient" in s for s in res["G1"].missing_inputs)


def test_assessed_items_with_audit(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute("""INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone)
                        VALUES ('A1', 'a', 'government', 'city', '320100', 'hot_summer_cold_winter')""")
        old, new = A.set_assessed_item(conn, "A1", 2026, "mgmt_rules", 4, "doc-1", "alice")
        assert old is None and new["points"] == 4 and new["entered_by"] == "alice"
        old, new = A.set_assessed_item(conn, "A1", 2026, "mgmt_rules", 5, "doc-2", "bob")
        assert (old["points"], old["evidence"], new["points"], new["evidence"]) == (4, "doc-1", 5, "doc-2")
        old, new = A.set_assessed_item(conn, "A1", 2026, "mgmt_rules", None, None, "carol")
        assert old["points"] == 5 and new is None
        assert A.list_assessed_items(conn, "A1", 2026) == []
        audit = A.list_assessed_audit(conn, "A1", 2026)
        assert [(a["old_points"], a["new_points"], a["changed_by"]) for a in audit] == [
            (None, 4, "alice"),
            (4, 5, "bob"),
            (5, None, "carol"),
        ]
        assert A.list_assessed_audit(conn, "A1", 2026, region_codes=["320200"]) == []
        A.set_assessed_item(conn, "A1", 2026, "mgmt_organisation", 5, "doc-3", "alice")
        assert [i["item_code"] for i in A.list_assessed_items(conn, region_codes=["320000"])] == [
            "mgmt_organisation"
        ]


def test_cli_scores_and_explains(example_db, worked_file):
    from jieneng.cli import app

    env = {"JIENENG_DATABASE_URL": example_db}
    runner = CliRunner()
    out = runner.invoke(
        app, ["score", "--year", "2026", "--methodology", str(worked_file), "--by", "cli-test"], env=env
    )
    assert out.exit_code == 0, out.output
    assert "G1" in out.output and "eligible 3, leaders 1" in out.output
    run_id = int(out.output.strip().splitlines()[-1].split()[-1])
    ex = runner.invoke(app, ["score", "--explain", "S3", "--run", str(run_id)], env=env)
    assert ex.exit_code == 0, ex.output
    assert "quota_exceeded" in ex.output and "20.9762" in ex.output
    assert "area_energy_kgce_m2 (单位建筑面积能耗) = 20.9762 kgce/m²" in ex.output
    assert "RANKS peer 3/3, city 3/3, province 5/6" in ex.output
    # every year it used, where its figures came from and why
    assert "scored year 2026:" in ex.output and "baseline 2020:" in ex.output
    assert "why: meter data cover 2026: main electricity and water metered" in ex.output
    assert "why: meter data cover 2020" in ex.output
    assert (
        "previous year: none (no registry row, no meter usage and no statistics return for that year)"
        in ex.output
    )
    # a year outside the methodology's plan period is refused with the reason
    plan = runner.invoke(app, ["score", "--year", "2025", "--methodology", "jiangsu-2026"], env=env)
    assert plan.exit_code != 0 and "jiangsu-2026 scores 2026-2030" in plan.output
    missing = runner.invoke(app, ["score", "--explain", "NOPE", "--run", str(run_id)], env=env)
    assert missing.exit_code == 1 and "no result for NOPE" in missing.output
    bad = worked_file.parent / "bad.toml"
    bad.write_text(
        worked_file.read_text(encoding="utf-8").replace("threshold = 85.0", "threshold = -1"),
        encoding="utf-8",
    )
    err = runner.invoke(app, ["score", "--year", "2026", "--methodology", str(bad)], env=env)
    assert err.exit_code == 2 and f"{bad}:eligibility.threshold:" in err.output
