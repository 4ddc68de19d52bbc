"""A migrated database holding demo data shaped like ingest's output, for running every dashboard query.

The ingest and simulator parts write these tables in production; here they are seeded with SQL so
that every panel has rows: three institutions in two cities, main meters with sub-meters, water,
gas and vehicle fuel, daily usage from 2020 (baseline year) to today, hourly usage with a day/night
pattern for two weeks, a silent meter, a gap, a counter reset, a quarantined increment, a
conflict, rejects, ingest batches, rollup runs and two scoring runs. Times are relative to the
database's now() so the "last 7 days" and "silent for 24 h" views have something to show.
"""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from psycopg import sql

from store import meter_activity

INSTITUTIONS = [
    # id, name, category, admin level, region, climate zone
    ("gov-nj-01", "南京市机关事务管理局", "government", "city", "320100", "hot_summer_cold_winter"),
    ("sch-nj-02", "南京市第一中学", "school", "city", "320100", "hot_summer_cold_winter"),
    ("hos-xz-01", "徐州市中心医院", "hospital", "city", "320300", "cold"),
]

# id, institution, energy type, unit, register, end use, parent, multiplier, base daily use
METERS = [
    ("gov-nj-01.e-main", "gov-nj-01", "electricity", "kWh", "cumulative", "main", None, 1, 2400),
    ("gov-nj-01.e-hvac", "gov-nj-01", "electricity", "kWh", "cumulative", "hvac", "gov-nj-01.e-main", 1, 900),
    ("gov-nj-01.water", "gov-nj-01", "water", "m3", "cumulative", "main", None, 1, 40),
    ("gov-nj-01.gas", "gov-nj-01", "natural_gas", "m3", "cumulative", "main", None, 1, 120),
    ("gov-nj-01.car", "gov-nj-01", "gasoline", "L", "interval", "vehicle", None, 1, 30),
    ("sch-nj-02.e-main", "sch-nj-02", "electricity", "MWh", "cumulative", "main", None, 0.001, 1800),
    ("sch-nj-02.water", "sch-nj-02", "water", "L", "interval", "main", None, 1000, 60),
    ("hos-xz-01.e-main", "hos-xz-01", "electricity", "kWh", "cumulative", "main", None, 1, 6000),
    ("hos-xz-01.steam", "hos-xz-01", "steam", "t", "interval", "main", None, 1, 5),
]

# An institution registered before its meters are: chained variables below it have no options.
NO_METERS = ("gov-sz-01", "苏州市机关事务管理局", "government", "city", "320500", "hot_summer_cold_winter")
# Registered in 南京 but no data yet: must not dilute the city's per-area or per-capita figures.
NO_DATA_NJ = ("gov-nj-03", "南京市新建机关", "government", "city", "320100", "hot_summer_cold_winter")
# 320200 (无锡) has no institution at all.
EMPTY_CITY = "320200"

SILENT_METER = "gov-nj-01.gas"  # no reading for the last 3 days
GAP_METER = "gov-nj-01.water"  # no readings 2-4 hours ago


