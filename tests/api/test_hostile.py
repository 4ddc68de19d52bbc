"""Hostile and malformed parameters get a 4xx with a JSON reason, never a 500, and change nothing."""

from __future__ import annotations

import pytest

INJECT = "1' OR '1'='1"


@pytest.mark.parametrize(
    "path,params",
    [
        ("/v1/institutions/" + INJECT, {}),
        ("/v1/institutions/NJ-GOV-001;DROP TABLE institution", {}),
        ("/v1/institutions", {"region_code": "320100' OR 1=1 --"}),
        ("/v1/institutions", {"category": "school' OR 1=1"}),
        ("/v1/institutions", {"limit": 10**9}),
        ("/v1/institutions", {"limit": 0}),
        ("/v1/institutions", {"offset": -1}),
        ("/v1/institutions", {"q": "x" * 101}),
        ("/v1/institutions", {"format": "exe"}),
        ("/v1/runs", {"year": 99999}),
        ("/v1/runs/abc", {}),
        ("/v1/runs/0", {}),
        ("/v1/runs/" + str(2**70), {}),
        ("/v1/runs/1/rankings", {"sort": "total_points; DROP TABLE scoring_result"}),
        ("/v1/runs/1/rankings", {"order": "sideways"}),
        ("/v1/runs/1/rankings", {"eligible": "maybe"}),
        ("/v1/rankings", {}),
        ("/v1/rankings", {"year": "2026-01"}),
        ("/v1/institutions/NJ-GOV-001/report", {"year": "twenty"}),
        ("/v1/institutions/NJ-GOV-001/report", {"year": 1900}),
        ("/v1/institutions/NJ-GOV-001/report", {"run_id": -5}),
        ("/v1/institutions/NJ-GOV-001/usage", {"start": "2026-13-45", "end": "2026-02-01"}),
        ("/v1/institutions/NJ-GOV-001/usage", {"start": "yesterday", "end": "2026-02-01"}),
        ("/v1/institutions/NJ-GOV-001/usage", {"start": "2026-02-01", "end": "2026-01-01"}),
        ("/v1/institutions/NJ-GOV-001/usage", {"start": "2026-01-01", "end": "2026-01-01"}),
        ("/v1/institutions/NJ-GOV-001/usage", {"start": "0001-01-01", "end": "9999-12-31", "bucket": "year"}),
        ("/v1/institutions/NJ-GOV-001/usage", {"start": "2026-01-01", "end": "2027-01-01", "bucket": "hour"}),
        ("/v1/institutions/NJ-GOV-001/usage", {"start": "2020-01-01", "end": "2026-01-01", "bucket": "day"}),
        ("/v1/institutions/NJ-GOV-001/usage", {"start": "2026-01-01", "end": "2026-02-01", "bucket": "week"}),
        (
            "/v1/institutions/NJ-GOV-001/usage",
            {"start": "2026-01-01", "end": "2026-02-01", "energy_type": "plutonium"},
        ),
        ("/v1/institutions/NJ-GOV-001/usage", {"end": "2026-02-01"}),
        ("/v1/institutions/NJ-GOV-001/quality", {"start": "2020-01-01", "end": "2026-01-01"}),
        ("/v1/meters/" + INJECT + "/usage", {"start": "2026-01-01", "end": "2026-02-01"}),
        ("/v1/institutions/NJ-GOV-001/assessed-items", {"year": "all"}),
        ("/v1/access-log", {"institution_id": INJECT}),
        ("/v1/registry/export", {"format": "sql"}),
    ],
)
def test_bad_parameters_are_422(api, path, params):
    r = api.get("admin", path, params=params)
    assert r.status_code == 422, (path, params, r.status_code, r.text[:300])
    assert r.json()["detail"]


@pytest.mark.parametrize(
    "path,params",
    [
        ("/v1/institutions/NO-SUCH", {}),
        ("/v1/institutions/NO-SUCH/report", {"year": 2026}),
        ("/v1/meters/NO-SUCH/usage", {"start": "2026-01-01", "end": "2026-02-01"}),
        ("/v1/meters/NO-SUCH/quality", {"start": "2026-01-01", "end": "2026-02-01"}),
        ("/v1/runs/99999999", {}),
        ("/v1/runs/99999999/rankings", {}),
        ("/v1/rankings", {"year": 2099}),
        ("/v1/institutions", {"region_code": "999999"}),
    ],
)
def test_unknown_things_are_404(api, path, params):
    r = api.get("admin", path, params=params)
    assert r.status_code == 404, r.text
    assert r.json()["detail"]


def test_injection_text_is_just_text(api):
    r = api.get("admin", "/v1/institutions", params={"q": "'; DROP TABLE institution; --"})
    assert r.status_code == 200 and r.json()["total"] == 0
    r = api.get("admin", "/v1/institutions", params={"q": "%"})  # not a LIKE wildcard here
    assert r.json()["total"] == 0
    assert api.get("admin", "/v1/institutions").json()["total"] == 4


def test_bad_bodies(api):
    r = api.request(
        "POST", "admin", "/v1/runs", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    r = api.request("POST", "admin", "/v1/runs", json={"year": 3000})
    assert r.status_code == 422
    r = api.request("POST", "admin", "/v1/runs", json={"year": 2026, "region_code": "32"})
    assert r.status_code == 422
    r = api.request("POST", "admin", "/v1/runs", json={"year": 2026, "region_code": "999999"})
    assert r.status_code == 404


def test_unknown_route_and_method(api):
    r = api.get("admin", "/v1/nothing-here")
    assert r.status_code == 404 and r.json()["detail"]
    r = api.request("DELETE", "admin", "/v1/institutions")
    assert r.status_code == 405 and r.json()["detail"]


def test_metrics(api):
    api.get("admin", "/v1/institutions/NJ-GOV-001")
    text = api.get("admin", "/metrics").text
    assert (
        'jieneng_api_requests_total{method="GET",route="/v1/institutions/{institution_id}",status="200"}'
        in text
    )
    assert "jieneng_api_request_seconds_bucket" in text


def test_nul_bytes_are_a_client_error(api):
    # PostgreSQL text cannot hold NUL: psycopg refuses it with a DataError, which is the client's input.
    r = api.get("admin", "/v1/institutions", params={"q": "a\x00b"})
    assert r.status_code == 400, r.text
    assert "invalid value" in r.json()["detail"]


def test_server_faults_are_logged_json_500s(api_rw, caplog):
    import psycopg

    with psycopg.connect(api_rw.url) as conn:
        conn.execute(
            "UPDATE scoring_result SET detail = '{\"not\": \"a result\"}' WHERE institution_id = 'SZ-HOS-001'"
        )
    with caplog.at_level("ERROR", logger="api.errors"):
        r = api_rw.get("admin", "/v1/institutions/SZ-HOS-001/report", params={"year": 2026})
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error; it has been logged"}
    assert any(
        "unhandled error on GET /v1/institutions/SZ-HOS-001/report" in rec.getMessage()
        for rec in caplog.records
    )
