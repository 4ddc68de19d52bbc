"""store.totals: the walk up the parent chain runs for excluded-area meters only.

Seen: ``accounting`` is NULL for an ordinary 分项 sub-meter, so ``accounting = 'excluded_area'`` was NULL, not
false, and the AND of the rule's second branch went on to the recursive walk for every sub-meter; the
dashboards evaluate the rule on each usage row they join to a meter, so a province panel walked the parent
chain once per sub-meter and day.
"""

from __future__ import annotations

import psycopg
import pytest

from store.totals import totals_sign_sql

SUB_METERS = 40
# id, parent, end use, accounting, expected sign
METERS = [
    ("t.e", None, "main", None, 1),
    *[(f"t.s{i}", "t.e", "hvac", None, 0) for i in range(SUB_METERS)],
    ("t.dorm", "t.e", "lighting_sockets", "excluded_area", -1),
    ("t.dorm-ac", "t.dorm", "hvac", "excluded_area", 0),
    ("t.dc", None, "special", "own_supply", 1),
]


@pytest.fixture
def tree(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone, baseline_year) "
            "VALUES ('t', 't', 'government', 'city', '320100', 'hot_summer_cold_winter', 2020)"
        )
        for mid, parent, end_use, accounting, _ in METERS:
            conn.execute(
                "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, parent_meter_id, "
                "accounting, installed_at) VALUES (%s, 't', 'electricity', 'kWh', 'interval', %s, %s, %s, "
                "'2019-12-01+08')",
                (mid, end_use, parent, accounting),
            )
        conn.commit()
    yield db_url


def test_signs(tree):
    with psycopg.connect(tree) as conn:
        got = dict(conn.execute(f"SELECT m.id, {totals_sign_sql('m')} FROM meter m").fetchall())
    assert got == {mid: sign for mid, _p, _e, _a, sign in METERS}


def test_the_walk_runs_for_excluded_area_meters_only(tree):
    # The walk is meter_inside_excluded_area (migration 0022); the transaction's own function-call count says
    # how often it ran.
    with psycopg.connect(tree) as conn:
        conn.execute("SET track_functions = 'all'")
        conn.execute(f"SELECT sum({totals_sign_sql('m')}) FROM meter m").fetchone()
        (walks,) = conn.execute(
            "SELECT pg_stat_get_xact_function_calls('meter_inside_excluded_area'::regproc)"
        ).fetchone()
    # t.dorm and t.dorm-ac: the only meters whose sign depends on their ancestors
    assert walks == 2
