"""The savings dashboard's queries, expanded as Grafana expands them, run as the read-only Grafana role on a
database with a verified project, and return rows."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from dashboards import savings as savings_dashboard
from dashboards.macros import ALL, Variable, expand
from savings.service import verify_project
from store.registry import import_files

from .conftest import TZ, seed_building

HEADER = (
    "id,institution_id,kind,name,energy_types,meter_ids,baseline_from,baseline_to,install_from,install_to,"
    "reporting_from,reporting_to,description,contract_ref,prices"
)


@pytest.fixture
def reader(db_url):
    with psycopg.connect(db_url) as c:
        import_files(
            c,
            [
                (
                    "institutions.csv",
                    b"id,name,category,sub_kind,admin_level,region_code,climate_zone\n"
                    b"b1,Office,government,,city,320100,hot_summer_cold_winter\n",
                ),
                (
                    "meters.csv",
                    b"id,institution_id,energy_type,unit,register,end_use,installed_at\n"
                    b"b1.e,b1,electricity,kWh,cumulative,main,2024-01-01\n",
                ),
                (
                    "projects.csv",
                    (
                        f"{HEADER}\np1,b1,retrofit,LED,electricity,,2025-01-01,2025-12-31,2026-01-01,"
                        "2026-01-31,2026-02-01,2026-11-30,,,\n"
                    ).encode(),
                ),
            ],
            TZ,
        )
        seed_building(c, "b1.e", "320100", 5, 0.2)
        verify_project(c, "p1", as_of=dt.date(2026, 12, 1))
        c.commit()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SET ROLE jieneng_grafana")
        yield conn


def test_every_panel_returns_rows(reader):
    d = savings_dashboard.build()
    t_from = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    t_to = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    resolved: dict[str, Variable] = {}
    for v in d["templating"]["list"]:
        sql = expand(v["query"], resolved, time_from=t_from, time_to=t_to, interval=dt.timedelta(days=1))
        options = [str(r[0]) for r in reader.execute(sql).fetchall()]
        assert options, v["name"]
        current = ALL if v["multi"] else options[0]
        resolved[v["name"]] = Variable(
            v["name"], current, multi=v["multi"], include_all=v["includeAll"], options=options
        )
    assert resolved["energy_type"].options == ["electricity"]
    for p in d["panels"]:
        for t in p["targets"]:
            sql = expand(t["rawSql"], resolved, time_from=t_from, time_to=t_to, interval=dt.timedelta(days=1))
            cur = reader.execute(sql)
            rows = cur.fetchall()
            assert rows, p["title"]
            if t["format"] == "time_series":
                assert cur.description[0].name == "time"
    cum = savings_dashboard.CUMULATIVE
    last = reader.execute(expand(cum, resolved, time_from=t_from, time_to=t_to)).fetchall()[-1][1]
    avoided = reader.execute("SELECT avoided FROM savings_result").fetchone()[0]
    assert last == pytest.approx(avoided)
