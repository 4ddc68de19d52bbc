"""Scoring as a job: POST /v1/runs queues and returns at once; a worker scores; status and result
endpoints; the same inputs give the same job; one running job per year and methodology."""

from __future__ import annotations

import time

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from api.jobs import JobWorker
from store import scoring_jobs

from .conftest import TIMEZONE, Env, _clone, _drop, _url

DEADLINE_S = 120


def wait_done(api, job_id: int) -> dict:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        job = api.get("assessor", f"/v1/scoring-jobs/{job_id}").json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_post_queues_and_the_worker_scores(api_rw):
    r = api_rw.request("POST", "assessor", "/v1/runs", json={"year": 2026})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running", "done") and job["created_by"] == "api:test-assessor"
    assert r.headers["location"] == f"/v1/scoring-jobs/{job['id']}"
    job = wait_done(api_rw, job["id"])
    assert job["status"] == "done", job
    assert job["result"] == f"/v1/runs/{job['run_id']}"
    run = api_rw.get("assessor", f"/v1/scoring-jobs/{job['id']}/result")
    assert run.status_code == 200 and run.json()["id"] == job["run_id"] and run.json()["institutions"] == 4


def test_status_endpoints_refuse_other_roles_and_unknown_jobs(api_rw):
    job = api_rw.request("POST", "admin", "/v1/runs", json={"year": 2026}).json()
    assert api_rw.get("city_nj", f"/v1/scoring-jobs/{job['id']}").status_code == 403
    assert api_rw.get("inst_nj", f"/v1/scoring-jobs/{job['id']}/result").status_code == 403
    assert api_rw.get("admin", "/v1/scoring-jobs/999999").status_code == 404
    assert api_rw.request("POST", "city_nj", "/v1/runs", json={"year": 2026}).status_code == 403


