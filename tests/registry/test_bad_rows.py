"""One test per kind of bad row: the exact message, and nothing imported (the registry is unchanged).

Every bad file also carries a good new row before the bad one, so "nothing imported" is meaningful.
"""

from __future__ import annotations

import io

import pytest

from store.registry import RegistryImportError, import_files
from tests.registry.conftest import (
    INST_HEADER,
    METER_HEADER,
    REPORTED_HEADER,
    TZ,
    YEAR_HEADER,
    counts,
    csv_file,
    snapshot,
)

BASE = [
    csv_file(
        "base_i.csv",
        INST_HEADER,
        "a,某市机关事务管理局,government,,city,320100,hot_summer_cold_winter,2020,",
        "b,某市第一人民医院,hospital,grade3,city,320300,cold,2020,",
    ),
    csv_file("base_y.csv", YEAR_HEADER, "a,2020,10000,300", "b,2020,90000,1500"),
    csv_file(
        "base_m.csv",
        METER_HEADER,
        "a.e,a,,electricity,kWh,cumulative,main,,40,,,2019-01-01,",
        "a.w,a,,water,m3,cumulative,main,,,,,2019-01-01,",
        "b.e,b,,electricity,kWh,cumulative,main,,80,,,2019-01-01,",
    ),
]

GOOD_INST = "n1,新建单位,government,,city,320100,hot_summer_cold_winter,2020,"
GOOD_YEAR = "a,2024,10000,310"
GOOD_METER = "a.gas,a,,natural_gas,m3,cumulative,main,,,,,2019-01-01,"


def inst(row: str):
    return [csv_file("institutions.csv", INST_HEADER, GOOD_INST, row)]


def year(row: str):
    return [csv_file("institution_years.csv", YEAR_HEADER, GOOD_YEAR, row)]


def meter(row: str):
    return [csv_file("meters.csv", METER_HEADER, GOOD_METER, row)]


GOOD_REPORTED = "a,2020,electricity,main,kWh,350000,2020年度统计报表"


def reported(row: str):
    return [csv_file("reported_usage.csv", REPORTED_HEADER, GOOD_REPORTED, row)]


ALLOWED_CATEGORY = "government (机关), school (学校), hospital (医院), venue (场馆), other (其他)"
ALLOWED_SCHOOL = (
    "university (高等学校), vocational (职业学校), secondary (中学), primary (小学), kindergarten (幼儿园)"
)

