"""Starting a run with the real scorer over the API, and registry upload/export round trips."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(api, who: str, body: dict) -> dict:
    """Queue a run and follow its job to the stored run."""
    from .test_jobs import wait_done

    r = api.request("POST", who, "/v1/runs", json=body)
    assert r.status_code == 202, r.text
    job = wait_done(api, r.json()["id"])
    assert job["status"] == "done", job
    return api.get(who, job["result"]).json()


def test_start_run_and_report_it(api_rw):
    run = _run(api_rw, "assessor", {"year": 2026})
    assert run["created_by"] == "api:test-assessor"
    assert run["institutions"] == 4
    latest = api_rw.get("city_nj", "/v1/rankings", params={"year": 2026}).json()
    assert {row["institution_id"] for row in latest["items"]} == {"NJ-GOV-001", "NJ-SCH-002"}
    # The scorer's own detail is served through the report model as is.
    rep = api_rw.get("inst_nj", "/v1/institutions/NJ-GOV-001/report", params={"year": 2026})
    assert rep.status_code == 200, rep.text
    body = rep.json()
    assert body["run"]["id"] == run["id"]
    assert body["result"]["methodology"]["hash"] == run["methodology_hash"]
    assert any(m["energy_kgce"] for m in body["monthly_energy"])
    pdf = api_rw.get("inst_nj", "/v1/institutions/NJ-GOV-001/report", params={"year": 2026, "format": "pdf"})
    assert "南京市机关事务管理局" in "".join(
        p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages
    )
    detail = api_rw.get("admin", f"/v1/runs/{run['id']}").json()
    assert detail["methodology_text"] and detail["methodology_hash"] == run["methodology_hash"]


def test_start_run_for_a_region(api_rw):
    run = _run(api_rw, "admin", {"year": 2026, "region_code": "320500"})
    assert run["region_code"] == "320500" and run["institutions"] == 2
    assert api_rw.get("city_nj", f"/v1/runs/{run['id']}").status_code == 403


@pytest.mark.skipif(not (EXAMPLES / "institutions.csv").exists(), reason="example registry files not present")
def test_registry_import_export_round_trip(api_rw):
    files = [
        ("files", (p.name, p.read_bytes(), "text/csv"))
        for p in (EXAMPLES / "institutions.csv", EXAMPLES / "institution_years.csv", EXAMPLES / "meters.csv")
    ]
    r = api_rw.request("POST", "admin", "/v1/registry/import", files=files)
    assert r.status_code == 200, r.text
    summary = r.json()["summary"]
    assert summary["institutions"]["inserted"] == 91 and summary["changed"] > 0
    again = api_rw.request("POST", "admin", "/v1/registry/import", files=files).json()["summary"]
    assert again["changed"] == 0
    export = api_rw.get("admin", "/v1/registry/export")
    assert export.status_code == 200 and export.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(export.content)).namelist()
    assert sorted(names) == ["institution_years.csv", "institutions.csv", "meters.csv", "reported_usage.csv"]
    xlsx = api_rw.get("admin", "/v1/registry/export", params={"format": "xlsx"})
    assert zipfile.ZipFile(io.BytesIO(xlsx.content)).namelist() == ["registry.xlsx"]
    # The Nanjing assessor sees exactly the imported institutions in Nanjing and its counties (GB/T 2260
    # codes 3201xx, an oracle independent of the region table) plus the seeded ones.
    import csv

    with open(EXAMPLES / "institutions.csv", encoding="utf-8-sig") as f:
        nanjing = {row["id"] for row in csv.DictReader(f) if row["region_code"].startswith("3201")}
    assert nanjing
    ids = {i["id"] for i in api_rw.get("city_nj", "/v1/institutions", params={"limit": 1000}).json()["items"]}
    assert ids == nanjing | {"NJ-GOV-001", "NJ-SCH-002"}


def test_registry_import_reports_every_error(api_rw):
    bad = (
        b"id,name,category,sub_kind,admin_level,region_code,climate_zone,baseline_year,address\n"
        b"x1,Bad,spaceship,,city,320100,hot_summer_cold_winter,2020,\n"
        b"x2,Worse,school,,city,999999,hot_summer_cold_winter,2020,\n"
    )
    r = api_rw.request(
        "POST", "admin", "/v1/registry/import", files=[("files", ("institutions.csv", bad, "text/csv"))]
    )
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert {e["line"] for e in errors} >= {2, 3}
    assert all({"file", "line", "column", "message"} <= set(e) for e in errors)
    assert api_rw.get("admin", "/v1/institutions").json()["total"] == 4
    assert api_rw.request("POST", "admin", "/v1/registry/import").status_code == 422
