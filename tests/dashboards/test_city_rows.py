"""Every institution is in one "by city" row and in the ranking, however its region sits in the hierarchy.

Seen: a region's city was its parent when it was a county, so an institution of a county under a county of
南京 had a county for its city (a row of its own in "by city", ranked in a city of one), and one of a county
without a parent had no city: the province dashboard's ranking and "by city" panels joined the region table on
NULL and left it out, while store.regions.city_of named the county itself.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from dashboards.macros import ALL, expand
from scoring.runner import run_scoring

from .test_totals_rule import DASHBOARDS, T_FROM, T_TO, YEAR, _panel_sql

REGIONS = [
    # code, name, level, parent
    ("329901", "县甲", "county", "320100"),
    ("329902", "县乙", "county", "329901"),  # a county under a county of 南京
    ("329911", "县丙", "county", None),  # a county without a parent
]
# id, region, daily kWh
INSTITUTIONS = [("nj", "320100", 1000.0), ("deep", "329902", 2000.0), ("orphan", "329911", 4000.0)]


@pytest.fixture
def city_db(db_url):
    with psycopg.connect(db_url) as conn:
        for row in REGIONS:
            conn.execute("INSERT INTO region (code, name, level, parent_code) VALUES (%s, %s, %s, %s)", row)
        for iid, region, daily in INSTITUTIONS:
            conn.execute(
                "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone, baseline_year) "
                "VALUES (%s, %s, 'government', 'county', %s, 'hot_summer_cold_winter', 2020)",
                (iid, iid, region),
            )
            conn.execute(
                "INSERT INTO institution_year (institution_id, year, floor_area_m2, occupants) "
                "VALUES (%s, %s, 10000, 100)",
                (iid, YEAR),
            )
            conn.execute(
                "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at) "
                "VALUES (%s, %s, 'electricity', 'kWh', 'interval', 'main', '2019-12-01+08')",
                (f"{iid}.e", iid),
            )
            conn.execute(
                "INSERT INTO usage_daily (meter_id, day, consumption) "
                "SELECT %s, d::date, %s FROM generate_series(%s::date, %s::date, interval '1 day') d",
                (f"{iid}.e", daily, f"{YEAR}-01-01", f"{YEAR}-11-30"),
            )
        conn.execute(
            "INSERT INTO usage_monthly (meter_id, month, consumption) "
            "SELECT meter_id, date_trunc('month', day)::date, sum(consumption) FROM usage_daily GROUP BY 1, 2"
        )
        run_scoring(conn, year=YEAR, created_by="test")
        conn.commit()
    yield db_url


def _run(conn, grafana, title: str) -> tuple[list[str], list[tuple]]:
    d = DASHBOARDS["jieneng-province"]
    variables = grafana.resolve(conn, d, {"region": ALL}, T_FROM, T_TO, timedelta(days=1))
    return grafana.run(
        conn, expand(_panel_sql("jieneng-province", title), variables, time_from=T_FROM, time_to=T_TO)
    )


def test_every_institution_in_one_city_row_and_the_ranking(city_db, grafana):
    with psycopg.connect(city_db, autocommit=True) as conn:
        conn.execute("SET ROLE jieneng_grafana")
        cols, ranking = _run(conn, grafana, "最新排名")
        energy = _run(conn, grafana, "各市综合能耗")[1]
    institution, city = cols.index("单位 Institution"), next(i for i, c in enumerate(cols) if "城市" in c)
    assert sorted((r[institution], r[city]) for r in ranking) == [
        ("deep", "南京市"),
        ("nj", "南京市"),
        ("orphan", "县丙"),
    ]
    # 南京市 holds nj and deep; the parentless county is a row of its own; nothing is left out
    tce = {name: value for name, value in energy}
    assert sorted(tce) == ["南京市", "县丙"]
    assert tce["南京市"] / tce["县丙"] == pytest.approx((1000.0 + 2000.0) / 4000.0)