CASES = {
    # --- headers -------------------------------------------------------------------------------
    "unknown file kind": (
        [csv_file("x.csv", "foo,bar", "1,2")],
        [
            "x.csv:1:-: header matches no registry file kind; expected the columns of one of: "
            "institutions: id, name, category, admin_level, region_code, climate_zone; "
            "institution_years: institution_id, year, floor_area_m2, occupants; "
            "meters: id, institution_id, energy_type, unit, register, end_use, installed_at; "
            "reported_usage: institution_id, year, energy_type, end_use, unit, quantity; "
            "projects: id, institution_id, kind, name, energy_types, baseline_from, baseline_to, "
            "install_from, install_to, reporting_from, reporting_to"
        ],
    ),
    "unknown column": (
        [csv_file("y.csv", YEAR_HEADER + ",remarks", "a,2024,10000,310,")],
        [
            "y.csv:1:remarks: unknown column 'remarks' "
            "(institution_years columns: institution_id, year, floor_area_m2, occupants, students_counted)"
        ],
    ),
    "missing required column": (
        [
            csv_file(
                "m.csv",
                METER_HEADER.replace(",installed_at", ""),
                "a.gas,a,,natural_gas,m3,cumulative,main,,,,,",
            )
        ],
        ["m.csv:1:installed_at: missing required column 'installed_at'"],
    ),
    "duplicate column": (
        [csv_file("y.csv", YEAR_HEADER + ",year", "a,2024,10000,310,2024")],
        ["y.csv:1:year: duplicate column 'year'"],
    ),
    "empty file": ([("e.csv", b"")], ["e.csv:1:-: file is empty: no header line"]),
    "too many cells": (
        year("a,2025,10000,310,9"),
        ["institution_years.csv:3:-: row has 5 cells but the header has 4"],
    ),
    # --- institutions --------------------------------------------------------------------------
    "required value missing": (
        inst("n2,,government,,city,320100,cold,2020,"),
        ["institutions.csv:3:name: required value missing"],
    ),
    "bad id": (
        inst("n 2,某局,government,,city,320100,cold,2020,"),
        [
            "institutions.csv:3:id: 'n 2' is not a valid id (1-64 characters: letters, digits, '.', '_', '-'; "
            "starting with a letter or digit)"
        ],
    ),
    "control character in text": (
        inst("n2,某局\x07,government,,city,320100,cold,2020,"),
        ["institutions.csv:3:name: contains a control character (only tab and line breaks are allowed)"],
    ),
    "category not allowed": (
        inst("n2,某局,ministry,,city,320100,cold,2020,"),
        [f"institutions.csv:3:category: 'ministry' is not a valid category; allowed: {ALLOWED_CATEGORY}"],
    ),
    "sub_kind not of the category": (
        inst("n2,某校,school,grade3,city,320100,cold,2020,"),
        [
            "institutions.csv:3:sub_kind: 'grade3' is not a valid sub_kind for category school; "
            f"allowed: {ALLOWED_SCHOOL}"
        ],
    ),
    "sub_kind missing": (
        inst("n2,某校,学校,,city,320100,cold,2020,"),
        [f"institutions.csv:3:sub_kind: sub_kind is required for category school; allowed: {ALLOWED_SCHOOL}"],
    ),
    "sub_kind where none exist": (
        inst("n2,某局,government,secondary,city,320100,cold,2020,"),
        [
            "institutions.csv:3:sub_kind: category government has no sub-kinds; leave sub_kind empty, not 'secondary'"
        ],
    ),
    "admin_level not allowed": (
        inst("n2,某局,government,,national,320100,cold,2020,"),
        [
            "institutions.csv:3:admin_level: 'national' is not a valid admin_level; "
            "allowed: province (省级), city (市级), county (县级), township (乡镇)"
        ],
    ),
    "region code malformed": (
        inst("n2,某局,government,,city,3201,cold,2020,"),
        ["institutions.csv:3:region_code: '3201' is not a region code (6 digits, GB/T 2260)"],
    ),
    "region code unknown": (
        inst("n2,某局,government,,city,330100,cold,2020,"),
        ["institutions.csv:3:region_code: unknown region code '330100'"],
    ),
    "climate zone not allowed": (
        inst("n2,某局,government,,city,320100,severe_cold,2020,"),
        [
            "institutions.csv:3:climate_zone: 'severe_cold' is not a valid climate_zone; "
            "allowed: cold (寒冷), hot_summer_cold_winter (夏热冬冷)"
        ],
    ),
    "baseline year not a number": (
        inst("n2,某局,government,,city,320100,cold,二〇二〇,"),
        ["institutions.csv:3:baseline_year: not a whole number: '二〇二〇'"],
    ),
    "baseline year out of range": (
        inst("n2,某局,government,,city,320100,cold,1999,"),
        ["institutions.csv:3:baseline_year: year 1999 is out of range 2000-2100"],
    ),
    "duplicate institution id": (
        inst("n1,重复单位,government,,city,320100,cold,2020,"),
        ["institutions.csv:3:id: duplicate institution id 'n1' (first at institutions.csv:2)"],
    ),
    # --- institution years ---------------------------------------------------------------------
    "year of unknown institution": (
        year("zz,2024,10000,310"),
        ["institution_years.csv:3:institution_id: institution 'zz' is not in the registry or this import"],
    ),
    "year out of range": (
        year("a,2101,10000,310"),
        ["institution_years.csv:3:year: year 2101 is out of range 2000-2100"],
    ),
    "area not positive": (
        year("a,2025,-5,310"),
        ["institution_years.csv:3:floor_area_m2: floor_area_m2 must be greater than 0, got -5"],
    ),
    "area not a number": (
        year("a,2025,1万,310"),
        ["institution_years.csv:3:floor_area_m2: not a number: '1万'"],
    ),
    "area not finite": (
        year("a,2025,nan,310"),
        ["institution_years.csv:3:floor_area_m2: not a finite number: 'nan'"],
    ),
    "headcount not positive": (
        year("a,2025,10000,0"),
        ["institution_years.csv:3:occupants: occupants must be greater than 0, got 0"],
    ),
    "headcount not whole": (
        year("a,2025,10000,310.5"),
        ["institution_years.csv:3:occupants: not a whole number: '310.5'"],
    ),
    "duplicate institution year": (
        year("a,2024,11000,320"),
        [
            "institution_years.csv:3:year: duplicate institution year 'a/2024' (first at institution_years.csv:2)"
        ],
    ),
    # --- meters --------------------------------------------------------------------------------
    "meter of unknown institution": (
        meter("z.e,zz,,electricity,kWh,cumulative,main,,,,,2019-01-01,"),
        ["meters.csv:3:institution_id: institution 'zz' is not in the registry or this import"],
    ),
    "energy type not allowed": (
        meter("a.x,a,,hydrogen,kg,cumulative,main,,,,,2019-01-01,"),
        [
            "meters.csv:3:energy_type: 'hydrogen' is not a valid energy_type; allowed: electricity (电力), "
            "water (水), natural_gas (天然气), heat (热力), steam (蒸汽), coal (煤), gasoline (汽油), diesel (柴油), "
            "lpg (液化石油气), other (其他)"
        ],
    ),
    "unit unknown": (
        meter("a.x,a,,heat,kcal,cumulative,main,,,,,2019-01-01,"),
        ["meters.csv:3:unit: unknown unit 'kcal' (known: Wh, kWh, MWh, MJ, GJ, L, m3, kg, t)"],
    ),
    "unit not allowed for energy type": (
        meter("a.x,a,,electricity,GJ,cumulative,main,,,,,2019-01-01,"),
        ["meters.csv:3:unit: unit GJ is not allowed for energy_type electricity; allowed: kWh, MWh"],
    ),
    "register not allowed": (
        meter("a.x,a,,electricity,kWh,delta,main,,,,,2019-01-01,"),
        [
            "meters.csv:3:register: 'delta' is not a valid register; "
            "allowed: cumulative (累计读数), interval (区间用量)"
        ],
    ),
    "end use not allowed": (
        meter("a.x,a,,electricity,kWh,cumulative,elevator,,,,,2019-01-01,"),
        [
            "meters.csv:3:end_use: 'elevator' is not a valid end_use; allowed: main (总表), "
            "lighting_sockets (照明插座), hvac (空调), power (动力), special (特殊用电), vehicle (公务用车)"
        ],
    ),
    "parent meter unknown": (
        meter("a.h,a,,electricity,kWh,cumulative,hvac,a.zz,,,,2019-01-01,"),
        ["meters.csv:3:parent_meter_id: parent meter 'a.zz' is not in the registry or this import"],
    ),
    "parent meter of another institution": (
        meter("a.h,a,,electricity,kWh,cumulative,hvac,b.e,,,,2019-01-01,"),
        ["meters.csv:3:parent_meter_id: parent meter 'b.e' belongs to institution 'b', not 'a'"],
    ),
    "parent meter of another energy type": (
        meter("a.h,a,,electricity,kWh,cumulative,hvac,a.w,,,,2019-01-01,"),
        ["meters.csv:3:parent_meter_id: parent meter 'a.w' measures water, not electricity"],
    ),
    "own parent": (
        meter("a.h,a,,electricity,kWh,cumulative,hvac,a.h,,,,2019-01-01,"),
        ["meters.csv:3:parent_meter_id: a meter cannot be its own parent"],
    ),
    "parent loop through the database": (
        # a.e (stored, no parent) is re-parented under a new meter whose parent is a.e.
        [
            csv_file(
                "meters.csv",
                METER_HEADER,
                GOOD_METER,
                "a.h,a,,electricity,kWh,cumulative,hvac,a.e,,,,2019-01-01,",
                "a.e,a,,electricity,kWh,cumulative,main,a.h,40,,,2019-01-01,",
            )
        ],
        [
            "meters.csv:3:parent_meter_id: parent meters form a loop: a.h -> a.e -> a.h",
            "meters.csv:4:parent_meter_id: parent meters form a loop: a.e -> a.h -> a.e",
        ],
    ),
    "multiplier not positive": (
        meter("a.x,a,,electricity,kWh,cumulative,main,,0,,,2019-01-01,"),
        ["meters.csv:3:multiplier: multiplier must be greater than 0, got 0"],
    ),
    "rollover not a number": (
        meter("a.x,a,,electricity,kWh,cumulative,main,,,9999x,,2019-01-01,"),
        ["meters.csv:3:rollover: not a number: '9999x'"],
    ),
    "max rate not positive": (
        meter("a.x,a,,electricity,kWh,cumulative,main,,,,-1,2019-01-01,"),
        ["meters.csv:3:max_rate_per_h: max_rate_per_h must be greater than 0, got -1"],
    ),
    "timestamp not ISO 8601": (
        meter("a.x,a,,electricity,kWh,cumulative,main,,,,,2019/01/01,"),
        ["meters.csv:3:installed_at: not an ISO 8601 timestamp: '2019/01/01'"],
    ),
    "retired before installed": (
        meter("a.x,a,,electricity,kWh,cumulative,main,,,,,2019-01-01,2019-01-01T00:00:00+08:00"),
        [
            "meters.csv:3:retired_at: retired_at 2019-01-01T00:00:00+08:00 is not after "
            "installed_at 2019-01-01T00:00:00+08:00"
        ],
    ),
    "duplicate meter id": (
        meter("a.gas,a,,natural_gas,m3,cumulative,main,,,,,2020-01-01,"),
        ["meters.csv:3:id: duplicate meter id 'a.gas' (first at meters.csv:2)"],
    ),
    # --- reported usage ------------------------------------------------------------------------
    "reported missing required column": (
        [csv_file("r.csv", "institution_id,year,energy_type,end_use,unit,source", "a,2020,water,main,m3,x")],
        ["r.csv:1:quantity: missing required column 'quantity'"],
    ),
    "reported of unknown institution": (
        reported("zz,2020,water,main,m3,9000,"),
        ["reported_usage.csv:3:institution_id: institution 'zz' is not in the registry or this import"],
    ),
    "reported year out of range": (
        reported("a,1999,water,main,m3,9000,"),
        ["reported_usage.csv:3:year: year 1999 is out of range 2000-2100"],
    ),
    "reported year not whole": (
        reported("a,2020.5,water,main,m3,9000,"),
        ["reported_usage.csv:3:year: not a whole number: '2020.5'"],
    ),
    "reported unknown energy type": (
        reported("a,2020,hydrogen,main,kg,9000,"),
        [
            "reported_usage.csv:3:energy_type: 'hydrogen' is not a valid energy_type; allowed: electricity (电力), "
            "water (水), natural_gas (天然气), heat (热力), steam (蒸汽), coal (煤), gasoline (汽油), diesel (柴油), "
            "lpg (液化石油气), other (其他)"
        ],
    ),
    "reported sub-meter end use": (
        reported("a,2020,electricity,hvac,kWh,9000,"),
        [
            "reported_usage.csv:3:end_use: 'hvac' is not a valid end_use for reported usage; "
            "allowed: main (总表), vehicle (公务用车)"
        ],
    ),
    "reported unit not allowed for energy type": (
        reported("a,2020,water,main,kWh,9000,"),
        ["reported_usage.csv:3:unit: unit kWh is not allowed for energy_type water; allowed: m3, L"],
    ),
    "reported unknown unit": (
        reported("a,2020,water,main,tons,9000,"),
        ["reported_usage.csv:3:unit: unknown unit 'tons' (known: Wh, kWh, MWh, MJ, GJ, L, m3, kg, t)"],
    ),
    "reported quantity negative": (
        reported("a,2020,water,main,m3,-5,"),
        ["reported_usage.csv:3:quantity: quantity must not be negative, got -5"],
    ),
    "reported quantity not a number": (
        reported("a,2020,water,main,m3,9千,"),
        ["reported_usage.csv:3:quantity: not a number: '9千'"],
    ),
    "reported quantity missing": (
        reported("a,2020,water,main,m3,,"),
        ["reported_usage.csv:3:quantity: required value missing"],
    ),
    "reported duplicate figure": (
        reported("a,2020,电力,总表,MWh,350,另一份报表"),
        [
            "reported_usage.csv:3:end_use: duplicate reported usage 'a/2020/electricity/main' "
            "(first at reported_usage.csv:2)"
        ],
    ),
}