@pytest.fixture
def no_worker(pg_admin_url, seeded):
    """An app that queues but does not run jobs; the test runs the worker's steps itself."""
    name = _clone(pg_admin_url, seeded.template)
    url = _url(pg_admin_url, name)
    app = create_app(
        ApiConfig(database_url=url, timezone=TIMEZONE, pool_min_size=1, pool_max_size=4, job_worker=False)
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Env(client, url, seeded.runs, seeded.tokens, seeded.key_ids)
    _drop(pg_admin_url, name)


def test_same_inputs_same_job(no_worker):
    api = no_worker
    first = api.request("POST", "assessor", "/v1/runs", json={"year": 2026}).json()
    again = api.request("POST", "admin", "/v1/runs", json={"year": 2026}).json()
    other = api.request("POST", "admin", "/v1/runs", json={"year": 2026, "region_code": "320500"}).json()
    assert again["id"] == first["id"] and other["id"] != first["id"]
    r = api.get("assessor", f"/v1/scoring-jobs/{first['id']}/result")
    assert r.status_code == 409 and r.headers["retry-after"]
    worker = JobWorker(api.url, methodology_path=None)
    try:
        assert worker.run_once() and worker.run_once() and not worker.run_once()
    finally:
        worker.stop()
    assert api.get("assessor", f"/v1/scoring-jobs/{first['id']}").json()["status"] == "done"
    # Done: the same request now queues a new job (the data may have changed since).
    assert api.request("POST", "assessor", "/v1/runs", json={"year": 2026}).json()["id"] not in (
        first["id"],
        other["id"],
    )


def test_one_running_job_per_year_and_methodology(no_worker):
    api = no_worker
    a = api.request("POST", "assessor", "/v1/runs", json={"year": 2026}).json()
    b = api.request("POST", "assessor", "/v1/runs", json={"year": 2026, "region_code": "320500"}).json()
    c = api.request("POST", "assessor", "/v1/runs", json={"year": 2025}).json()
    with psycopg.connect(api.url, autocommit=True) as other:
        # Another worker holds job a: running, with its lease.
        claimed = scoring_jobs.claim_job(other)
        assert claimed["id"] == a["id"]
        worker = JobWorker(api.url, methodology_path=None)
        try:
            assert worker.run_once()  # c (2025); b waits for a (same year and methodology)
            assert not worker.run_once()
            status = {
                j: api.get("admin", f"/v1/scoring-jobs/{j}").json()["status"]
                for j in (a["id"], b["id"], c["id"])
            }
            assert status == {a["id"]: "running", b["id"]: "queued", c["id"]: "done"}
            # The other worker dies: its lease goes with its connection; a is queued again and run, then b.
            other.close()
            assert worker.run_once() and worker.run_once() and not worker.run_once()
        finally:
            worker.stop()
    for j in (a, b):
        job = api.get("admin", f"/v1/scoring-jobs/{j['id']}").json()
        assert job["status"] == "done", job
    assert api.get("admin", f"/v1/scoring-jobs/{a['id']}").json()["attempts"] == 2


def test_one_key_cannot_flood_the_queue(no_worker, monkeypatch):
    api = no_worker
    monkeypatch.setattr(scoring_jobs, "JOB_MAX_QUEUED_PER_KEY", 3, raising=False)
    codes = [
        api.request("POST", "assessor", "/v1/runs", json={"year": y}).status_code for y in range(2020, 2025)
    ]
    assert codes == [202, 202, 202, 429, 429], codes
    r = api.request("POST", "assessor", "/v1/runs", json={"year": 2024})
    assert r.status_code == 429 and r.headers["retry-after"] and "queued" in r.json()["detail"]
    # Asking again for a job already queued is not a new job: still the same job, not refused.
    assert api.request("POST", "assessor", "/v1/runs", json={"year": 2020}).status_code == 202
    # Another key's jobs are not held back by this one's.
    assert api.request("POST", "admin", "/v1/runs", json={"year": 2024}).status_code == 202


@pytest.fixture
def own_methodology(pg_admin_url, seeded, tmp_path):
    """An app (no worker) whose methodology is a file of the test's own, which the test may edit."""
    from scoring.methodology import resolve_path

    path = tmp_path / "methodology.toml"
    path.write_bytes(resolve_path(None).read_bytes())
    name = _clone(pg_admin_url, seeded.template)
    url = _url(pg_admin_url, name)
    app = create_app(
        ApiConfig(
            database_url=url,
            timezone=TIMEZONE,
            pool_min_size=1,
            pool_max_size=4,
            job_worker=False,
            methodology_path=str(path),
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Env(client, url, seeded.runs, seeded.tokens, seeded.key_ids), path
    _drop(pg_admin_url, name)


def test_a_run_is_queued_under_the_methodology_file_as_it_is_now(own_methodology):
    # The worker scores with the file as it is when it runs and refuses a job queued under another hash:
    # a run started after the file was edited must carry the edited file's hash, or it can never run.
    from scoring.methodology import load_methodology

    api, path = own_methodology
    first = api.request("POST", "admin", "/v1/runs", json={"year": 2026}).json()
    assert first["methodology_hash"] == load_methodology(path).hash
    path.write_bytes(path.read_bytes() + b"\n# edited while the API runs\n")
    again = api.request("POST", "admin", "/v1/runs", json={"year": 2026})
    assert again.status_code == 202, again.text
    assert again.json()["methodology_hash"] == load_methodology(path).hash != first["methodology_hash"]
    worker = JobWorker(api.url, methodology_path=str(path))
    try:
        while worker.run_once():
            pass
    finally:
        worker.stop()
    assert api.get("admin", f"/v1/scoring-jobs/{again.json()['id']}").json()["status"] == "done"


def test_an_invalid_methodology_is_409_until_the_file_is_fixed(own_methodology):
    api, path = own_methodology
    good = path.read_bytes()
    path.write_bytes(b"not = [valid")
    r = api.request("POST", "admin", "/v1/runs", json={"year": 2026})
    assert r.status_code == 409 and "methodology is invalid" in r.json()["detail"], r.text
    # the role check still comes first
    assert api.request("POST", "city_nj", "/v1/runs", json={"year": 2026}).status_code == 403
    path.write_bytes(good)
    r = api.request("POST", "admin", "/v1/runs", json={"year": 2026})
    assert r.status_code == 202, r.text
