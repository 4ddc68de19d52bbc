"""The meters' `config_from` column: validation, the configuration history it builds, export and round trip."""

from __future__ import annotations

from datetime import datetime

import pytest

from store.registry import RegistryImportError, export_files, import_files, list_meters
from tests.registry.conftest import INST_HEADER, TZ, csv_file, snapshot

INST = csv_file(
    "institutions.csv",
    INST_HEADER,
    "a,某市机关事务管理局,government,,city,320100,hot_summer_cold_winter,2020,",
)
HEADER = "id,institution_id,energy_type,unit,register,end_use,multiplier,config_from,installed_at,retired_at"


def meters(*rows: str):
    return csv_file("meters.csv", HEADER, *rows)


def history(conn, meter_id="a.e") -> list[tuple]:
    return conn.execute(
        "SELECT nullif(valid_from, '-infinity'), unit, multiplier FROM meter_config WHERE meter_id = %s"
        " ORDER BY valid_from",
        (meter_id,),
    ).fetchall()


def errors_of(conn, files) -> list[str]:
    before = snapshot(conn)
    with pytest.raises(RegistryImportError) as exc:
        import_files(conn, files, TZ)
    assert snapshot(conn) == before
    return [str(e) for e in exc.value.errors]


def test_config_from_builds_a_history_and_exports(conn):
    import_files(conn, [INST, meters("a.e,a,electricity,kWh,cumulative,main,40,,2019-01-01,")], TZ)
    assert history(conn) == [(None, "kWh", 40.0)]
    import_files(conn, [meters("a.e,a,electricity,kWh,cumulative,main,80,2024-07-01,2019-01-01,")], TZ)
    july = datetime(2024, 7, 1, tzinfo=TZ)
    assert history(conn) == [(None, "kWh", 40.0), (july, "kWh", 80.0)]
    assert list_meters(conn)[0].config_from == july
    out = export_files(conn, TZ)["meters.csv"].decode()
    assert out.splitlines()[0].split(",")[11] == "config_from"
    assert ",80,,,2024-07-01T00:00:00+08:00,2019-01-01T00:00:00+08:00," in out
    # Re-importing the export changes nothing, history included.
    assert import_files(conn, [("meters.csv", out.encode())], TZ).changed == 0
    assert history(conn) == [(None, "kWh", 40.0), (july, "kWh", 80.0)]


def test_file_without_config_from_keeps_the_history(conn):
    import_files(conn, [INST, meters("a.e,a,electricity,kWh,cumulative,main,40,,2019-01-01,")], TZ)
    import_files(conn, [meters("a.e,a,electricity,kWh,cumulative,main,80,2024-07-01,2019-01-01,")], TZ)
    old_header = "id,institution_id,name,energy_type,unit,register,end_use,multiplier,installed_at"
    import_files(
        conn,
        [csv_file("m.csv", old_header, "a.e,a,总电表,electricity,kWh,cumulative,main,80,2019-01-01")],
        TZ,
    )
    assert [m for _, _, m in history(conn)] == [40.0, 80.0]
    # ... and a changed multiplier in such a file replaces the current configuration from its own start.
    import_files(
        conn,
        [csv_file("m.csv", old_header, "a.e,a,总电表,electricity,kWh,cumulative,main,60,2019-01-01")],
        TZ,
    )
    assert [m for _, _, m in history(conn)] == [40.0, 60.0]


def test_config_from_before_install_or_after_retirement_is_refused(conn):
    import_files(conn, [INST], TZ)
    assert errors_of(conn, [meters("a.e,a,electricity,kWh,cumulative,main,40,2018-06-01,2019-01-01,")]) == [
        "meters.csv:2:config_from: config_from 2018-06-01T00:00:00+08:00 is before installed_at "
        "2019-01-01T00:00:00+08:00; leave it empty for a configuration in force from the beginning"
    ]
    assert errors_of(
        conn, [meters("a.e,a,electricity,kWh,cumulative,main,40,2021-06-01,2019-01-01,2020-01-01")]
    ) == [
        "meters.csv:2:config_from: config_from 2021-06-01T00:00:00+08:00 is not before retired_at "
        "2020-01-01T00:00:00+08:00"
    ]
    assert errors_of(conn, [meters("a.e,a,electricity,kWh,cumulative,main,40,soon,2019-01-01,")]) == [
        "meters.csv:2:config_from: not an ISO 8601 timestamp: 'soon'"
    ]


def test_unit_that_cannot_convert_from_a_kept_period_is_refused(conn):
    import_files(conn, [INST, meters("a.lpg,a,lpg,kg,cumulative,main,1,,2019-01-01,")], TZ)
    assert errors_of(conn, [meters("a.lpg,a,lpg,m3,cumulative,main,1,2024-01-01,2019-01-01,")]) == [
        "meters.csv:2:unit: unit m3 does not convert from kg, the unit of this meter's configuration from the "
        "beginning, which a config_from of 2024-01-01T00:00:00+08:00 keeps; leave config_from empty to replace it"
    ]
    # From the beginning, the whole history is replaced: nothing to convert.
    import_files(conn, [meters("a.lpg,a,lpg,m3,cumulative,main,1,,2019-01-01,")], TZ)
    assert history(conn, "a.lpg") == [(None, "m3", 1.0)]
    # A unit that converts may change from a day on.
    import_files(conn, [meters("a.e,a,electricity,kWh,cumulative,main,1,,2019-01-01,")], TZ)
    import_files(conn, [meters("a.e,a,electricity,MWh,cumulative,main,1,2024-01-01,2019-01-01,")], TZ)
    assert [u for _, u, _ in history(conn)] == ["kWh", "MWh"]
