"""Base load uses the statutory holiday calendar (store/calendar.py), the one the simulator uses.

National Day 2026: 1–7 October off; Sunday 20 September and Saturday 10 October are make-up
working days (调休). Daytime load is 10 kW on working days and 100 kW on days off, so the
"weekday" daytime mean is exactly 10 only when holidays and make-up days are classified right.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from dashboards import build
from dashboards.macros import expand
from store.calendar import is_workday


def test_base_load_working_hours_follow_the_holiday_calendar(db_url, grafana):
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone) "
            "VALUES ('gov-nj-09', '测试单位', 'government', 'city', '320100', 'hot_summer_cold_winter')"
        )
        conn.execute(
            "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at) "
            "VALUES ('gov-nj-09.e', 'gov-nj-09', 'electricity', 'kWh', 'interval', 'main', '2026-01-01+08')"
        )
        start = datetime(2026, 9, 18, 16, tzinfo=UTC)  # 2026-09-19 00:00 +08:00
        rows = []
        for k in range(24 * 24):
            hour = start + timedelta(hours=k)
            local = hour + timedelta(hours=8)
            day_time = 8 <= local.hour <= 17
            rows.append(
                ("gov-nj-09.e", hour, (10.0 if is_workday(local.date()) else 100.0) if day_time else 1.0)
            )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO usage_hourly (meter_id, hour, consumption) VALUES (%s, %s, %s)", rows
            )
        conn.commit()
    d = next(x for x in build.dashboards() if x["uid"] == "jieneng-institution")
    sql = next(p for p in d["panels"] if p["title"].startswith("夜间与周末基荷"))["targets"][0]["rawSql"]
    t_from, t_to = start, start + timedelta(days=24)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SET ROLE jieneng_grafana")
        variables = grafana.resolve(
            conn, d, {"region": ["320100"], "institution": ["gov-nj-09"]}, t_from, t_to, timedelta(hours=1)
        )
        cols, rows = grafana.run(conn, expand(sql, variables, time_from=t_from, time_to=t_to))
    (row,) = rows
    assert row[cols.index("工作时段 Workday 08-18 kW")] == 10.0
    assert row[cols.index("休息日 Day off 08-18 kW")] == 100.0