@pytest.fixture
def base(conn):
    import_files(conn, BASE, TZ)
    return conn


@pytest.mark.parametrize("files,expected", list(CASES.values()), ids=list(CASES))
def test_bad_row(base, files, expected):
    before = snapshot(base)
    with pytest.raises(RegistryImportError) as info:
        import_files(base, files, TZ)
    assert [str(e) for e in info.value.errors] == expected
    assert snapshot(base) == before


def test_every_error_in_a_file_is_reported(base):
    before = counts(base)
    files = [
        csv_file(
            "institutions.csv",
            INST_HEADER,
            GOOD_INST,
            "n2,某局,ministry,,city,320100,cold,2020,",
            "",  # a blank line still counts in line numbers
            "n3,某校,school,,city,999999,cold,2020,",
        ),
        csv_file(
            "meters.csv",
            METER_HEADER,
            "n3.e,n3,,electricity,m3,cumulative,main,,0,,,2019-01-01,",
            '"a.h",a,"空调,二楼",electricity,kWh,cumulative,hvac,b.e,,,,not-a-date,',
        ),
    ]
    with pytest.raises(RegistryImportError) as info:
        import_files(base, files, TZ)
    assert [str(e) for e in info.value.errors] == [
        "institutions.csv:3:category: 'ministry' is not a valid category; allowed: " + ALLOWED_CATEGORY,
        f"institutions.csv:5:sub_kind: sub_kind is required for category school; allowed: {ALLOWED_SCHOOL}",
        "institutions.csv:5:region_code: unknown region code '999999'",
        "meters.csv:2:unit: unit m3 is not allowed for energy_type electricity; allowed: kWh, MWh",
        "meters.csv:2:multiplier: multiplier must be greater than 0, got 0",
        "meters.csv:3:parent_meter_id: parent meter 'b.e' belongs to institution 'b', not 'a'",
        "meters.csv:3:installed_at: not an ISO 8601 timestamp: 'not-a-date'",
    ]
    assert str(info.value) == "7 error(s) in registry files; nothing imported"
    assert counts(base) == before


