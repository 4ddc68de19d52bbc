"""Grafana sums the meters the ranking sums, and "by city" sums a county into its city.

Seen: the dashboards summed every meter without a parent and deducted nothing, so an institution with a
dormitory on its own sub-meter (excluded floor area) or a data centre on its own feeder showed another
kgce/m² than the run ranked it by; and the city variable matched ``region_code`` exactly, so an institution
registered in a county of the chosen city was missing from the institution list, the ranking and its city's
figures. Both rules now have one home each (store/totals.py, store/regions.py) that scoring and the
dashboards embed; this test compares the dashboards' figures with a stored scoring run's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from dashboards import build
from dashboards.macros import ALL, expand
from scoring.model import InstitutionResult
from scoring.runner import run_scoring
from store.scoring import get_result

YEAR = 2026
# The dashboard range: local 1 January to local 30 November of YEAR (the months seeded below).
T_FROM = datetime(YEAR, 1, 1, tzinfo=UTC) - timedelta(hours=8)
T_TO = datetime(YEAR, 12, 1, tzinfo=UTC) - timedelta(hours=8) - timedelta(seconds=1)
DAYS = 334  # 1 January to 30 November

COUNTY = ("320115", "江宁区", "county", "320100")
# id, institution, energy type, unit, end use, parent, accounting, daily use
METERS = [
    ("c.e", "c", "electricity", "kWh", "main", None, None, 3000.0),
    ("c.hvac", "c", "electricity", "kWh", "hvac", "c.e", None, 900.0),  # part of c.e: adds nothing
    ("c.dorm", "c", "electricity", "kWh", "lighting_sockets", "c.e", "excluded_area", 400.0),  # deducted
    # inside the dormitory's meter, itself excluded: already in c.dorm's deduction
    ("c.dorm-ac", "c", "electricity", "kWh", "hvac", "c.dorm", "excluded_area", 150.0),
    ("c.dc", "c", "electricity", "MWh", "special", None, "own_supply", 0.5),  # own feeder: counted
    ("c.gas", "c", "natural_gas", "m3", "main", None, None, 100.0),
    ("c.car", "c", "gasoline", "L", "vehicle", None, None, 20.0),
    ("c.w", "c", "water", "m3", "main", None, None, 50.0),
    ("c.dorm-w", "c", "water", "L", "main", "c.w", "excluded_area", 8000.0),  # 8 m³ a day deducted
    ("n.e", "n", "electricity", "kWh", "main", None, None, 2000.0),
    ("n.w", "n", "water", "m3", "main", None, None, 30.0),
]
INSTITUTIONS = [
    # id, name, region, floor area, occupants
    ("c", "南京市某局", "320100", 12000.0, 300),
    ("n", "江宁区机关事务中心", "320115", 8000.0, 200),  # registered under a county of 南京
]

DASHBOARDS = {d["uid"]: d for d in build.dashboards()}


def _panel_sql(uid: str, title_prefix: str) -> str:
    p = next(p for p in DASHBOARDS[uid]["panels"] if p["title"].startswith(title_prefix))
    return p["targets"][0]["rawSql"]


@pytest.fixture
def county_db(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO region (code, name, level, parent_code) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            COUNTY,
        )
        for iid, name, region, area, occ in INSTITUTIONS:
            conn.execute(
                "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone, baseline_year) "
                "VALUES (%s, %s, 'government', 'county', %s, 'hot_summer_cold_winter', 2020)",
                (iid, name, region),
            )
            conn.execute(
                "INSERT INTO institution_year (institution_id, year, floor_area_m2, occupants) VALUES (%s, %s, %s, %s)",
                (iid, YEAR, area, occ),
            )
        for mid, iid, et, unit, end_use, parent, accounting, daily in METERS:
            conn.execute(
                "INSERT INTO meter (id, institution_id, name, energy_type, unit, register, end_use, parent_meter_id, "
                "accounting, installed_at) VALUES (%s, %s, %s, %s, %s, 'interval', %s, %s, %s, '2019-12-01+08')",
                (mid, iid, mid, et, unit, end_use, parent, accounting),
            )
            conn.execute(
                "INSERT INTO usage_daily (meter_id, day, consumption) "
                "SELECT %s, d::date, %s FROM generate_series(%s::date, %s::date, interval '1 day') d",
                (mid, daily, f"{YEAR}-01-01", f"{YEAR}-11-30"),
            )
            conn.execute(
                "INSERT INTO usage_monthly (meter_id, month, consumption) "
                "SELECT meter_id, date_trunc('month', day)::date, sum(consumption) FROM usage_daily "
                "WHERE meter_id = %s GROUP BY 1, 2",
                (mid,),
            )
        run_id = run_scoring(conn, year=YEAR, created_by="test")
        conn.commit()
    yield db_url, run_id


def _result(conn, run_id: int, institution_id: str) -> InstitutionResult:
    return InstitutionResult.model_validate(get_result(conn, run_id, institution_id))


def _indicator(result, code: str) -> float:
    return next(i.value for i in result.indicators if i.code == code)


def test_institution_intensity_is_the_runs(county_db, grafana):
    url, run_id = county_db
    with psycopg.connect(url, autocommit=True) as conn:
        result = _result(conn, run_id, "c")
        conn.execute("SET ROLE jieneng_grafana")
        d = DASHBOARDS["jieneng-institution"]
        state = {"region": ["320100"], "institution": ["c"], "meter": ALL}
        variables = grafana.resolve(conn, d, state, T_FROM, T_TO, timedelta(days=1))
        sql = expand(_panel_sql("jieneng-institution", "单位面积"), variables, time_from=T_FROM, time_to=T_TO)
        cols, rows = grafana.run(conn, sql)
    (row,) = rows
    # by hand: electricity 3000 − 400 + 500 = 3100 kWh a day (c.hvac and c.dorm-ac add nothing), gas 100 m³,
    # petrol 20 L (per person only), water 50 − 8 = 42 m³
    assert result is not None
    elec = next(e for e in result.inputs.current.energy if e.energy_type == "electricity")
    assert elec.quantity == pytest.approx(3100 * DAYS)
    assert result.inputs.current.water_m3 == pytest.approx(42 * DAYS)
    for col, code in (
        ("单位面积能耗 kgce/m²", "area_energy_kgce_m2"),
        ("人均能耗 kgce/person", "capita_energy_kgce"),
        ("人均用水 m³/person", "capita_water_m3"),
    ):
        # a run stores its figures to 6 decimals (scoring/numbers.py)
        assert row[cols.index(col)] == pytest.approx(_indicator(result, code), abs=1e-6), col


def test_by_city_sums_a_county_into_its_city(county_db, grafana):
    url, run_id = county_db
    with psycopg.connect(url, autocommit=True) as conn:
        results = {i: _result(conn, run_id, i) for i in ("c", "n")}
        conn.execute("SET ROLE jieneng_grafana")
        d = DASHBOARDS["jieneng-province"]
        all_cities = grafana.resolve(conn, d, {"region": ALL}, T_FROM, T_TO, timedelta(days=1))
        cols, by_city = grafana.run(
            conn,
            expand(
                _panel_sql("jieneng-province", "各市能耗强度"), all_cities, time_from=T_FROM, time_to=T_TO
            ),
        )
    # one row for 南京市, holding both institutions: building energy over both floor areas
    assert [r[0] for r in by_city].count("江宁区") == 0
    (row,) = [r for r in by_city if r[0] == "南京市"]
    building = sum(
        _indicator(results[i], "area_energy_kgce_m2") * area for i, _n, _r, area, _o in INSTITUTIONS
    )
    assert row[cols.index("单位面积能耗 kgce/m²")] == pytest.approx(building / 20000.0, abs=1e-5)
