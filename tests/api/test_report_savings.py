"""The institution report's verified-savings and degree-day sections, in JSON, CSV and PDF."""

from __future__ import annotations

import datetime as dt
import io

import psycopg
import pytest
from pypdf import PdfReader

from store import api_keys, api_pulls
from store.savings import replace_result, section_reads

REPORT = "/v1/institutions/NJ-GOV-001/report"
PROJECT = (
    "INSERT INTO project (id, institution_id, kind, name, energy_types, baseline_from, baseline_to, "
    "install_from, install_to, reporting_from, reporting_to, contract_ref) VALUES "
    "(%s, %s, 'epc', %s, 'electricity', '2025-01-01', '2025-12-31', '2026-01-01', '2026-01-31', "
    "'2026-02-01', '2026-11-30', %s)"
)


def _result(project_id: str, **kw) -> dict:
    r = dict(
        project_id=project_id,
        energy_type="electricity",
        unit="kWh",
        model_id=None,
        reporting_from=dt.date(2026, 2, 1),
        reporting_to=dt.date(2026, 11, 30),
        reporting_days=303,
        predicted=150_000.0,
        metered=137_655.0,
        avoided=12_345.0,
        avoided_uncertainty=678.0,
        confidence_level=0.9,
        avoided_kgce=1_517.2,
        avoided_cost_yuan=8_394.6,
        previous_year_metered=150_100.0,
        year_on_year_change=-0.083,
        hdd=900.0,
        cdd=300.0,
        previous_year_hdd=1000.0,
        previous_year_cdd=280.0,
        status="ok",
        reasons=[],
    )
    r.update(kw)
    return r


@pytest.fixture
def with_savings(api_rw):
    """NJ-GOV-001 and SZ-HOS-001 each with a verified project; Nanjing's weather: all of 2025 at 10 °C
    (HDD18 = 8 × 365), only the first 100 days of 2026."""
    with psycopg.connect(api_rw.url) as c:
        c.execute(PROJECT, ("nj-epc", "NJ-GOV-001", "照明改造 lighting", "EPC-NJ-7"))
        c.execute(PROJECT, ("sz-epc", "SZ-HOS-001", "苏州项目", "EPC-SZ-SECRET"))
        replace_result(c, _result("nj-epc"), [])
        replace_result(c, _result("sz-epc", avoided=99_999.0), [])
        days = [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(365 + 100)]
        c.cursor().executemany(
            "INSERT INTO weather_daily (region_code, day, mean_temp_c) VALUES ('320100', %s, 10)",
            [(d,) for d in days],
        )
    return api_rw


def test_report_json_savings_and_degree_days(with_savings):
    api = with_savings
    r = api.get("inst_nj", REPORT, params={"year": 2026})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["id"] for p in body["savings"]] == ["nj-epc"]  # its own project only
    p = body["savings"][0]
    assert p["contract_ref"] == "EPC-NJ-7" and p["reporting"] == "2026-02-01..2026-11-30"
    s = p["savings"][0]
    assert (s["avoided"], s["avoided_uncertainty"], s["avoided_kgce"], s["avoided_cost_yuan"]) == (
        12_345.0,
        678.0,
        1_517.2,
        8_394.6,
    )
    assert s["year_on_year_change"] == -0.083 and s["avoided_share"] == pytest.approx(12_345 / 150_000)
    assert "EPC-SZ-SECRET" not in r.text

    dd = body["degree_days"]
    assert (dd["region_code"], dd["hdd_base_c"], dd["cdd_base_c"]) == ("320100", 18.0, 26.0)
    now, before = dd["years"]
    assert now["year"] == 2026 and now["hdd"] is None and now["cdd"] is None
    assert now["missing_reason"] == "only 100 of 365 days of 2026 have a temperature for region 320100"
    assert before == {
        "year": 2025,
        "hdd": pytest.approx(8 * 365),
        "cdd": 0.0,
        "days_with_temperature": 365,
        "days_in_year": 365,
        "energy_per_area_kgce_m2": before["energy_per_area_kgce_m2"],
        "missing_reason": None,
    }
    inputs = body["result"]["inputs"]
    for y, key in ((now, "current"), (before, "previous")):
        want = inputs[key]["building_energy_kgce"] / inputs[key]["floor_area_m2"]
        assert y["energy_per_area_kgce_m2"] == pytest.approx(want)
    assert dd["energy_per_area_change"] == pytest.approx(
        now["energy_per_area_kgce_m2"] / before["energy_per_area_kgce_m2"] - 1
    )
    assert dd["hdd_change"] is None  # one side missing: no change, never a made-up one

    # 2025's report: the year before has no weather at all, said so, not a 500
    dd = api.get("admin", REPORT, params={"year": 2025}).json()["degree_days"]
    assert dd["years"][0]["hdd"] == pytest.approx(8 * 365)
    assert dd["years"][1]["hdd"] is None and dd["years"][1]["missing_reason"] == (
        "no daily temperature for region 320100 in 2024 (import it: `jieneng weather import`)"
    )


