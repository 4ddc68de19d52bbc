"""Audit and abuse: every pull of personal or registry data and every refusal is in the access log;
keys may expire; failed authentications are limited per client; /metrics needs a key; redirects
never echo the Host header."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from store import api_keys

from .conftest import TIMEZONE, _clone, _drop, _url


def _log(url: str, *, served: bool | None = None) -> list[tuple]:
    where = "" if served is None else ("WHERE status < 400" if served else "WHERE status >= 400")
    with psycopg.connect(url) as conn:
        return conn.execute(
            f"SELECT key_name, resource, institution_id, format, status, path FROM report_access {where} ORDER BY id"
        ).fetchall()


PULLS = [
    ("/v1/institutions", {"format": "csv"}, "institutions", None, "csv"),
    ("/v1/institutions/NJ-GOV-001", {}, "institution", "NJ-GOV-001", "json"),
    (
        "/v1/institutions/NJ-GOV-001/usage",
        {"start": "2026-01-01", "end": "2026-02-01"},
        "usage",
        "NJ-GOV-001",
        "json",
    ),
    (
        "/v1/meters/NJ-GOV-001-E1/usage",
        {"start": "2026-01-01", "end": "2026-02-01", "format": "xlsx"},
        "usage",
        "NJ-GOV-001",
        "xlsx",
    ),
    (
        "/v1/institutions/NJ-GOV-001/quality",
        {"start": "2026-01-01", "end": "2026-02-01"},
        "quality",
        "NJ-GOV-001",
        "json",
    ),
    (
        "/v1/meters/NJ-GOV-001-E1/quality",
        {"start": "2026-01-01", "end": "2026-02-01", "format": "csv"},
        "quality",
        "NJ-GOV-001",
        "csv",
    ),
    ("/v1/institutions/NJ-GOV-001/assessed-items", {"year": 2026}, "assessed_items", "NJ-GOV-001", "json"),
    ("/v1/institutions/NJ-GOV-001/assessed-items/audit", {}, "assessed_audit", "NJ-GOV-001", "json"),
]


def test_every_pull_of_personal_or_registry_data_is_logged(api_rw):
    expected = []
    for path, params, resource, inst, fmt in PULLS:
        r = api_rw.get("city_nj", path, params=params)
        assert r.status_code == 200, (path, r.text)
        expected.append(("test-city_nj", resource, inst, fmt, 200))
    assert api_rw.get("admin", "/v1/registry/export", params={"format": "xlsx"}).status_code == 200
    expected.append(("test-admin", "registry_export", None, "xlsx", 200))
    assert [row[:5] for row in _log(api_rw.url)] == expected


def test_refusals_are_logged(api_rw):
    assert api_rw.get("city_nj", "/v1/institutions/SZ-HOS-001").status_code == 403
    assert api_rw.get("revoked", "/v1/institutions").status_code == 401
    assert api_rw.client.get("/v1/institutions").status_code == 401
    assert api_rw.request("POST", None, "/v1/runs", json={"year": 2026}).status_code == 401
    assert api_rw.get("city_nj", "/v1/registry/export").status_code == 403
    rows = _log(api_rw.url, served=False)
    assert [(r[0], r[4], r[5]) for r in rows] == [
        ("test-city_nj", 403, "/v1/institutions/SZ-HOS-001"),
        (None, 401, "/v1/institutions"),
        (None, 401, "/v1/institutions"),
        (None, 401, "/v1/runs"),
        ("test-city_nj", 403, "/v1/registry/export"),
    ]
    assert _log(api_rw.url, served=True) == []
    log = api_rw.get("admin", "/v1/access-log").json()
    assert {e["status"] for e in log} >= {401, 403} and all("client_addr" in e for e in log)


def test_keys_expire(api_rw):
    with psycopg.connect(api_rw.url) as conn:
        _, old = api_keys.create_key(
            conn, role="admin", name="old", expires_at=datetime.now(UTC) - timedelta(seconds=1)
        )
        _, new = api_keys.create_key(
            conn, role="admin", name="new", expires_at=datetime.now(UTC) + timedelta(days=1)
        )
    r = api_rw.client.get("/v1/me", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    r = api_rw.client.get("/v1/me", headers={"Authorization": f"Bearer {new}"})
    assert r.status_code == 200


@pytest.fixture
def strict(pg_admin_url, seeded):
    """An app that allows 5 failed authentications per client per minute."""
    name = _clone(pg_admin_url, seeded.template)
    app = create_app(
        ApiConfig(
            database_url=_url(pg_admin_url, name),
            timezone=TIMEZONE,
            job_worker=False,
            auth_max_failures=5,
            auth_failure_window_s=60,
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, seeded.tokens
    _drop(pg_admin_url, name)


def test_failed_authentications_are_limited_per_client(strict):
    client, tokens = strict
    bad = {"Authorization": "Bearer jn_aaaaaaaaaa_nope"}
    statuses = [client.get("/v1/institutions", headers=bad).status_code for _ in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    r = client.get("/v1/institutions", headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 60
    r = client.post("/v1/runs", json={"year": 2026}, headers=bad)
    assert r.status_code == 429 and r.headers["retry-after"]
    # Another client is not affected.
    other = TestClient(client.app, client=("192.0.2.7", 5000))
    assert (
        other.get("/v1/institutions", headers={"Authorization": f"Bearer {tokens['admin']}"}).status_code
        == 200
    )


def test_metrics_need_an_admin_key(api):
    assert api.client.get("/metrics").status_code == 401
    assert api.get("city_nj", "/metrics").status_code == 403
    r = api.get("admin", "/metrics")
    assert r.status_code == 200 and "jieneng_api_requests_total" in r.text


def test_redirects_do_not_echo_the_host_header(api):
    r = api.get("admin", "/v1/institutions/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert "evil.example" not in r.headers.get("location", "")
    assert r.status_code == 404
