"""A coefficient may be given per any unit of store.codes.UNITS: scoring and the dashboards' kgce table convert
to it, or the methodology is refused with the reason, before a run.

Seen: a vehicle fuel's coefficient per tonne (GB/T 2589 also gives kgce/t) with its density validated, the
loader kept the litres for the density to convert, and the core knew litres to kilograms only: every
institution with a car lost its fuel from the run ("cannot convert L to the coefficient's unit t") and the
dashboards' kgce table had no factor for litres of it.
"""

from __future__ import annotations

import re

import psycopg
import pytest

from scoring.coal import kgce_per_metered_unit, quantity_in_coef_unit
from scoring.methodology import METHODOLOGY_DIR, MethodologyError, parse_methodology
from scoring.runner import run_scoring
from store import codes
from store.scoring import get_result

SHIPPED = (METHODOLOGY_DIR / "jiangsu-2026.toml").read_text(encoding="utf-8")
YEAR = 2026


def with_coefficient(energy_type: str, unit: str, kgce_per_unit: float, kgco2_per_unit: float) -> str:
    """The shipped methodology with ``energy_type``'s coefficient given per ``unit``."""
    pattern = re.compile(
        rf'(\[coefficients\.{energy_type}\]\nunit = )"[^"]+"(\nkgce_per_unit = )[0-9.]+'
        rf"((?:\n[^\[\n][^\n]*)*?\nkgco2_per_unit = )[0-9.]+"
    )
    text, n = pattern.subn(rf'\g<1>"{unit}"\g<2>{kgce_per_unit}\g<3>{kgco2_per_unit}', SHIPPED)
    assert n == 1, energy_type
    return text


def per_tonne():
    shipped = parse_methodology(SHIPPED).spec.coefficients["gasoline"]
    text = with_coefficient(
        "gasoline", "t", shipped.kgce_per_unit * 1000, shipped.kgco2_per_unit * 1000
    ).replace('name = "jiangsu-2026"', 'name = "jiangsu-2026-per-t"')
    return parse_methodology(text, "per-t.toml"), text


def test_litres_of_a_fuel_per_tonne_convert_through_the_density():
    m, _ = per_tonne()
    shipped = parse_methodology(SHIPPED)
    coef = m.spec.coefficients["gasoline"]
    qc, density = quantity_in_coef_unit(1000.0, "L", coef)
    assert (qc, density) == (pytest.approx(0.73), 0.73)  # 1000 L × 0.73 kg/L = 730 kg = 0.73 t
    assert kgce_per_metered_unit(m)[("gasoline", "L")] == pytest.approx(
        kgce_per_metered_unit(shipped)[("gasoline", "L")]
    )


def test_a_run_scores_litres_of_a_fuel_per_tonne(db_url, tmp_path):
    _, text = per_tonne()
    path = tmp_path / "per-t.toml"
    path.write_text(text, encoding="utf-8")
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone, baseline_year) "
            "VALUES ('v', 'v', 'government', 'city', '320100', 'hot_summer_cold_winter', 2020)"
        )
        conn.execute("INSERT INTO institution_year VALUES ('v', %s, 10000, 200)", (YEAR,))
        for mid, et, unit, end_use, monthly in (
            ("v.e", "electricity", "kWh", "main", 90_000.0),
            ("v.car", "gasoline", "L", "vehicle", 600.0),
        ):
            conn.execute(
                "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at) "
                "VALUES (%s, 'v', %s, %s, 'interval', %s, '2019-12-01+08')",
                (mid, et, unit, end_use),
            )
            conn.execute(
                "INSERT INTO usage_monthly (meter_id, month, consumption) "
                "SELECT %s, make_date(%s, mo, 1), %s FROM generate_series(1, 12) mo",
                (mid, YEAR, monthly),
            )
        runs = {
            name: run_scoring(conn, year=YEAR, methodology_path=p, created_by="test")
            for name, p in (("per_kg", None), ("per_t", path))
        }
        results = {name: get_result(conn, run, "v") for name, run in runs.items()}
    lines = {
        name: {line["energy_type"]: line for line in r["inputs"]["current"]["energy"]}
        for name, r in results.items()
    }
    assert "gasoline" in lines["per_t"], [v["reason"] for v in results["per_t"]["vetoes"]]
    assert lines["per_t"]["gasoline"]["energy_kgce"] == pytest.approx(
        lines["per_kg"]["gasoline"]["energy_kgce"]
    )
    assert lines["per_t"]["gasoline"]["coef_unit"] == "t"


@pytest.mark.parametrize(
    ("energy_type", "unit", "message"),
    [
        # no meter of the type is in a unit that converts to it: every institution would lose the energy type
        ("electricity", "kg", "kg (mass) converts to none of the units electricity is metered in: kWh, MWh"),
        ("natural_gas", "GJ", "GJ (energy) converts to none of the units natural_gas is metered in: m3"),
        ("steam", "L", "L (volume) converts to none of the units steam is metered in: t, kg"),
    ],
)
def test_a_coefficient_no_meter_unit_converts_to_is_refused(energy_type, unit, message):
    with pytest.raises(MethodologyError) as exc:
        parse_methodology(with_coefficient(energy_type, unit, 1.0, 1.0), "m.toml")
    assert f"m.toml:coefficients.{energy_type}.unit: {message}" in exc.value.errors


def test_vehicle_fuel_per_tonne_needs_its_density():
    text = with_coefficient("gasoline", "t", 1471.4, 2925.1)
    text = re.sub(r"\ndensity_kg_per_l = 0\.73\ndensity_source = [^\n]+", "", text, count=1)
    with pytest.raises(MethodologyError) as exc:
        parse_methodology(text, "m.toml")
    assert "m.toml:coefficients.gasoline.density_kg_per_l: required: vehicle fuel is metered in litres" in (
        exc.value.errors
    )


@pytest.mark.parametrize(
    ("energy_type", "unit"),
    [("electricity", "Wh"), ("electricity", "MJ"), ("heat", "kWh"), ("natural_gas", "L")],
)
def test_a_coefficient_in_a_unit_its_meters_convert_to_loads(energy_type, unit):
    """Wh, MJ, L …: a coefficient per any unit of the dimension its energy type is metered in loads, and every
    meter unit of the type converts to it."""
    m = parse_methodology(with_coefficient(energy_type, unit, 1.0, 1.0))
    assert {u for et, u in kgce_per_metered_unit(m) if et == energy_type} == set(
        codes.ENERGY_UNITS[energy_type]
    )