def test_line_numbers_are_physical_lines(base):
    # A quoted cell spanning two lines: the next record starts on line 4.
    files = [
        csv_file(
            "institutions.csv",
            INST_HEADER,
            'n2,某局,government,,city,320100,cold,2020,"第一行\n第二行"',
            "n3,某局,government,,city,320100,arctic,2020,",
        )
    ]
    with pytest.raises(RegistryImportError) as info:
        import_files(base, files, TZ)
    assert [(e.file, e.line, e.column) for e in info.value.errors] == [
        ("institutions.csv", 4, "climate_zone")
    ]


def test_xlsx_errors_name_book_sheet_and_row(base):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "单位"
    sheet.append(INST_HEADER.split(","))
    sheet.append(GOOD_INST.split(","))
    sheet.append(["n2", "某局", "government", None, "city", 320100, "cold", 1999, None])
    years = book.create_sheet("面积人数")
    years.append(YEAR_HEADER.split(","))
    years.append(["a", 2024, 10000, -3])
    buf = io.BytesIO()
    book.save(buf)
    before = snapshot(base)
    with pytest.raises(RegistryImportError) as info:
        import_files(base, [("book.xlsx", buf.getvalue())], TZ)
    assert [str(e) for e in info.value.errors] == [
        "book.xlsx[单位]:3:baseline_year: year 1999 is out of range 2000-2100",
        "book.xlsx[面积人数]:2:occupants: occupants must be greater than 0, got -3",
    ]
    assert snapshot(base) == before


