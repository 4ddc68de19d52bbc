"""The dashboards convert to standard coal with the coefficients of the methodology the deployment scores
with (dashboards.sql.deployment_methodology), never with figures of their own: a changed coefficient changes
the generated SQL, so `jieneng dashboards build --check` fails until Grafana's dashboards are rebuilt."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from dashboards import sql
from scoring.coal import energy_kgce, quantity_in_coef_unit
from scoring.methodology import DEFAULT_METHODOLOGY, METHODOLOGY_DIR, load_methodology, parse_methodology
from store.codes import conversion_factor

ROOT = Path(__file__).resolve().parents[2]


def _with_electricity(kgce_per_kwh: str):
    text = (METHODOLOGY_DIR / f"{DEFAULT_METHODOLOGY}.toml").read_text(encoding="utf-8")
    changed = text.replace("kgce_per_unit = 0.1229\n", f"kgce_per_unit = {kgce_per_kwh}\n", 1)
    assert changed != text, "the default methodology's electricity coefficient moved: update this test"
    return parse_methodology(changed)


def test_a_changed_coefficient_changes_the_kgce_sql():
    default = sql.kgce_values()
    changed = sql.kgce_values(_with_electricity("0.3"))
    assert changed != default
    assert "('electricity', 'kWh', 0.3::float8)" in changed
    assert "('electricity', 'MWh', 300.0::float8)" in changed
    assert "('electricity', 'kWh', 0.1229::float8)" in default


def test_the_generated_dashboard_sql_follows_the_methodology(monkeypatch):
    """Build the dashboards with another coefficient: every kgce join carries it."""
    from dashboards import build, institution, province

    monkeypatch.setattr(sql, "deployment_methodology", lambda: _with_electricity("0.3"))
    try:
        for mod in (province, institution):
            importlib.reload(mod)
        text = json.dumps([province.build(), institution.build()], ensure_ascii=False)
    finally:
        monkeypatch.undo()
        for mod in (province, institution):
            importlib.reload(mod)
        importlib.reload(build)
    assert "('electricity', 'kWh', 0.3::float8)" in text
    assert "('electricity', 'kWh', 0.1229::float8)" not in text
    committed = (ROOT / "dashboards/generated/jieneng-province.json").read_text(encoding="utf-8")
    assert "('electricity', 'kWh', 0.1229::float8)" in committed


def test_the_dashboards_factors_are_the_ones_scoring_converts_with():
    m = load_methodology()
    table = sql.kgce_table()
    assert {e for e, _u in table} == set(m.spec.coefficients)
    for (energy_type, unit), factor in table.items():
        coef = m.spec.coefficients[energy_type]
        if unit == "L" and coef.unit == "kg":
            qty, _density = quantity_in_coef_unit(1.0, unit, coef)
        else:
            qty = conversion_factor(unit, coef.unit)
        assert factor == pytest.approx(energy_kgce(qty, coef), rel=1e-12), (energy_type, unit)


def test_no_coefficient_is_written_in_the_dashboards():
    """One home for the figures: the methodology files. No dashboards module spells a coefficient."""
    m = load_methodology()
    figures = {repr(c.kgce_per_unit) for c in m.spec.coefficients.values()}
    hits = []
    for path in sorted((ROOT / "dashboards").glob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if set(re.findall(r"\d+\.\d+", line)) & figures:
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "coefficients written into dashboards code:\n" + "\n".join(hits)
