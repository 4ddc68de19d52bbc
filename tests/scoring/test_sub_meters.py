"""Sub-meters that feed nothing are never dropped silently; excluded floor area's use can be deducted.

Seen: a separately fed data centre (end_use special, no parent) imported without a word and was never counted.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import psycopg
import pytest

from scoring.compute import score
from scoring.inputs import MeterQuality, MeterUse
from scoring.runner import compute_results
from store.registry import RegistryImportError, import_files

TZ = ZoneInfo("Asia/Shanghai")
HEADER = (
    "id,institution_id,name,energy_type,unit,register,end_use,parent_meter_id,multiplier,rollover,"
    "max_rate_per_h,installed_at,retired_at,accounting"
)
INST = (
    "institutions.csv",
    "id,name,category,admin_level,region_code,climate_zone\n"
    "a,某单位,government,city,320100,hot_summer_cold_winter\n".encode(),
)


def by_id(results):
    return {r.institution_id: r for r in results}


def test_import_refuses_a_sub_meter_that_feeds_nothing(db_url):
    with psycopg.connect(db_url) as conn:
        main = "a.e,a,,electricity,kWh,cumulative,main,,,,,2019-01-01,,"
        bad = HEADER + "\n" + main + "\na.dc,a,数据中心,electricity,kWh,cumulative,special,,,,,2019-01-01,\n"
        with pytest.raises(RegistryImportError) as info:
            import_files(conn, [INST, ("meters.csv", bad.encode())], TZ)
        assert [str(e) for e in info.value.errors] == [
            "meters.csv:3:parent_meter_id: a special sub-meter needs parent_meter_id (the meter its use is inside), "
            "or it would be counted nowhere; a separately fed supply (e.g. a data centre on its own feeder) is "
            "counted with accounting = own_supply"
        ]
        assert conn.execute("SELECT count(*) FROM meter").fetchone()[0] == 0
        good = (
            HEADER
            + "\n"
            + main
            + (
                "\na.dc,a,数据中心,electricity,kWh,cumulative,special,,,,,2019-01-01,,own_supply"
                "\na.dorm,a,宿舍,electricity,kWh,cumulative,lighting_sockets,a.e,,,,2019-01-01,,excluded_area\n"
            )
        )
        import_files(conn, [INST, ("meters.csv", good.encode())], TZ)
        assert dict(conn.execute("SELECT id, accounting FROM meter ORDER BY id").fetchall()) == {
            "a.dc": "own_supply",
            "a.dorm": "excluded_area",
            "a.e": None,
        }
        wrong = HEADER + "\na.x,a,,electricity,kWh,cumulative,hvac,,,,,2019-01-01,,excluded_area\n"
        with pytest.raises(RegistryImportError) as info:
            import_files(conn, [("meters.csv", wrong.encode())], TZ)
        assert [str(e) for e in info.value.errors] == [
            "meters.csv:2:accounting: excluded_area is deducted from its parent meter's use: parent_meter_id is required"
        ]


def test_own_supply_is_counted_and_excluded_area_deducted(make_example, worked):
    insts = make_example()
    g1 = insts[0]
    # a data centre on its own feeder: 100,000 kWh in 2020 and 90,000 kWh in 2026, counted like a main meter
    g1.meters.append(
        MeterUse("G1-dc", "electricity", "special", True, "kWh", {2020: 100_000.0, 2026: 90_000.0})
    )
    g1.quality["G1-dc"] = MeterQuality("G1-dc", coverage=1.0)
    g1.quality_by_year[2020]["G1-dc"] = MeterQuality("G1-dc", coverage=1.0)
    # a dormitory inside the main meter: 50,000 kWh and 500 m³ of water in 2026, deducted
    g1.meters.append(
        MeterUse("G1-dorm", "electricity", "lighting_sockets", False, "kWh", {2026: 50_000.0}, deducted=True)
    )
    g1.meters.append(MeterUse("G1-dorm-w", "water", "main", False, "m3", {2026: 500.0}, deducted=True))
    # what is deducted must cover the year like what is counted (tests/scoring/test_review_baseline_and_deductions.py)
    for mid in ("G1-dorm", "G1-dorm-w"):
        g1.quality[mid] = MeterQuality(mid, coverage=1.0)
    r = by_id(score(insts, worked, 2026))["G1"]
    cur = r.inputs.current
    elec = next(e for e in cur.energy if e.energy_type == "electricity")
    # 900,000 + 90,000 − 50,000 = 940,000 kWh × 0.1229 = 115,526 kgce
    assert elec.quantity == pytest.approx(940_000)
    assert elec.meter_ids == ["G1-dc", "G1-e"] and elec.deducted_meter_ids == ["G1-dorm"]
    assert elec.deducted_quantity == pytest.approx(50_000)
    assert elec.energy_kgce == pytest.approx(115_526)
    # water 3,600 − 500 = 3,100 m³
    assert cur.water_m3 == pytest.approx(3_100)
    assert cur.deducted_meter_ids == ["G1-dorm", "G1-dorm-w"]
    # building energy 115,526 + 21,857.4 = 137,383.4 kgce / 10,000 m² = 13.73834 kgce/m²
    assert next(i.value for i in r.indicators if i.code == "area_energy_kgce_m2") == pytest.approx(13.73834)
    info = {m.meter_id: m for m in r.inputs.meters}
    assert info["G1-dorm"].deducted and not info["G1-dorm"].counted and info["G1-dorm"].coverage_checked
    assert r.scored


def test_a_stored_sub_meter_without_parent_is_named(example_db, worked):
    with psycopg.connect(example_db) as conn:
        # a row imported before the check: the registry import refuses it now
        conn.execute("""INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at)
                        VALUES ('G1-dc', 'G1', 'electricity', 'kWh', 'interval', 'special', '2019-01-01')""")
        conn.commit()
        res = by_id(compute_results(conn, worked, year=2026))
    assert res["G1"].missing_inputs == [
        "meter G1-dc (special sub-meter) has no parent meter and is not marked own_supply: its use is counted "
        "nowhere, so the totals may be incomplete (set parent_meter_id, or accounting = own_supply)"
    ]
    assert not res["G1"].scored