def test_gbk_csv_from_excel_is_read(base):
    name, data = csv_file("institutions.csv", INST_HEADER, GOOD_INST)
    summary = import_files(base, [(name, data.decode().encode("gbk"))], TZ)
    assert summary.institutions.inserted == 1
    assert base.execute("SELECT name FROM institution WHERE id = 'n1'").fetchone()[0] == "新建单位"


def test_not_a_workbook(base):
    with pytest.raises(RegistryImportError) as info:
        import_files(base, [("broken.xlsx", b"PK\x03\x04 not really a zip")], TZ)
    [err] = info.value.errors
    assert (err.file, err.line, err.column) == ("broken.xlsx", 1, "-")
    assert err.message.startswith("not a readable XLSX workbook")


def test_omitted_sub_kind_column_keeps_the_stored_one(base):
    # b is a grade3 hospital: a file without sub_kind may update it ...
    header = "id,name,category,admin_level,region_code,climate_zone"
    summary = import_files(
        base, [csv_file("i.csv", header, "b,某市第一人民医院(本部),hospital,city,320300,cold")], TZ
    )
    assert summary.institutions.updated == 1
    assert base.execute("SELECT name, sub_kind FROM institution WHERE id = 'b'").fetchone() == (
        "某市第一人民医院(本部)",
        "grade3",
    )
    # ... but not turn it into a school, nor add a new school, without saying which kind.
    before = snapshot(base)
    with pytest.raises(RegistryImportError) as info:
        import_files(
            base,
            [
                csv_file(
                    "i.csv", header, "b,某学院,school,city,320300,cold", "s,某中学,school,city,320300,cold"
                )
            ],
            TZ,
        )
    assert [str(e) for e in info.value.errors] == [
        "i.csv:2:sub_kind: stored sub_kind 'grade3' does not suit category school; add a sub_kind column",
        f"i.csv:3:sub_kind: sub_kind is required for category school; allowed: {ALLOWED_SCHOOL}",
    ]
    assert snapshot(base) == before


def test_xlsx_native_cells(base):
    # Numbers, numeric-looking ids and Excel date cells (naive: deployment-zone local time).
    from datetime import datetime

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(METER_HEADER.split(","))
    sheet.append(
        [
            "1001",
            "a",
            "二号楼",
            "electricity",
            "kWh",
            "cumulative",
            "hvac",
            "a.e",
            40.0,
            999999.99,
            1200,
            datetime(2023, 6, 15, 10, 0),
            None,
        ]
    )
    sheet.append(
        [1002, "a", None, "water", "m3", "interval", "main", None, None, None, None, "2020-01-01", None]
    )
    buf = io.BytesIO()
    book.save(buf)
    summary = import_files(base, [("sheet.xlsx", buf.getvalue())], TZ)
    assert summary.meters.inserted == 2
    rows = base.execute(
        "SELECT id, multiplier, rollover, max_rate_per_h, installed_at FROM meter WHERE id IN ('1001', '1002') ORDER BY id"
    ).fetchall()
    assert rows == [
        ("1001", 40.0, 999999.99, 1200.0, datetime(2023, 6, 15, 10, 0, tzinfo=TZ)),
        ("1002", 1.0, None, None, datetime(2020, 1, 1, tzinfo=TZ)),
    ]
