"""The five-year target line takes the baseline year from where scoring took it (issue 13, item 5).

Scoring reads a year's meter data only when they cover it, else the institution's statistics return
(reported_usage); the run stores what it used in each result's inputs. With a 2020 baseline, meters from
much later and a statistics return for 2020, the target line must show the return's figure, not be empty
and not be built from a stray partial month of 2020 meter data.
"""

from __future__ import annotations

import calendar
import json
from datetime import UTC, datetime, timedelta

import psycopg

from dashboards import province
from dashboards.macros import ALL, Variable, expand
from dashboards.sql import ALL_VALUE
from scoring.model import Inputs, InstitutionResult, YearInputs

BASELINE_KGCE = 1_200_000.0  # the 2020 statistics return, as scoring converted it
AREA_M2 = 10_000.0
TARGET_PCT = 6


def _seed(conn: psycopg.Connection) -> None:
    conn.execute(
        "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone, baseline_year) "
        "VALUES ('a', 'a', 'government', 'city', '320100', 'hot_summer_cold_winter', 2020)"
    )
    conn.execute(
        "INSERT INTO institution_year (institution_id, year, floor_area_m2, occupants) "
        "SELECT 'a', y, %s, 100 FROM generate_series(2020, extract(year from now())::int) y",
        (AREA_M2,),
    )
    conn.execute(
        "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at) "
        "VALUES ('a.e', 'a', 'electricity', 'kWh', 'interval', 'main', '2020-11-20+08')"
    )
    # meters from late 2020 on: one stray month of 2020, which does not cover the year
    conn.execute(
        "INSERT INTO usage_daily (meter_id, day, consumption) SELECT 'a.e', d::date, 1000 "
        "FROM generate_series('2020-12-01'::date, now()::date, interval '1 day') d"
    )
    conn.execute(
        "INSERT INTO usage_monthly (meter_id, month, consumption) SELECT meter_id, "
        "date_trunc('month', day)::date, sum(consumption) FROM usage_daily GROUP BY 1, 2"
    )
    conn.execute(
        "INSERT INTO reported_usage (institution_id, year, energy_type, end_use, unit, quantity) "
        "VALUES ('a', 2020, 'electricity', 'main', 'kWh', %s)",
        (BASELINE_KGCE / 0.1229,),
    )
    year = datetime.now(UTC).year
    run_id = conn.execute(
        "INSERT INTO scoring_run (year, methodology_name, methodology_version, methodology_hash, methodology_text, "
        "results_hash, created_by) VALUES (%s, 'm', '1', 'h', '', 'r', 't') RETURNING id",
        (year,),
    ).fetchone()[0]
    detail = {
        "inputs": {
            "baseline": {
                "year": 2020,
                "source": "reported",
                "floor_area_m2": AREA_M2,
                "building_energy_kgce": BASELINE_KGCE,
            }
        }
    }
    conn.execute(
        "INSERT INTO scoring_result (run_id, institution_id, region_code, category, peer_group, eligible, "
        "detail, baseline_building_energy_kgce, baseline_floor_area_m2) "
        "VALUES (%s, 'a', '320100', 'government', 'g', true, %s, %s, %s)",
        (run_id, json.dumps(detail), BASELINE_KGCE, AREA_M2),
    )
    conn.commit()


def test_detail_path_is_what_scoring_stores():
    # the dashboard reads scoring_result.baseline_*, which scoring fills from these fields (test_stored_detail.py)
    assert "inputs" in InstitutionResult.model_fields and "baseline" in Inputs.model_fields
    assert {"building_energy_kgce", "floor_area_m2", "source", "year"} <= set(YearInputs.model_fields)


def test_target_uses_the_scored_baseline_source(db_url):
    now = datetime.now(UTC)
    t_from = now - timedelta(days=120)
    with psycopg.connect(db_url) as conn:
        _seed(conn)
        conn.execute("SET ROLE jieneng_grafana")
        year = conn.execute(expand(province.YEAR_VAR["query"], {}, time_from=t_from, time_to=now)).fetchone()[
            0
        ]
        variables = {
            "region": Variable("region", ALL, multi=True, include_all=True, all_value=ALL_VALUE),
            "year": Variable("year", year),
            "target_pct": Variable("target_pct", str(TARGET_PCT)),
        }
        cur = conn.execute(expand(province.TREND, variables, time_from=t_from, time_to=now))
        cols = [c.name for c in cur.description]
        rows = cur.fetchall()
    target = cols.index("五年目标 Target kgce/m²")
    assert len(rows) >= 4
    for row in rows[1:-1]:  # whole months (the first and last may be cut by the range)
        month = row[0].astimezone(UTC) + timedelta(hours=12)
        days = calendar.monthrange(month.year, month.month)[1]
        days_in_year = 366 if calendar.isleap(month.year) else 365
        want = BASELINE_KGCE / AREA_M2 * days / days_in_year * (1 - TARGET_PCT / 100)
        assert row[target] is not None and abs(row[target] - want) < 1e-9 * want, (row[0], row[target], want)


def test_trend_divides_by_the_area_of_institutions_with_data(seeded_db_url):
    """南京 has an institution registered without meters (conftest NO_DATA_NJ): its floor area must not
    dilute the city's monthly intensity (issue 13, item 6, for the trend as for the by-city panels)."""
    from dashboards.sql import kgce_values

    now = datetime.now(UTC)
    t_from = now - timedelta(days=120)
    variables = {
        "region": Variable("region", ["320100"], multi=True, include_all=True, all_value=ALL_VALUE),
        "year": Variable("year", str(now.year)),
        "target_pct": Variable("target_pct", "6"),
    }
    with psycopg.connect(seeded_db_url) as conn:
        conn.execute("SET ROLE jieneng_grafana")
        cur = conn.execute(expand(province.TREND, variables, time_from=t_from, time_to=now))
        cols = [c.name for c in cur.description]
        rows = cur.fetchall()
        this = cols.index("本期 This period kgce/m²")
        month_row = rows[1]  # a whole month
        want = conn.execute(
            f"""SELECT sum(u.consumption * kgce.kgce_per_unit) / (SELECT sum(iy.floor_area_m2) FROM institution_year iy
                    WHERE iy.year = extract(year from now())::int AND iy.institution_id IN (
                      SELECT m2.institution_id FROM meter m2 JOIN usage_monthly u2 ON u2.meter_id = m2.id
                      JOIN institution i2 ON i2.id = m2.institution_id
                      WHERE i2.region_code = '320100' AND u2.month = u.month AND m2.parent_meter_id IS NULL))
                FROM usage_monthly u JOIN meter m ON m.id = u.meter_id JOIN institution i ON i.id = m.institution_id
                JOIN {kgce_values()} ON kgce.energy_type = m.energy_type AND kgce.unit = m.unit
                WHERE i.region_code = '320100' AND m.parent_meter_id IS NULL AND m.end_use <> 'vehicle'
                  AND u.month = (%s AT TIME ZONE 'Asia/Shanghai')::date
                GROUP BY u.month""",
            (month_row[0],),
        ).fetchone()[0]
    assert abs(month_row[this] - want) < 1e-9 * want, (month_row[0], month_row[this], want)
