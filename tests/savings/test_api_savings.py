"""Savings API: scoped like every other router (401, 403 outside scope, 404), JSON, CSV and the workbook."""

from __future__ import annotations

import csv as _csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from store import api_keys
from store.registry import import_files

from .synthetic import building

TZ = ZoneInfo("Asia/Shanghai")
HEADER = (
    "id,institution_id,kind,name,energy_types,meter_ids,baseline_from,baseline_to,install_from,install_to,"
    "reporting_from,reporting_to,description,contract_ref,prices"
)


@pytest.fixture
def env(db_url):
    with psycopg.connect(db_url) as c:
        import_files(
            c,
            [
                (
                    "institutions.csv",
                    b"id,name,category,sub_kind,admin_level,region_code,climate_zone\n"
                    b"b1,Nanjing office,government,,city,320100,hot_summer_cold_winter\n"
                    b"b2,Suzhou office,government,,city,320500,hot_summer_cold_winter\n",
                ),
                (
                    "meters.csv",
                    b"id,institution_id,energy_type,unit,register,end_use,installed_at\n"
                    b"b1.e,b1,electricity,kWh,cumulative,main,2024-01-01\n",
                ),
                (
                    "projects.csv",
                    (
                        f"{HEADER}\np1,b1,trusteeship,托管,electricity,,2025-01-01,2025-12-31,2026-01-01,"
                        "2026-01-31,2026-02-01,2026-11-30,,T-9,\n"
                    ).encode(),
                ),
            ],
            TZ,
        )
        temp, metered, _w, _cf = building(
            3, dt.date(2025, 1, 1), dt.date(2026, 11, 30), dt.date(2026, 2, 1), 0.1
        )
        with c.cursor() as cur:
            cur.executemany(
                "INSERT INTO weather_daily (region_code, day, mean_temp_c) VALUES ('320100', %s, %s)",
                list(temp.items()),
            )
            with cur.copy("COPY usage_hourly (meter_id, hour, consumption) FROM STDIN") as cp:
                for d, v in metered.items():
                    t0 = dt.datetime(d.year, d.month, d.day, tzinfo=TZ)
                    for h in range(24):
                        cp.write_row(("b1.e", t0 + dt.timedelta(hours=h), v / 24))
        tokens = {}
        for label, kw in {
            "admin": dict(role="admin"),
            "city_nj": dict(role="city_assessor", region_code="320100"),
            "city_sz": dict(role="city_assessor", region_code="320500"),
            "inst_b1": dict(role="institution", institution_id="b1"),
            "inst_b2": dict(role="institution", institution_id="b2"),
        }.items():
            tokens[label] = api_keys.create_key(c, name=label, **kw)[1]
        c.commit()
    app = create_app(
        ApiConfig(database_url=db_url, timezone="Asia/Shanghai", pool_min_size=1, pool_max_size=2)
    )
    with TestClient(app, raise_server_exceptions=False) as client:

        def call(method, who, path, **kw):
            h = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
            return client.request(method, path, headers=h, **kw)

        yield call


def test_scope_and_savings(env):
    assert env("GET", None, "/v1/projects").status_code == 401
    assert env("GET", "city_sz", "/v1/projects/p1").status_code == 403
    assert env("GET", "inst_b2", "/v1/projects/p1").status_code == 403
    assert env("GET", "admin", "/v1/projects/nope").status_code == 404
    assert env("GET", "city_sz", "/v1/projects").json() == []
    assert env("POST", "inst_b1", "/v1/projects/p1/savings").status_code == 403
    assert env("POST", "city_sz", "/v1/projects/p1/savings").status_code == 403
    before = env("GET", "inst_b1", "/v1/projects/p1").json()
    assert before["savings"] == [] and before["kind"] == "trusteeship"
    r = env("POST", "city_nj", "/v1/projects/p1/savings", params={"as_of": "2026-12-01"})
    assert r.status_code == 200, r.text
    s = r.json()["savings"][0]
    assert s["status"] == "ok" and s["reporting_days"] == 303
    assert 0.05 < s["avoided_share"] < 0.15
    assert s["avoided_kgce_uncertainty"] == pytest.approx(s["avoided_uncertainty"] * 0.1229)
    listed = env("GET", "inst_b1", "/v1/projects").json()
    assert [p["id"] for p in listed] == ["p1"] and listed[0]["savings"][0]["avoided"] == s["avoided"]
    d = env("GET", "admin", "/v1/projects/p1/savings/daily").json()
    assert len(d["rows"]) == 303 and d["unit"] == "kWh"
    assert (
        env("GET", "admin", "/v1/projects/p1/savings/daily", params={"energy_type": "water"}).status_code
        == 404
    )
    assert (
        env("GET", "admin", "/v1/projects/p1/savings/daily", params={"energy_type": "sunlight"}).status_code
        == 422
    )
    csv = env("GET", "admin", "/v1/projects/p1/savings/daily", params={"format": "csv"})
    assert csv.status_code == 200
    header = next(_csv.reader(io.StringIO(csv.content.decode("utf-8-sig"))))
    assert header[:3] == ["日期", "工作日", "日均气温(°C)"]
    x = env("GET", "city_nj", "/v1/projects/p1/savings/daily", params={"format": "xlsx"})
    assert x.status_code == 200
    from openpyxl import load_workbook

    assert load_workbook(io.BytesIO(x.content)).sheetnames == [
        "summary",
        "model electricity",
        "daily electricity",
    ]
    assert (
        env("GET", "city_sz", "/v1/projects/p1/savings/daily", params={"format": "xlsx"}).status_code == 403
    )
    assert env("POST", "admin", "/v1/projects/p1/savings", params={"as_of": "1900-01-01"}).status_code == 422


@pytest.mark.parametrize("who", ["city_sz", "inst_b2"])
def test_outside_scope_refused_in_every_format(env, who):
    assert env("POST", "admin", "/v1/projects/p1/savings", params={"as_of": "2026-12-01"}).status_code == 200
    for fmt in ("json", "csv", "xlsx"):
        r = env("GET", who, "/v1/projects/p1/savings/daily", params={"format": fmt})
        assert r.status_code == 403, (fmt, r.text)
        assert "p1" not in r.text or "outside" in r.text
    assert env("GET", who, "/v1/projects", params={"institution_id": "b1"}).status_code == 403
    assert env("GET", who, "/v1/projects/p1").status_code == 403


def test_hostile_project_name_is_text_in_the_workbook(env, db_url):
    hostile = '=HYPERLINK("http://evil.example","x")'
    with psycopg.connect(db_url) as c:
        c.execute("UPDATE project SET name = %s, contract_ref = %s WHERE id = 'p1'", (hostile, "+1+1"))
    assert env("POST", "admin", "/v1/projects/p1/savings", params={"as_of": "2026-12-01"}).status_code == 200
    assert env("GET", "inst_b1", "/v1/projects/p1").json()["name"] == hostile
    x = env("GET", "inst_b1", "/v1/projects/p1/savings/daily", params={"format": "xlsx"})
    from openpyxl import load_workbook

    summary = load_workbook(io.BytesIO(x.content))["summary"]
    cells = {c.value: c for row in summary.iter_rows() for c in row if isinstance(c.value, str)}
    assert cells[hostile].data_type == "s" and cells["+1+1"].data_type == "s"