def _seed(conn: psycopg.Connection) -> None:
    cur = conn.cursor()
    for iid, name, cat, level, region, zone in [*INSTITUTIONS, NO_METERS, NO_DATA_NJ]:
        cur.execute(
            "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone, baseline_year) "
            "VALUES (%s, %s, %s, %s, %s, %s, 2020)",
            (iid, name, cat, level, region, zone),
        )
        cur.execute(
            "INSERT INTO institution_year (institution_id, year, floor_area_m2, occupants) "
            "SELECT %s, y, %s, %s FROM generate_series(2020, extract(year from now())::int) y",
            (
                iid,
                {"government": 18000, "school": 26000, "hospital": 52000}[cat],
                {"government": 420, "school": 1600, "hospital": 2300}[cat],
            ),
        )
    for mid, iid, et, unit, reg, end_use, parent, mult, _ in METERS:
        cur.execute(
            "INSERT INTO meter (id, institution_id, name, energy_type, unit, register, end_use, parent_meter_id, "
            "multiplier, installed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, '2019-12-01+08')",
            (mid, iid, mid.split(".")[1], et, unit, reg, end_use, parent, mult),
        )
    # Hourly readings for 10 days (cumulative counters rise; interval meters send the hour's use),
    # except the silent meter (stops 3 days ago) and the gap meter (nothing 2-4 hours ago).
    cur.execute(
        """
        INSERT INTO reading (meter_id, ts, value, received_at)
        SELECT m.id, t, CASE WHEN m.register = 'cumulative' THEN 100000 + n * 10 ELSE 10 + n %% 7 END,
               t + interval '1 minute'
        FROM meter m,
             LATERAL (SELECT date_trunc('hour', now()) - k * interval '1 hour' AS t, 240 - k AS n
                      FROM generate_series(0, 240) k) s
        WHERE NOT (m.id = %(silent)s AND t > now() - interval '3 days')
          AND NOT (m.id = %(gap)s AND t BETWEEN date_trunc('hour', now()) - interval '4 hours'
                                            AND date_trunc('hour', now()) - interval '2 hours')
        """,
        {"silent": SILENT_METER, "gap": GAP_METER},
    )
    meter_activity.refresh(conn)  # what ingest notes as it writes readings
    tz = "(SELECT value FROM deployment_setting WHERE key = 'timezone')"
    base = {m[0]: m[8] for m in METERS}
    for mid, daily in base.items():
        unit_scale = 0.001 if mid == "sch-nj-02.e-main" else (1000 if mid == "sch-nj-02.water" else 1)
        # Daily usage from 2020 to today (local days), seasonal, slowly falling year on year.
        cur.execute(
            f"""
            INSERT INTO usage_daily (meter_id, day, consumption)
            SELECT %(m)s, d::date,
                   %(base)s * %(s)s * (1 + 0.25 * cos(2 * pi() * (extract(doy from d) - 200) / 365.0))
                   * (1 - 0.015 * (extract(year from d) - 2020))
                   * CASE WHEN extract(isodow from d) >= 6 THEN 0.6 ELSE 1 END
            FROM generate_series('2020-01-01'::date, (now() AT TIME ZONE {tz})::date, interval '1 day') d
            """,
            {"m": mid, "base": float(daily), "s": float(unit_scale)},
        )
        # Hourly usage for 14 days: working hours heavier than the night base load.
        cur.execute(
            f"""
            INSERT INTO usage_hourly (meter_id, hour, consumption)
            SELECT %(m)s, h,
                   %(base)s * %(s)s / 24.0 *
                   CASE WHEN extract(hour from h AT TIME ZONE {tz}) BETWEEN 8 AND 17 THEN 1.8 ELSE 0.45 END
            FROM generate_series(date_trunc('hour', now()) - interval '14 days', date_trunc('hour', now()),
                                 interval '1 hour') h
            """,
            {"m": mid, "base": float(daily), "s": float(unit_scale)},
        )
    cur.execute(
        "INSERT INTO usage_monthly (meter_id, month, consumption) "
        "SELECT meter_id, date_trunc('month', day)::date, sum(consumption) FROM usage_daily GROUP BY 1, 2"
    )
    cur.execute(
        """
        INSERT INTO usage_counter_event (meter_id, ts_from, ts_to, kind) VALUES
          ('gov-nj-01.e-main', now() - interval '50 minutes', now() - interval '30 minutes', 'reset'),
          ('hos-xz-01.e-main', now() - interval '2 days', now() - interval '47 hours', 'rollover');
        INSERT INTO usage_quarantine (meter_id, ts_from, ts_to, increment, reason) VALUES
          ('gov-nj-01.e-main', now() - interval '40 minutes', now() - interval '20 minutes', 99999, 'rate_above_max'),
          ('sch-nj-02.e-main', now() - interval '3 days', now() - interval '71 hours', 5000, 'rate_above_max');
        INSERT INTO reading_conflict (meter_id, ts, stored_value, new_value, topic) VALUES
          ('gov-nj-01.e-main', date_trunc('hour', now()) - interval '1 hour', 1, 2, 'jieneng/v1/gov-nj-01/gov-nj-01.e-main'),
          ('hos-xz-01.steam', date_trunc('hour', now()) - interval '5 hours', 3, 4, 'jieneng/v1/hos-xz-01/hos-xz-01.steam');
        INSERT INTO ingest_reject (received_at, topic, payload, reason, meter_id) VALUES
          (now() - interval '10 minutes', 'jieneng/v1/gov-nj-01/gov-nj-01.e-main', '{"ts": "x"}', 'bad_ts', 'gov-nj-01.e-main'),
          (now() - interval '20 minutes', 'jieneng/v1/gov-nj-01/nope', '{"ts": 1, "value": 2}', 'unknown_meter', NULL),
          (now() - interval '2 days', 'jieneng/v1/x', 'garbage', 'bad_json', NULL);
        INSERT INTO usage_dirty (meter_id, ts_min, ts_max) VALUES
          ('gov-nj-01.e-main', now() - interval '1 hour', now());
        INSERT INTO ingest_batch (committed_at, messages, readings, inserted, duplicates, conflicts, rejects, commit_ms)
        SELECT t, 40, 50 + (extract(minute from t))::int, 48, 2, (extract(minute from t) = 0)::int, 0, 3 + random() * 20
        FROM generate_series(now() - interval '2 days', now(), interval '5 minutes') t;
        INSERT INTO rollup_run (finished_at, meter_hours, lag_s)
        SELECT t, 12, 0.2 + random() FROM generate_series(now() - interval '2 days', now(), interval '5 minutes') t;
        """
    )
    for year in (2025, 2026):
        cur.execute(
            "INSERT INTO scoring_run (year, methodology_name, methodology_version, methodology_hash, "
            "methodology_text, results_hash, created_by) VALUES (%s, 'national-demo', '1', 'h', '', 'r', 'test') "
            "RETURNING id",
            (year,),
        )
        run_id = cur.fetchone()[0]
        for rank, (iid, _, cat, _, region, zone) in enumerate(INSTITUTIONS, start=1):
            cur.execute(
                "INSERT INTO scoring_result (run_id, institution_id, region_code, category, peer_group, "
                "total_points, eligible, rank_province, rank_city, rank_peer, detail) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 1, 1, %s)",
                (run_id, iid, region, cat, f"{cat}/{zone}", 95 - 6 * rank, rank < 3, rank, json.dumps({})),
            )
    conn.commit()


