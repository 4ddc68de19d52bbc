"""reported_usage.csv: figures from the annual statistics returns (公共机构能源资源消费统计), the fourth registry kind."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from store.registry import RegistryImportError, export_files, import_files
from store.registry_files import REPORTED_USAGE, read_file
from tests.registry.conftest import INST_HEADER, REPORTED_HEADER, TZ, csv_file, snapshot

INSTS = csv_file(
    "institutions.csv",
    INST_HEADER,
    "a,某市机关事务管理局,government,,city,320100,hot_summer_cold_winter,2020,",
    "b,某市第一人民医院,hospital,grade3,city,320300,cold,2020,",
)
REPORTED = csv_file(
    "stats.csv",
    REPORTED_HEADER,
    "a,2020,electricity,main,kWh,350000.5,2020年度统计报表",
    "a,2020,water,main,m3,9000,2020年度统计报表",
    "a,2020,gasoline,vehicle,L,4200,",
    "b,2020,电力,总表,MWh,21000,2020年度统计报表",  # Chinese labels are read as their codes
    "b,2020,natural_gas,main,m3,0,2020年度统计报表",  # zero is a figure (no gas that year)
)


def test_header_is_recognised():
    tables, errors = read_file("stats.csv", REPORTED[1])
    assert errors == []
    assert [t.kind for t in tables] == [REPORTED_USAGE]


def test_import_upserts_idempotently_and_round_trips(conn):
    summary = import_files(conn, [INSTS, REPORTED], TZ)
    assert (summary.reported_usage.inserted, summary.reported_usage.updated) == (5, 0)
    rows = conn.execute(
        "SELECT institution_id, year, energy_type, end_use, unit, quantity, source FROM reported_usage "
        "ORDER BY 1, 2, 3"
    ).fetchall()
    assert rows == [
        ("a", 2020, "electricity", "main", "kWh", 350000.5, "2020年度统计报表"),
        ("a", 2020, "gasoline", "vehicle", "L", 4200.0, None),
        ("a", 2020, "water", "main", "m3", 9000.0, "2020年度统计报表"),
        ("b", 2020, "electricity", "main", "MWh", 21000.0, "2020年度统计报表"),
        ("b", 2020, "natural_gas", "main", "m3", 0.0, "2020年度统计报表"),
    ]
    again = import_files(conn, [INSTS, REPORTED], TZ)
    assert again.changed == 0 and again.reported_usage.unchanged == 5

    # a corrected figure updates that row only
    fix = csv_file("fix.csv", REPORTED_HEADER, "a,2020,water,main,m3,9100,2020年度统计报表(更正)")
    s = import_files(conn, [fix], TZ)
    assert (s.reported_usage.updated, s.reported_usage.inserted, s.changed) == (1, 0, 1)

    out = export_files(conn, TZ, "csv")
    assert out["reported_usage.csv"].decode().splitlines() == [
        REPORTED_HEADER,
        "a,2020,electricity,main,kWh,350000.5,2020年度统计报表",
        "a,2020,gasoline,vehicle,L,4200,",
        "a,2020,water,main,m3,9100,2020年度统计报表(更正)",
        "b,2020,electricity,main,MWh,21000,2020年度统计报表",
        "b,2020,natural_gas,main,m3,0,2020年度统计报表",
    ]
    before = snapshot(conn)
    conn.execute("TRUNCATE institution CASCADE")  # reported_usage goes with its institutions
    assert conn.execute("SELECT count(*) FROM reported_usage").fetchone()[0] == 0
    import_files(conn, list(out.items()), TZ)
    assert snapshot(conn) == before
    assert export_files(conn, TZ, "csv") == out
    xlsx = export_files(conn, TZ, "xlsx")
    conn.execute("TRUNCATE institution CASCADE")
    import_files(conn, list(xlsx.items()), TZ)
    assert export_files(conn, TZ, "csv") == out


def test_xlsx_sheet_with_native_numbers(conn):
    import_files(conn, [INSTS], TZ)
    book = Workbook()
    sheet = book.active
    sheet.title = "统计"
    sheet.append(REPORTED_HEADER.split(","))
    sheet.append(["a", 2024, "water", "main", "m3", 8800, "2024年度统计报表"])
    sheet.append(["a", 2024, "electricity", "main", "kWh", 331000.25, None])
    buf = io.BytesIO()
    book.save(buf)
    s = import_files(conn, [("book.xlsx", buf.getvalue())], TZ)
    assert s.reported_usage.inserted == 2
    assert conn.execute(
        "SELECT quantity FROM reported_usage WHERE energy_type = 'electricity'"
    ).fetchone() == (331000.25,)


def test_every_bad_row_named_and_nothing_imported(conn):
    import_files(conn, [INSTS], TZ)
    before = snapshot(conn)
    bad = csv_file(
        "bad.csv",
        REPORTED_HEADER,
        "a,2020,water,main,m3,9000,ok",
        "a,2020,water,hvac,m3,-1,",
        "x,2020,electricity,main,m3,5,",
    )
    with pytest.raises(RegistryImportError) as info:
        import_files(conn, [REPORTED, bad], TZ)
    assert [str(e) for e in info.value.errors] == [
        # the same figure twice, across files
        "bad.csv:2:end_use: duplicate reported usage 'a/2020/water/main' (first at stats.csv:3)",
        "bad.csv:3:end_use: 'hvac' is not a valid end_use for reported usage; allowed: main (总表), vehicle (公务用车)",
        "bad.csv:3:quantity: quantity must not be negative, got -1",
        "bad.csv:4:institution_id: institution 'x' is not in the registry or this import",
        "bad.csv:4:unit: unit m3 is not allowed for energy_type electricity; allowed: kWh, MWh",
    ]
    assert snapshot(conn) == before
