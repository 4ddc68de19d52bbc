"""Exports parse back: CSV (UTF-8 with BOM), XLSX (typed cells, frozen header), PDF text."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from pypdf import PdfReader

from .seed import BY_ID, KGCE_PER_KWH, monthly_kwh

REPORT = "/v1/institutions/NJ-GOV-001/report"


def _rows(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "CSV must start with a UTF-8 BOM for Excel"
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_report_json_has_every_part(api):
    body = api.get("inst_nj", REPORT, params={"year": 2026}).json()
    assert body["institution"]["name"] == "南京市机关事务管理局"
    assert body["run"]["id"] == api.runs["province_2026"]
    res = body["result"]
    assert res["total_points"] == 91.25 and res["eligible"] is True
    assert res["ranks"]["province"] == 1
    assert res["inputs"]["meters"][0]["coverage"] == 0.987
    assert body["previous_year"]["run_id"] == api.runs["province_2025"]
    jan = body["monthly_energy"][0]
    inst = BY_ID["NJ-GOV-001"]
    assert jan["energy_kgce"] == pytest.approx(monthly_kwh(inst, 2026, 1) * KGCE_PER_KWH)
    assert jan["previous_kgce"] == pytest.approx(monthly_kwh(inst, 2025, 1) * KGCE_PER_KWH)


def test_report_by_run_id_and_missing(api):
    r = api.get("city_sz", "/v1/institutions/SZ-HOS-001/report", params={"run_id": api.runs["suzhou_2026"]})
    assert r.status_code == 200 and r.json()["run"]["region_code"] == "320500"
    # In scope, but not in that run: nothing to report.
    r = api.get("admin", REPORT, params={"run_id": api.runs["suzhou_2026"]})
    assert r.status_code == 404
    assert api.get("admin", REPORT, params={"year": 2031}).status_code == 404
    # Neither year nor run_id: the latest run that includes it.
    assert api.get("admin", REPORT).json()["run"]["id"] == api.runs["province_2026"]


def test_report_csv(api):
    r = api.get("admin", REPORT, params={"year": 2026, "format": "csv"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = _rows(r.content)
    assert rows[0] == ["部分", "项目", "数值", "单位", "说明"]
    by_item = {(row[0], row[1]): row for row in rows[1:]}
    assert by_item[("机构", "名称")][2] == "南京市机关事务管理局"
    assert float(by_item[("评价", "总分")][2]) == 91.25
    assert by_item[("评价", "全省排名")][2] == "1"
    assert float(by_item[("逐月综合能耗", "1月")][2]) == pytest.approx(12000 * KGCE_PER_KWH)


def test_report_xlsx(api):
    r = api.get("admin", REPORT, params={"year": 2026, "format": "xlsx"})
    assert r.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    ws = wb.active
    assert ws.freeze_panes == "A2"
    assert [c.value for c in ws[1]] == ["部分", "项目", "数值", "单位", "说明"]
    assert ws["A1"].font.bold
    values = {(row[0].value, row[1].value): row[2].value for row in ws.iter_rows(min_row=2)}
    assert values[("评价", "总分")] == 91.25  # a number, not text
    assert values[("评价", "是否达标")] is True
    assert values[("机构", "名称")] == "南京市机关事务管理局"


def test_report_pdf(api):
    r = api.get("admin", REPORT, params={"year": 2026, "format": "pdf"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    assert "南京市机关事务管理局" in text
    assert "91.25" in text
    assert "单位建筑面积能耗" in text
    assert "2025年" in text and "2026年" in text  # the chart legend: this year against the previous
    assert f"{12000 * KGCE_PER_KWH:,.0f}" in text  # January's kgce in the table under the chart


def test_ranking_exports(api):
    path = f"/v1/runs/{api.runs['province_2026']}/rankings"
    rows = _rows(api.get("assessor", path, params={"format": "csv"}).content)
    assert rows[0][:5] == ["全省排名", "市内排名", "同类排名", "机构编号", "机构名称"]
    assert [r[3] for r in rows[1:]] == ["NJ-GOV-001", "SZ-HOS-001", "NJ-SCH-002", "SZ-GOV-002"]
    assert rows[-1][-1].startswith("star_item_zero")
    wb = openpyxl.load_workbook(io.BytesIO(api.get("assessor", path, params={"format": "xlsx"}).content))
    ws = wb.active
    assert ws.freeze_panes == "A2"
    assert ws.cell(row=2, column=1).value == 1 and ws.cell(row=2, column=9).value == 91.25
    pdf = api.get("city_nj", path, params={"format": "pdf"}).content
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "玄武区第一中学" in text and "南京市机关事务管理局" in text
    assert "苏州" not in text


def test_usage_export_and_buckets(api):
    day = api.get(
        "inst_nj",
        "/v1/institutions/NJ-GOV-001/usage",
        params={"start": "2026-01-01", "end": "2026-01-04", "bucket": "day", "energy_type": "electricity"},
    )
    points = day.json()["points"]
    assert [(p["bucket_start"], p["consumption"]) for p in points] == [
        ("2026-01-01", 101.0),
        ("2026-01-02", 102.0),
        ("2026-01-03", 103.0),
    ]
    hours = api.get(
        "inst_nj",
        "/v1/meters/NJ-GOV-001-E1/usage",
        params={"start": "2026-01-02", "end": "2026-01-03", "bucket": "hour"},
    ).json()["points"]
    assert len(hours) == 24 and hours[0]["bucket_start"] == "2026-01-02T00:00:00+08:00"
    year = api.get(
        "inst_nj",
        "/v1/institutions/NJ-GOV-001/usage",
        params={"start": "2025-01-01", "end": "2027-01-01", "bucket": "year", "energy_type": "water"},
    )
    assert [(p["bucket_start"], p["consumption"]) for p in year.json()["points"]] == [
        ("2025-01-01", 960.0),
        ("2026-01-01", 960.0),
    ]
    rows = _rows(
        api.get(
            "inst_nj",
            "/v1/institutions/NJ-GOV-001/usage",
            params={"start": "2026-01-01", "end": "2026-03-01", "bucket": "month", "format": "csv"},
        ).content
    )
    assert len(rows) == 1 + 2 * 2


def test_access_log_records_pulls(api_rw):
    api_rw.get("inst_nj", REPORT, params={"year": 2026, "format": "pdf"})
    api_rw.get("city_sz", "/v1/rankings", params={"year": 2026})
    log = api_rw.get("admin", "/v1/access-log").json()
    assert [(e["key_name"], e["resource"], e["format"]) for e in log[:2]] == [
        ("test-city_sz", "ranking", "json"),
        ("test-inst_nj", "report", "pdf"),
    ]
    assert log[1]["institution_id"] == "NJ-GOV-001" and log[1]["year"] == 2026
    only = api_rw.get("admin", "/v1/access-log", params={"institution_id": "NJ-GOV-001"}).json()
    assert len(only) == 1


def test_report_without_previous_year(api):
    body = api.get("admin", REPORT, params={"year": 2025}).json()
    assert body["run"]["id"] == api.runs["province_2025"]
    assert body["previous_year"] is None
    assert all(m["previous_kgce"] is None for m in body["monthly_energy"])
