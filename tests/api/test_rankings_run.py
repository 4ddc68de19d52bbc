"""`/v1/rankings?year=` serves the newest run that covers the caller's whole scope, and says which."""

from __future__ import annotations

import psycopg

from .seed import BY_ID, insert_run


def _city_run_after_the_province_run(api) -> int:
    # `jieneng score --region 320500` after the province-wide run of the same year.
    with psycopg.connect(api.url, autocommit=True) as conn:
        return insert_run(
            conn, year=2026, region_code="320500", insts=[BY_ID["SZ-HOS-001"], BY_ID["SZ-GOV-002"]]
        )


def test_a_city_run_does_not_hide_the_province_run(api_rw):
    city_run = _city_run_after_the_province_run(api_rw)
    province_run = api_rw.runs["province_2026"]
    for who, run, ids in [
        ("assessor", province_run, {"NJ-GOV-001", "NJ-SCH-002", "SZ-HOS-001", "SZ-GOV-002"}),
        ("admin", province_run, {"NJ-GOV-001", "NJ-SCH-002", "SZ-HOS-001", "SZ-GOV-002"}),
        ("city_nj", province_run, {"NJ-GOV-001", "NJ-SCH-002"}),  # the Suzhou run does not cover Nanjing
        ("city_sz", city_run, {"SZ-HOS-001", "SZ-GOV-002"}),  # the newest run covering Suzhou
        ("inst_sz", city_run, {"SZ-HOS-001"}),
        ("inst_nj", province_run, {"NJ-GOV-001"}),
    ]:
        r = api_rw.get(who, "/v1/rankings", params={"year": 2026})
        assert r.status_code == 200, (who, r.text)
        body = r.json()
        assert {i["institution_id"] for i in body["items"]} == ids, who
        assert body["run"]["id"] == run, who
        assert r.headers["x-run-id"] == str(run)


def test_a_region_filter_picks_the_newest_run_covering_that_region(api_rw):
    city_run = _city_run_after_the_province_run(api_rw)
    r = api_rw.get("assessor", "/v1/rankings", params={"year": 2026, "region_code": "320500"})
    assert r.status_code == 200 and r.json()["run"]["id"] == city_run
    r = api_rw.get("assessor", "/v1/rankings", params={"year": 2026, "region_code": "320100"})
    assert r.json()["run"]["id"] == api_rw.runs["province_2026"]


def test_files_name_their_run(api_rw):
    run = api_rw.runs["province_2026"]
    for fmt in ("csv", "xlsx", "pdf"):
        r = api_rw.get("assessor", "/v1/rankings", params={"year": 2026, "format": fmt})
        assert r.status_code == 200 and r.headers["x-run-id"] == str(run)
        assert f"run{run}" in r.headers["content-disposition"]
