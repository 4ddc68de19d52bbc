"""Methodology files: the shipped ones load; a broken one reports every error as file:key: message."""

from __future__ import annotations

import hashlib

import pytest

from scoring.compute import score
from scoring.methodology import (
    METHODOLOGY_DIR,
    MethodologyError,
    default_for_year,
    load_methodology,
    parse_methodology,
)
from tests.scoring.conftest import WORKED_BASE


def jiangsu_text() -> str:
    """jiangsu-2026 1.0.0 as first shipped: the broken-file test edits its exact text."""
    return WORKED_BASE.read_text(encoding="utf-8")


def test_shipped_methodologies_load_and_are_identified_by_hash():
    j = load_methodology()
    assert (j.name, j.version) == ("jiangsu-2026", "2.0.0")
    assert j.hash == hashlib.sha256((METHODOLOGY_DIR / "jiangsu-2026.toml").read_bytes()).hexdigest()
    assert sum(b.points for b in j.spec.blocks if b.kind != "bonus") == 100
    assert sum(b.points for b in j.spec.blocks if b.kind == "bonus") == 10
    assert j.spec.eligibility.threshold == 85
    assert {i.code for i in j.items.values() if i.star} == {"mgmt_organisation", "mgmt_statistics"}
    assert all(c.basis == "当量值" and c.source for c in j.spec.coefficients.values())
    assert j.spec.coefficients["gasoline"].density_kg_per_l == 0.73
    assert j.spec.coefficients["diesel"].density_kg_per_l == 0.86
    p = load_methodology("peer-only-2026")
    assert p.name == "peer-only-2026" and p.hash != j.hash
    assert load_methodology(METHODOLOGY_DIR / "jiangsu-2026.toml").hash == j.hash


def test_plan_periods_baselines_and_the_national_split():
    j25, j26, n26 = (load_methodology(n) for n in ("jiangsu-2025", "jiangsu-2026", "national-2026"))
    assert (j25.spec.plan.first_year, j25.spec.plan.last_year, j25.spec.plan.baseline_year) == (
        2021,
        2025,
        2020,
    )
    assert (j26.spec.plan.first_year, j26.spec.plan.last_year, j26.spec.plan.baseline_year) == (
        2026,
        2030,
        2025,
    )
    assert j26.spec.methodology.default_baseline_year == 2025 and n26.spec.plan == j26.spec.plan
    # the Jiangsu 14th-plan targets, and the 15th-plan placeholders marked as awaiting sign-off
    assert [(t.indicator, t.reduction_pct) for t in j25.spec.targets] == [
        ("capita_energy_kgce", 7.0),
        ("area_energy_kgce_m2", 6.0),
        ("capita_water_m3", 7.0),
        ("area_carbon_kgco2_m2", 7.0),
    ]
    assert all("LOCAL CHOICE awaiting sign-off" in t.source for t in j26.spec.targets)
    assert j26.spec.annual.years == 2 and len(j26.spec.annual_targets) == 4
    # exactly the national evaluation's 35 / 29 / 20 / 9 / 7 (+10)
    parts: dict[str, float] = {}
    for b in n26.spec.blocks:
        parts[b.maps_to] = parts.get(b.maps_to, 0) + b.points
    assert parts == {"35": 35, "29": 29, "20": 20, "9": 9, "7": 7, "+10": 10}
    assert all(b.maps_to for b in j26.spec.blocks)
    # a year outside the plan period is refused; without a name, the year picks its plan's methodology
    with pytest.raises(ValueError, match="jiangsu-2026 scores 2026-2030"):
        j26.check_year(2025)
    assert (default_for_year(2025), default_for_year(2026), default_for_year(2030)) == (
        "jiangsu-2025",
        "jiangsu-2026",
        "jiangsu-2026",
    )
    assert load_methodology(year=2024).name == "jiangsu-2025"
    # carbon factors carry their year and scope; per-area carbon leaves vehicle fuel out, and says so
    e = j26.spec.coefficients["electricity"]
    assert (e.carbon_factor_year, e.carbon_factor_scope) == (
        2022,
        "national",
    ) and "provincial" in e.carbon_source
    assert j26.spec.carbon.vehicle_fuel == "excluded"
    assert j26.spec.occupants.school_students == "included"
    assert "LOCAL CHOICE" in j26.spec.leader.source


