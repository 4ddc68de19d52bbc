"""Coverage is judged against each meter's expected reading interval, not against hourly telemetry.

Seen: a water meter read once a day with a complete, exact year made its institution "missing statistics".
"""

from __future__ import annotations

import psycopg
import pytest

from scoring.compute import score
from scoring.runner import compute_results
from store import codes
from store.registry import RegistryImportError, import_files, list_meters

DAILY_2026 = """INSERT INTO reading (meter_id, ts, value)
    SELECT %s, ts, 40.0 FROM generate_series('2026-01-02T00:00:00+08:00'::timestamptz,
                                             '2027-01-01T00:00:00+08:00', '1 day') ts"""


def by_id(results):
    return {r.institution_id: r for r in results}


def daily_only(conn, meter_id):
    conn.execute("DELETE FROM reading WHERE meter_id = %s AND ts > '2026-01-01T00:00:00+08:00'", (meter_id,))
    conn.execute(DAILY_2026, (meter_id,))


def test_default_interval_by_kind():
    assert codes.default_read_interval_s("water", "main") == 86_400
    assert codes.default_read_interval_s("electricity", "main") == 3_600
    assert codes.default_read_interval_s("natural_gas", "main", "cumulative") == 3_600
    assert codes.default_read_interval_s("gasoline", "vehicle") == 0
    assert codes.default_read_interval_s("electricity", "vehicle") == 0  # an EV charger for official cars
    assert codes.read_interval_s(900, "water", "main") == 900


def test_daily_water_meter_with_a_complete_year_is_complete(example_db, worked, example_inputs):
    expected = by_id(score(example_inputs, worked, 2026))
    with psycopg.connect(example_db) as conn:
        # G1's water meter is read once a day (365 readings in 2026, 14,600 m³); its interval is the default
        daily_only(conn, "G1-w")
        # G2's main electricity meter is read daily too, and says so in the registry
        conn.execute("UPDATE meter SET read_interval_s = 86400 WHERE id = 'G2-e'")
        daily_only(conn, "G2-e")
        # S2's main electricity meter, read daily but due hourly: 365 of 8,760 hours
        daily_only(conn, "S2-e")
        conn.commit()
        res = by_id(compute_results(conn, worked, year=2026))
    g1 = res["G1"]
    assert g1.scored and g1.missing_inputs == [] and g1.vetoes == []
    assert g1.total_points == pytest.approx(expected["G1"].total_points)
    assert {m.meter_id: m.coverage for m in g1.inputs.meters}["G1-w"] == 1.0
    assert res["G2"].scored and {m.meter_id: m.coverage for m in res["G2"].inputs.meters}["G2-e"] == 1.0
    # 365 / 8,760 = 0.041667
    assert res["S2"].missing_inputs == ["meter S2-e: coverage 0.0417 below the minimum 0.9"]


def test_registry_carries_the_interval(db_url):
    header = (
        "id,institution_id,name,energy_type,unit,register,end_use,parent_meter_id,multiplier,rollover,"
        "max_rate_per_h,installed_at,retired_at,read_interval_s"
    )
    inst = (
        "institutions.csv",
        "id,name,category,admin_level,region_code,climate_zone\n"
        "a,某单位,government,city,320100,hot_summer_cold_winter\n".encode(),
    )
    with psycopg.connect(db_url) as conn:
        good = (
            header
            + "\na.w,a,,water,m3,cumulative,main,,,,,2019-01-01,,86400\na.e,a,,electricity,kWh,cumulative,main,,,,,2019-01-01,,\n"
        )
        import_files(conn, [inst, ("meters.csv", good.encode())], codes_tz())
        assert {m.id: m.read_interval_s for m in list_meters(conn)} == {"a.e": None, "a.w": 86400}
        bad = header + "\na.g,a,,natural_gas,m3,cumulative,main,,,,,2019-01-01,,-60\n"
        with pytest.raises(RegistryImportError) as info:
            import_files(conn, [("meters.csv", bad.encode())], codes_tz())
        assert [str(e) for e in info.value.errors] == [
            "meters.csv:2:read_interval_s: read_interval_s must be 0 (event-based) or more seconds, got -60"
        ]


def codes_tz():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")
