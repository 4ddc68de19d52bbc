"""Silence is judged against each meter's expected reading interval, by one rule for the alert and the panels.

The registry's meter.read_interval_s (0 event-based, NULL the default by kind, store.codes.default_read_interval_s)
says when a reading is due; a meter is silent when that reading is more than the threshold late. Run as
jieneng_grafana, expanded as Grafana expands them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from dashboards import alerting, meters
from dashboards.macros import ALL, Variable, expand
from dashboards.sql import ALL_VALUE
from store import meter_activity
from store.codes import END_USES, ENERGY_TYPES, REGISTERS, read_interval_s

# meter id, energy type, unit, end use, registry read_interval_s, hours since its last reading
CASES = [
    ("x.e-main", "electricity", "kWh", "main", None, 72),  # hourly, 3 days quiet: silent
    ("x.e-ok", "electricity", "kWh", "main", None, 1),  # hourly, fresh
    ("x.car", "gasoline", "L", "vehicle", None, 50),  # fill-ups: event-based by default, never silent
    ("x.oil", "diesel", "L", "main", None, 60),  # delivered fuel: event-based by default
    ("x.water", "water", "m3", "main", None, 30),  # daily: due 6 h ago, not 24 h late
    ("x.water-old", "water", "m3", "main", None, 60),  # daily: due 36 h ago, silent
    ("x.lpg-clock", "lpg", "kg", "main", 3600, 30),  # the registry says hourly: silent
    ("x.e-event", "electricity", "kWh", "main", 0, 500),  # the registry says event-based
    (
        "x.e-retiring",
        "electricity",
        "kWh",
        "main",
        None,
        72,
    ),  # retirement planned next month: still in service
    ("x.e-retired", "electricity", "kWh", "main", None, 72),  # retired last week
]
RETIRED_AT = {"x.e-retiring": "now() + interval '30 days'", "x.e-retired": "now() - interval '7 days'"}
SILENT_AT_24H = {"x.e-main", "x.water-old", "x.lpg-clock", "x.e-retiring"}


def _seed(conn: psycopg.Connection) -> None:
    conn.execute(
        "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone) "
        "VALUES ('x', 'x', 'government', 'city', '320100', 'hot_summer_cold_winter')"
    )
    for mid, et, unit, end_use, interval, quiet_h in CASES:
        conn.execute(
            "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, read_interval_s, "
            "installed_at) VALUES (%s, 'x', %s, %s, 'interval', %s, %s, '2020-01-01+08')",
            (mid, et, unit, end_use, interval),
        )
        conn.execute(
            "INSERT INTO reading (meter_id, ts, value) VALUES (%s, now() - make_interval(hours => %s), 1)",
            (mid, quiet_h),
        )
        if mid in RETIRED_AT:
            conn.execute(f"UPDATE meter SET retired_at = {RETIRED_AT[mid]} WHERE id = %s", (mid,))
    meter_activity.refresh(conn)  # what ingest notes as it writes readings
    conn.commit()


def test_dashboards_interval_is_the_python_rule_for_every_kind(db_url):
    """The panels' and the alert's join (dashboards.sql.READ_INTERVAL_S) gives what the function gives."""
    from dashboards.sql import INTERVAL_DEFAULT, READ_INTERVAL_S

    kinds = [
        (v, et, eu, reg)
        for et in ENERGY_TYPES
        for eu in END_USES
        for reg in REGISTERS
        for v in (None, 0, 900)
    ]
    with psycopg.connect(db_url) as conn:
        conn.execute("SET ROLE jieneng_grafana")
        got = conn.execute(
            f"SELECT m.read_interval_s, m.energy_type, m.end_use, m.register, {READ_INTERVAL_S}"
            " FROM unnest(%s::int[], %s::text[], %s::text[], %s::text[])"
            f" AS m(read_interval_s, energy_type, end_use, register) {INTERVAL_DEFAULT}",
            [list(c) for c in zip(*kinds, strict=True)],
        ).fetchall()
    assert len(got) == len(kinds)
    for v, et, eu, reg, seconds in got:
        assert seconds == read_interval_s(v, et, eu, reg), (v, et, eu, reg)


def test_sql_interval_is_the_python_rule_for_every_kind(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute("SET ROLE jieneng_grafana")
        for et in ENERGY_TYPES:
            for eu in END_USES:
                for reg in REGISTERS:
                    for value in (None, 0, 900):
                        got = conn.execute(
                            "SELECT meter_read_interval_s(%s, %s, %s, %s)", (value, et, eu, reg)
                        ).fetchone()[0]
                        assert got == read_interval_s(value, et, eu, reg), (value, et, eu, reg)


def test_silent_alert_judges_each_meter_by_its_interval(db_url):
    with psycopg.connect(db_url) as conn:
        _seed(conn)
        conn.execute("SET ROLE jieneng_grafana")
        rule = next(
            r
            for g in alerting.rules(silent_hours=24, night_load_share=0.5)["groups"]
            for r in g["rules"]
            if r["uid"] == "jieneng-meter-silent"
        )
        rows = conn.execute(rule["data"][0]["model"]["rawSql"]).fetchall()
        (limit,) = rule["data"][1]["model"]["conditions"][0]["evaluator"]["params"]
        assert {r[0] for r in rows} == SILENT_AT_24H
        assert all(r[2] > limit for r in rows)  # expression B keeps every row the query returns


def test_silent_panels_use_the_alert_rule(db_url):
    now = datetime.now(UTC)
    variables = {
        "region": Variable("region", ALL, multi=True, include_all=True, all_value=ALL_VALUE),
        "institution": Variable("institution", ALL, multi=True, include_all=True, all_value=ALL_VALUE),
        "meter": Variable("meter", ALL, multi=True, include_all=True, all_value=ALL_VALUE),
        "silent_hours": Variable("silent_hours", "24"),
    }
    with psycopg.connect(db_url) as conn:
        _seed(conn)
        conn.execute("SET ROLE jieneng_grafana")
        listed = conn.execute(
            expand(meters.SILENT, variables, time_from=now - timedelta(days=7), time_to=now)
        )
        assert {r[0] for r in listed.fetchall()} == SILENT_AT_24H
        count = conn.execute(
            expand(meters.SILENT_COUNT, variables, time_from=now - timedelta(days=7), time_to=now)
        )
        assert count.fetchone()[0] == len(SILENT_AT_24H)
