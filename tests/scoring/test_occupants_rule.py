"""Schools' occupants: the registry says whether students are counted, and scoring follows the methodology's rule."""

from __future__ import annotations

from scoring.compute import score
from scoring.methodology import METHODOLOGY_DIR, parse_methodology
from tests.scoring.conftest import WORKED_BASE

RULE = """
[occupants]
school_students = "included"
source = "test rule"
"""


def test_a_school_counting_staff_only_is_not_compared_with_schools_counting_students(make_example):
    m = parse_methodology(
        WORKED_BASE.read_text(encoding="utf-8").replace("min_size = 5", "min_size = 3") + RULE, "w.toml"
    )
    insts = make_example()
    s1 = next(i for i in insts if i.id == "S1")
    s2 = next(i for i in insts if i.id == "S2")
    s1.students_counted = {2026: "no"}
    s2.students_counted = {2026: "yes"}
    res = {r.institution_id: r for r in score(insts, m, 2026)}
    assert res["S1"].missing_inputs == [
        "occupants for 2026 exclude the students (institution_year.students_counted = no); jiangsu-2026 counts "
        "schools' occupants with students (test rule)"
    ]
    assert not res["S1"].scored
    # stated and matching, or not stated: scored; the explanation carries what the registry says
    assert res["S2"].scored and res["S2"].inputs.current.students_counted == "yes"
    assert res["S3"].scored and res["S3"].inputs.current.students_counted is None
    # government offices are not concerned
    g1 = next(i for i in insts if i.id == "G1")
    g1.students_counted = {2026: "no"}
    assert {r.institution_id: r for r in score(insts, m, 2026)}["G1"].scored


def test_shipped_jiangsu_counts_students():
    m = parse_methodology((METHODOLOGY_DIR / "jiangsu-2026.toml").read_text(encoding="utf-8"), "j.toml")
    assert m.spec.occupants.school_students == "included"


def test_a_baseline_year_on_the_other_basis_is_not_compared(make_example):
    # S1 counts its students in 2026 (1,000 people) but its 2020 row counted staff only (80): per-capita energy
    # would fall by over 90 % and every per-capita target would be met by a change of definition
    m = parse_methodology(
        WORKED_BASE.read_text(encoding="utf-8").replace("min_size = 5", "min_size = 3") + RULE, "w.toml"
    )
    insts = make_example()
    s1 = next(i for i in insts if i.id == "S1")
    s1.years[2020] = (s1.years[2020][0], 80)
    s1.students_counted = {2020: "no", 2026: "yes"}
    r = {x.institution_id: x for x in score(insts, m, 2026)}["S1"]
    why = (
        "occupants for 2020 exclude the students (institution_year.students_counted = no); jiangsu-2026 counts "
        "schools' occupants with students (test rule)"
    )
    assert r.scored
    # the 2020 per-capita figures are set aside: no per-capita change against 2020, and the veto says why
    assert r.inputs.baseline.occupants is None and why in r.inputs.baseline.source_reason
    ch = {i.code: i.value for i in r.indicators}
    assert (
        ch["capita_energy_kgce_change_baseline_pct"] is None
        and ch["capita_water_m3_change_baseline_pct"] is None
    )
    assert ch["area_energy_kgce_m2_change_baseline_pct"] is not None
    assert ("missing_statistics", why) in [(v.code, v.reason) for v in r.vetoes]
    assert not r.eligible