def test_report_savings_scope(with_savings):
    api = with_savings
    assert api.get("inst_sz", REPORT, params={"year": 2026}).status_code == 403
    body = api.get("city_sz", "/v1/institutions/SZ-HOS-001/report", params={"year": 2026}).json()
    assert [p["id"] for p in body["savings"]] == ["sz-epc"]


def test_report_pdf_savings_and_degree_days(with_savings):
    r = with_savings.get("inst_nj", REPORT, params={"year": 2026, "format": "pdf"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    assert "Verified savings (2026)" in text and "EPC-NJ-7" in text
    assert "12,345 kWh" in text and "678" in text and "1,517" in text and "8,395" in text and "-8.3%" in text
    assert "EPC-SZ-SECRET" not in text
    assert "Degree days (2026)" in text and "2,920" in text  # HDD18 of 2025
    assert "only 100 of 365 days of 2026" in text


def test_report_without_projects_or_weather(api):
    """The shared seed has neither projects nor weather: empty savings, null degree days with reasons."""
    body = api.get("inst_nj", REPORT, params={"year": 2026}).json()
    assert body["savings"] == []
    assert [y["missing_reason"] is not None and y["hdd"] is None for y in body["degree_days"]["years"]] == [
        True,
        True,
    ]
    r = api.get("inst_nj", REPORT, params={"year": 2026, "format": "pdf"})
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    assert "No verified project for this year." in text


def test_report_csv_savings_and_degree_days(with_savings):
    import csv

    r = with_savings.get("inst_nj", REPORT, params={"year": 2026, "format": "csv"})
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    by = {(row[0], row[1]): row for row in rows}
    assert by[("节能量核证", "nj-epc electricity")][2:4] == ["12345.0", "kWh"]
    assert by[("度日数", "2025 HDD18")][2] == "2920.0"
    assert by[("度日数", "2026 HDD18")][2] == "" and "only 100 of 365" in by[("度日数", "2026 HDD18")][4]
    ratio = by[("度日数", "单位面积能耗 本年/上年")]
    assert float(ratio[2]) > 0 and "HDD 本年/上年 —(缺气温数据)" in ratio[4]


def test_report_pdf_with_longest_project_texts(api_rw):
    """The registry allows a 200-character name and a 1000-character contract reference; a table cell cannot
    split across pages, so the section must cut them rather than fail the whole PDF."""
    with psycopg.connect(api_rw.url) as c:
        c.execute(PROJECT, ("nj-long", "NJ-GOV-001", "节" * 200, "合" * 1000))
        replace_result(c, _result("nj-long"), [])
        replace_result(
            c,
            _result(
                "nj-long",
                energy_type="natural_gas",
                unit="m3",
                status="insufficient",
                reasons=["原" * 1000] * 3,
            ),
            [],
        )
    r = api_rw.get("admin", REPORT, params={"year": 2026, "format": "pdf"})
    assert r.status_code == 200, r.text[:300]
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    assert "节节节" in text and "…" in text


def test_the_report_pull_reads_the_section_as_section_reads_does(with_savings):
    # The report's one statement (store.api_pulls.report_logged) composes the section's reads into its own: for
    # the found result's year and the year before, in the institution's region, it must give what
    # store.savings.section_reads gives; nothing of them when the caller may not see the report.
    api = with_savings
    with psycopg.connect(api.url, autocommit=True) as c:
        # a county of Nanjing with rows of its own for some days, its city's for the rest
        c.execute(
            "INSERT INTO region (code, name, level, parent_code) VALUES ('320115', '江宁区', 'county', '320100') "
            "ON CONFLICT DO NOTHING"
        )
        c.execute("UPDATE institution SET region_code = '320115' WHERE id = 'NJ-GOV-001'")
        c.execute(
            "INSERT INTO weather_daily (region_code, day, mean_temp_c) VALUES ('320115', '2025-03-01', -3.5), "
            "('320115', '2024-12-31', 45), ('320100', '2027-01-01', 45)"
        )
        keys = {label: api_keys.authenticate(c, token) for label, token in api.tokens.items()}
        for who, expect_found in (("admin", True), ("city_nj", True), ("inst_nj", True), ("city_sz", False)):
            got = api_pulls.report_logged(
                c, keys[who], "NJ-GOV-001", run_id=None, year=2026, fmt="json", path="/test"
            )
            assert (got["found"] is not None) is expect_found, who
            if not expect_found:
                assert got["section"] is None, who
                continue
            year = got["found"]["year"]
            reads = section_reads(c, "NJ-GOV-001", "320115", year)
            assert got["section"].city == reads.city and got["section"].has_projects == reads.has_projects, (
                who
            )
            assert {y: sorted(t) for y, t in got["section"].temperatures.items()} == {
                y: sorted(t) for y, t in reads.temperatures.items()
            }, who
            assert (
                year == 2026 and len(reads.temperatures[2025]) == 365 and len(reads.temperatures[2026]) == 100
            )
            assert sorted(reads.temperatures[2025]) == [-3.5] + [10.0] * 364
            assert reads.has_projects and reads.city == "320100"
