"""A report's monthly energy adds up to the energy its run scored, whatever units the meters are in.

Seen: the report's monthly series summed ``usage_monthly`` per energy type across meters of different units
and applied the run's kgce per unit of one of them, so an institution with its main electricity meter in kWh
and its own-supply feeder in MWh showed a thousandth of the feeder's energy (and a kWh sub-meter deducted
from an MWh main meter a thousand times over); with one fuel metered both in litres and in kilograms, one
line's factor stood for both.
"""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from scoring.runner import run_scoring
from store import api_keys

YEAR = 2026
# id, energy type, unit, end use, parent, accounting, monthly use
METERS = [
    ("u.e", "electricity", "kWh", "main", None, None, 90_000.0),
    ("u.dorm", "electricity", "kWh", "lighting_sockets", "u.e", "excluded_area", 12_000.0),
    ("u.dc", "electricity", "MWh", "special", None, "own_supply", 15.0),
    ("u.annex", "electricity", "MWh", "main", None, None, 20.0),
    ("u.annex-dorm", "electricity", "kWh", "hvac", "u.annex", "excluded_area", 3_000.0),
    ("u.gas", "natural_gas", "m3", "main", None, None, 4_000.0),
    ("u.car", "gasoline", "L", "vehicle", None, None, 600.0),
    ("u.truck", "gasoline", "kg", "vehicle", None, None, 300.0),
]


@pytest.fixture
def report(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone, baseline_year) "
            "VALUES ('u', 'u', 'government', 'city', '320100', 'hot_summer_cold_winter', 2020)"
        )
        conn.execute("INSERT INTO institution_year VALUES ('u', %s, 10000, 200)", (YEAR,))
        for mid, et, unit, end_use, parent, accounting, monthly in METERS:
            conn.execute(
                "INSERT INTO meter (id, institution_id, name, energy_type, unit, register, end_use, parent_meter_id, "
                "accounting, installed_at) VALUES (%s, 'u', %s, %s, %s, 'interval', %s, %s, %s, '2019-12-01+08')",
                (mid, mid, et, unit, end_use, parent, accounting),
            )
            conn.execute(
                "INSERT INTO usage_monthly (meter_id, month, consumption) "
                "SELECT %s, make_date(%s, mo, 1), %s FROM generate_series(1, 12) mo",
                (mid, YEAR, monthly),
            )
        run_scoring(conn, year=YEAR, created_by="test")
        _, token = api_keys.create_key(conn, name="test", role="admin")
        conn.commit()
    app = create_app(
        ApiConfig(database_url=db_url, timezone="Asia/Shanghai", pool_min_size=1, pool_max_size=2)
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/v1/institutions/u/report", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_monthly_energy_adds_up_to_the_runs(report):
    lines = report["result"]["inputs"]["current"]["energy"]
    # every meter's use entered the run (no line is missing for want of a conversion)
    assert sorted({mid for line in lines for mid in line["meter_ids"]}) == sorted(
        m[0] for m in METERS if m[5] is None or m[5] == "own_supply"
    )
    scored = sum(line["energy_kgce"] for line in lines)
    months = [m["energy_kgce"] for m in report["monthly_energy"]]
    assert all(m is not None for m in months)
    assert sum(months) == pytest.approx(scored, rel=1e-9)
    # every month is a twelfth of the year: the same use each month
    assert months == pytest.approx([scored / 12] * 12, rel=1e-9)
    assert "未折算" not in report["monthly_energy_note"]
