"""What schemathesis found the OpenAPI document and the API disagreeing on, each pinned down."""

from __future__ import annotations

from api.app import create_app
from api.config import ApiConfig

ITEM = "/v1/institutions/NJ-GOV-001/assessed-items/2026/{code}"


def test_405_lists_every_method_of_the_path(api):
    r = api.get("admin", ITEM.format(code="M1"))
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["allow"].split(",")} == {"PUT", "DELETE"}


def test_true_is_not_a_number(api_rw):
    r = api_rw.request("PUT", "assessor", ITEM.format(code="M1"), json={"points": True})
    assert r.status_code == 422, r.text
    r = api_rw.request("POST", "assessor", "/v1/runs", json={"year": True})
    assert r.status_code == 422, r.text
    r = api_rw.request("POST", "assessor", "/v1/runs", json={"year": "2026"})
    assert r.status_code == 422, r.text


def test_unknown_item_code_is_404(api_rw):
    r = api_rw.request("PUT", "assessor", ITEM.format(code="NO-SUCH-ITEM"), json={"points": 1})
    assert r.status_code == 404, r.text


def test_report_without_year_is_the_latest(api):
    r = api.get("inst_nj", "/v1/institutions/NJ-GOV-001/report")
    assert r.status_code == 200, r.text
    assert r.json()["run"]["id"] == api.runs["province_2026"]


def test_schema_documents_what_the_api_answers():
    spec = create_app(ApiConfig(database_url="postgresql://unused")).openapi()
    for path, item in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, op in item.items():
            assert {"400", "401", "413", "422", "429"} <= set(op["responses"]), (method, path)
    usage = spec["paths"]["/v1/institutions/{institution_id}/usage"]["get"]["parameters"]
    start = next(p for p in usage if p["name"] == "start")
    assert start["schema"]["pattern"].startswith("^(20")
