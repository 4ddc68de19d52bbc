"""Importing the example province (CSV and XLSX), idempotent re-import, upserts and the export round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import psycopg

from store.registry import export_files, get_institution, import_files, list_institutions, list_meters
from tests.registry.conftest import (
    EXAMPLE_CSVS,
    EXAMPLES,
    INST_HEADER,
    METER_HEADER,
    TZ,
    YEAR_HEADER,
    counts,
    csv_file,
    example_files,
    snapshot,
)

NORTH = {"320300", "320700", "320800", "320900", "321300"}


def test_import_example_csvs(conn):
    summary = import_files(conn, example_files(), TZ)
    assert counts(conn) == {"institution": 91, "institution_year": 455, "meter": 377, "reported_usage": 720}
    assert (
        summary.institutions.inserted,
        summary.institution_years.inserted,
        summary.meters.inserted,
        summary.reported_usage.inserted,
    ) == (91, 455, 377, 720)
    assert summary.changed == 91 + 455 + 377 + 720

    cities = {r[0] for r in conn.execute("SELECT DISTINCT region_code FROM institution")}
    assert len(cities) == 13
    assert {r[0] for r in conn.execute("SELECT DISTINCT category FROM institution")} == {
        "government",
        "school",
        "hospital",
        "venue",
        "other",
    }
    # North Jiangsu is 寒冷, the rest 夏热冬冷.
    for region, zone in conn.execute("SELECT DISTINCT region_code, climate_zone FROM institution"):
        assert zone == ("cold" if region in NORTH else "hot_summer_cold_winter")
    # 2-5 meters each; years 2020, 2024, 2025, 2026 for everyone.
    per_inst = [r[0] for r in conn.execute("SELECT count(*) FROM meter GROUP BY institution_id")]
    assert len(per_inst) == 91 and min(per_inst) >= 2 and max(per_inst) <= 5
    years = conn.execute("SELECT array_agg(year ORDER BY year) FROM institution_year GROUP BY institution_id")
    assert {tuple(r[0]) for r in years} == {(2020, 2023, 2024, 2025, 2026)}
    # Sub-meters hang under their institution's main electricity meter.
    bad = conn.execute(
        """SELECT m.id FROM meter m JOIN meter p ON p.id = m.parent_meter_id
           WHERE p.institution_id <> m.institution_id OR p.end_use <> 'main' OR p.energy_type <> m.energy_type"""
    ).fetchall()
    assert bad == []
    assert conn.execute("SELECT count(*) FROM meter WHERE parent_meter_id IS NOT NULL").fetchone()[0] > 20


def test_reimport_changes_nothing(conn):
    import_files(conn, example_files(), TZ)
    before = snapshot(conn)
    versions = conn.execute("SELECT array_agg(xmin::text ORDER BY id) FROM meter").fetchone()[0]
    summary = import_files(conn, example_files(), TZ)
    assert summary.changed == 0
    assert (
        summary.institutions.unchanged,
        summary.institution_years.unchanged,
        summary.meters.unchanged,
        summary.reported_usage.unchanged,
    ) == (91, 455, 377, 720)
    assert snapshot(conn) == before
    # Not even rewritten: identical rows keep their row versions.
    assert conn.execute("SELECT array_agg(xmin::text ORDER BY id) FROM meter").fetchone()[0] == versions


def test_xlsx_imports_the_same_rows_as_the_csvs(conn):
    import_files(conn, example_files(), TZ)
    from_csv = snapshot(conn)
    conn.execute("TRUNCATE meter, institution_year, institution CASCADE")
    summary = import_files(conn, [("province.xlsx", (EXAMPLES / "province.xlsx").read_bytes())], TZ)
    assert summary.meters.inserted == 377
    assert snapshot(conn) == from_csv


def test_export_round_trips_byte_identically(conn):
    import_files(conn, example_files(), TZ)
    out = export_files(conn, TZ, "csv")
    assert sorted(out) == sorted(EXAMPLE_CSVS)
    for name in EXAMPLE_CSVS:
        assert out[name] == (EXAMPLES / name).read_bytes(), name
    # export -> import into an empty registry -> export gives the same bytes again.
    conn.execute("TRUNCATE meter, institution_year, institution CASCADE")
    import_files(conn, list(out.items()), TZ)
    assert export_files(conn, TZ, "csv") == out


def test_xlsx_export_round_trips(conn):
    import_files(conn, example_files(), TZ)
    csv_out = export_files(conn, TZ, "csv")
    xlsx_out = export_files(conn, TZ, "xlsx")
    assert list(xlsx_out) == ["registry.xlsx"]
    assert xlsx_out["registry.xlsx"] == (EXAMPLES / "province.xlsx").read_bytes()
    conn.execute("TRUNCATE meter, institution_year, institution CASCADE")
    import_files(conn, list(xlsx_out.items()), TZ)
    assert export_files(conn, TZ, "csv") == csv_out


def test_upsert_updates_changed_rows_only(conn):
    import_files(conn, example_files(), TZ)
    summary = import_files(
        conn,
        [
            csv_file(
                "i.csv",
                INST_HEADER,
                "nj-fgw,南京市发展和改革委员会(新址),government,,city,320100,"
                "hot_summer_cold_winter,2020,江苏省南京市建邺区江东中路268号",
            ),
            csv_file("y.csv", YEAR_HEADER, "nj-fgw,2026,30000,900", "nj-fgw,2027,30000,910"),
        ],
        TZ,
    )
    assert (summary.institutions.updated, summary.institutions.inserted) == (1, 0)
    assert (summary.institution_years.updated, summary.institution_years.inserted) == (1, 1)
    inst = get_institution(conn, "nj-fgw")
    assert inst.name == "南京市发展和改革委员会(新址)"
    assert counts(conn) == {"institution": 91, "institution_year": 456, "meter": 377, "reported_usage": 720}


def test_omitted_optional_column_keeps_stored_value(conn):
    import_files(conn, example_files(), TZ)
    # No address / baseline_year / sub_kind columns: those stay as stored.
    summary = import_files(
        conn,
        [
            csv_file(
                "i.csv",
                "id,name,category,admin_level,region_code,climate_zone",
                "nj-fgw,南京市发改委,government,city,320100,hot_summer_cold_winter",
            )
        ],
        TZ,
    )
    assert summary.institutions.updated == 1
    inst = get_institution(conn, "nj-fgw")
    assert inst.name == "南京市发改委"
    assert inst.address == "江苏省南京市建邺区江东中路265号" and inst.baseline_year == 2020


def test_chinese_labels_and_unit_spellings_are_accepted(conn):
    summary = import_files(
        conn,
        [
            csv_file("i.csv", INST_HEADER, "h1,某县人民医院,医院,二级,县级,320300,寒冷,2020,"),
            csv_file(
                "m.csv",
                METER_HEADER,
                "h1.e,h1,总电表,电力,kwh,累计读数,总表,,1,,,2019-01-01,",
                "h1.w,h1,总水表,水,m³,cumulative,main,,,,,2019-01-01,",
            ),
        ],
        TZ,
    )
    assert summary.meters.inserted == 2
    inst = get_institution(conn, "h1")
    assert (inst.category, inst.sub_kind, inst.admin_level, inst.climate_zone) == (
        "hospital",
        "grade2",
        "county",
        "cold",
    )
    m = {r.id: r for r in list_meters(conn)}
    assert (m["h1.e"].energy_type, m["h1.e"].unit, m["h1.e"].register, m["h1.e"].end_use) == (
        "electricity",
        "kWh",
        "cumulative",
        "main",
    )
    assert (m["h1.w"].unit, m["h1.w"].multiplier) == ("m3", 1.0)


def test_naive_timestamps_are_in_the_deployment_zone(conn):
    files = [
        csv_file("i.csv", INST_HEADER, "g1,某局,government,,city,320100,hot_summer_cold_winter,,"),
        csv_file(
            "m.csv",
            METER_HEADER,
            "g1.e,g1,,electricity,kWh,cumulative,main,,,,,2019-01-01 08:30,",
            "g1.w,g1,,water,m3,cumulative,main,,,,,2019-01-01T00:30:00Z,2024-04-01",
        ),
    ]
    import_files(conn, files, ZoneInfo("Asia/Shanghai"))
    m = {r.id: r for r in list_meters(conn)}
    assert m["g1.e"].installed_at == datetime(2019, 1, 1, 0, 30, tzinfo=UTC)
    assert m["g1.w"].installed_at == datetime(2019, 1, 1, 0, 30, tzinfo=UTC)
    assert m["g1.w"].retired_at == datetime(2024, 4, 1, tzinfo=timezone(timedelta(hours=8)))
    out = export_files(conn, ZoneInfo("Asia/Shanghai"), "csv")["meters.csv"].decode()
    assert "2019-01-01T08:30:00+08:00" in out and "2024-04-01T00:00:00+08:00" in out
    # A deployment elsewhere reads the same naive text in its own zone.
    conn.execute("TRUNCATE meter, institution_year, institution CASCADE")
    import_files(conn, files, UTC)
    assert list_meters(conn)[0].installed_at == datetime(2019, 1, 1, 8, 30, tzinfo=UTC)


def test_read_queries(conn):
    import_files(conn, example_files(), TZ)
    meters = list_meters(conn)
    assert len(meters) == 377 and [m.id for m in meters] == sorted(m.id for m in meters)
    main = next(m for m in meters if m.id == "sz-szdx-fy1.e-main")
    assert (main.institution_id, main.energy_type, main.unit, main.register, main.end_use) == (
        "sz-szdx-fy1",
        "electricity",
        "kWh",
        "cumulative",
        "main",
    )
    assert main.multiplier == 80 and main.installed_at == datetime(2019, 1, 1, tzinfo=TZ)
    assert len(list_meters(conn, "sz-szdx-fy1")) == 5

    nanjing = list_institutions(conn, "320100")
    assert {i.id.split("-")[0] for i in nanjing} == {"js", "nj"}
    assert len(list_institutions(conn, "320000")) == 91  # the province and every city under it
    assert len(list_institutions(conn, region_codes=["320300", "320700"])) == 13
    assert list_institutions(conn, "999999") == []
    assert get_institution(conn, "xz-ykdx-fy").name == "徐州医科大学附属医院"
    assert get_institution(conn, "nope") is None


def test_concurrent_imports_do_not_interleave(db_url):
    # Two connections importing at once: the advisory lock serialises them; both succeed.
    import threading

    results: list[object] = []

    def run():
        with psycopg.connect(db_url, autocommit=True) as c:
            try:
                results.append(import_files(c, example_files(), TZ))
            except Exception as exc:  # the assertion below shows it
                results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(not isinstance(r, Exception) for r in results), results
    assert sorted(r.meters.inserted for r in results) == [0, 377]