def test_every_error_is_named_with_file_and_key():
    text = jiangsu_text()
    broken = (
        text.replace('name = "jiangsu-2026"', 'name = "Jiangsu 2026"')  # 1 bad name pattern
        .replace("kgce_per_unit = 0.1229", "kgce_per_unit = -0.1229")  # 2 negative coefficient
        .replace(
            'basis = "当量值"\nsource = "GB/T 2589-2020 附录A: 原煤',
            'basis = "等价值"\nsource = "GB/T 2589-2020 附录A: 原煤',
        )  # 3 mixed basis
        .replace("density_kg_per_l = 0.86\n", "")  # 4 diesel without density
        .replace("min_size = 5", "min_size = 0")  # 5 min_size < 1
        .replace(
            'indicator = "capita_water_m3"\n\n[[blocks]]\ncode = "reduction"',
            'indicator = "water_per_tree"\n\n[[blocks]]\ncode = "reduction"',
        )  # 6 unknown indicator
        .replace('points = 5\nmethod = "indicator"', 'points = 6\nmethod = "indicator"')  # 7 base adds to 101
        .replace("threshold = 85.0", "threshold = 85.0\nthreshhold = 80")  # 8 unknown key (typo)
    )
    broken += """
[[quotas]]
peer_group = "government:province:cold"
indicator = "area_energy_kgce_m2"
advanced = 20.0
constraint = 12.0
source = "typo test"
"""  # 9 advanced above constraint
    with pytest.raises(MethodologyError) as ei:
        parse_methodology(broken, "bad.toml")
    errs = ei.value.errors
    # schema errors are reported together first (pydantic), each with its key
    assert any(e.startswith("bad.toml:methodology.name: ") for e in errs)
    assert any(e.startswith("bad.toml:coefficients.electricity.kgce_per_unit: ") for e in errs)
    assert any(e.startswith("bad.toml:peers.min_size: ") for e in errs)
    assert any(e.startswith("bad.toml:eligibility.threshhold: ") and "Extra inputs" in e for e in errs)
    assert len(errs) == 4, errs
    # once the schema is right, the semantic checks report every remaining problem together
    fixed = (
        broken.replace('name = "Jiangsu 2026"', 'name = "jiangsu-2026"')
        .replace("kgce_per_unit = -0.1229", "kgce_per_unit = 0.1229")
        .replace("min_size = 0", "min_size = 5")
        .replace("threshhold = 80", "")
    )
    with pytest.raises(MethodologyError) as ei:
        parse_methodology(fixed, "bad.toml")
    errs = ei.value.errors
    assert (
        "bad.toml:coefficients.coal.basis: 等价值 mixed with methodology.energy_basis 当量值 (GB/T 2589: one basis per run)"
        in errs
    )
    assert (
        "bad.toml:coefficients.diesel.density_kg_per_l: required: vehicle fuel is metered in litres" in errs
    )
    assert "bad.toml:blocks[2].indicator: unknown indicator 'water_per_tree'" in errs
    assert "bad.toml:blocks: measured and assessed blocks add to 101, base_points is 100" in errs
    assert "bad.toml:quotas[0]: advanced (20) must be below constraint (12)" in errs
    assert len(errs) == 5, errs
    assert str(ei.value).count("\n") == 5


def test_toml_syntax_and_missing_file(tmp_path):
    with pytest.raises(MethodologyError) as ei:
        parse_methodology("[methodology\nname =", "x.toml")
    assert ei.value.errors[0].startswith("x.toml:(toml): ")
    with pytest.raises(MethodologyError) as ei:
        load_methodology(tmp_path / "nope.toml")
    assert ei.value.errors[0].startswith(f"{tmp_path / 'nope.toml'}:(file): ")
    with pytest.raises(MethodologyError) as ei:
        parse_methodology('[methodology]\nname = "x"\n', "y.toml")
    keys = {e.split(":")[1] for e in ei.value.errors}
    assert {
        "methodology.version",
        "coefficients",
        "peers",
        "blocks",
        "vetoes",
        "eligibility",
        "leader",
        "ranking",
    } <= keys


def test_assessed_item_check():
    m = load_methodology()
    m.check_assessed_item("mgmt_rules", 5)
    with pytest.raises(ValueError, match="between 0 and 5"):
        m.check_assessed_item("mgmt_rules", 6)
    with pytest.raises(ValueError, match="unknown assessed item"):
        m.check_assessed_item("nope", 1)


def test_peer_only_methodology_scores_the_same_data_differently(example_inputs):
    res = {r.institution_id: r for r in score(example_inputs, load_methodology("peer-only-2026"), 2026)}
    g1 = res["G1"]
    assert [b.code for b in g1.blocks] == ["area_energy", "capita_energy", "capita_water", "data_quality"]
    assert all(b.method in ("peer_percentile", "coverage") for b in g1.blocks)
    # groups are category × zone: 3 governments and 3 schools, both reach min_size 3
    assert g1.peer_group.key == "government:hot_summer_cold_winter" and g1.peer_group.fallback == []
    # no targets, no ★ items: G2's missed targets and S1's missing ★ item are not vetoes here
    assert res["G2"].vetoes == [] and res["S1"].vetoes == []
    # G1: area 1st of 3 → 40; capita energy 2nd → 15; water 2nd → 10; quality 10 → 75
    assert g1.total_points == pytest.approx(75)
    assert g1.leader is False and g1.leader_reason == "no leader rule in this methodology"