@pytest.fixture(scope="session")
def seeded_db_url(pg_admin_url, migrated_template):
    """One seeded database for the whole dashboards suite (the queries only read it)."""
    name = f"jieneng_test_dash_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(migrated_template)
            )
        )
    url = psycopg.conninfo.make_conninfo(pg_admin_url, dbname=name)
    with psycopg.connect(url) as conn:
        _seed(conn)
    yield url
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Grafana:
    """What Grafana does with a dashboard's queries: resolve its variables in order, expand, run.

    ``state`` maps a multi/All variable's name to ``ALL`` or a list of chosen values; a single-value
    variable without All takes its first option, or ``""`` when its query returns none (as
    Grafana's variable does on an empty result).
    """

    @staticmethod
    def run(conn: psycopg.Connection, query: str) -> tuple[list[str], list[tuple]]:
        cur = conn.execute(query)
        return [d.name for d in cur.description], cur.fetchall()

    def resolve(self, conn, dashboard: dict, state: dict, t_from, t_to, interval) -> dict:
        from dashboards.macros import ALL, Variable, expand

        resolved: dict[str, Variable] = {}
        for v in dashboard["templating"]["list"]:
            if v["type"] == "query":
                q = expand(v["query"], resolved, time_from=t_from, time_to=t_to, interval=interval)
                cols, rows = self.run(conn, q)
                value_col = cols.index("__value") if "__value" in cols else 0
                options = [str(r[value_col]) for r in rows]
                if v.get("multi") or v.get("includeAll"):
                    current = state.get(v["name"], ALL)
                    if current != ALL:
                        chosen = {current} if isinstance(current, str) else set(current)
                        assert chosen <= set(options), (v["name"], current, options)
                else:
                    current = options[0] if options else ""
                resolved[v["name"]] = Variable(
                    v["name"],
                    current,
                    multi=v["multi"],
                    include_all=v["includeAll"],
                    options=options,
                    all_value=v.get("allValue") or None,
                )
            elif v["type"] == "custom":
                resolved[v["name"]] = Variable(
                    v["name"],
                    v["current"]["value"],
                    multi=False,
                    include_all=False,
                    options=[o["value"] for o in v["options"]],
                )
        return resolved

    def panel_queries(self, conn, dashboard: dict, state: dict, t_from, t_to, interval):
        """(panel, target, expanded SQL) for every target, with the variables resolved for ``state``."""
        from dashboards.macros import expand

        variables = self.resolve(conn, dashboard, state, t_from, t_to, interval)
        for p in dashboard["panels"]:
            for t in p["targets"]:
                yield p, t, expand(t["rawSql"], variables, time_from=t_from, time_to=t_to, interval=interval)


@pytest.fixture(scope="session")
def grafana() -> Grafana:
    return Grafana()
