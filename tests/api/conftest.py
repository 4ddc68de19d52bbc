"""API test fixtures: a seeded database template (two cities, runs, keys of every role) cloned per use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from api.app import create_app
from api.config import ApiConfig
from store import api_keys
from store.db import with_dbname

from .seed import seed

TIMEZONE = "Asia/Shanghai"


def _url(admin_url: str, dbname: str) -> str:
    return with_dbname(admin_url, dbname)


def _clone(admin_url: str, template: str) -> str:
    name = f"jieneng_api_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        )
    return name


def _drop(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass
class Seeded:
    template: str
    runs: dict[str, int]
    tokens: dict[str, str]
    key_ids: dict[str, int]


KEYS = {
    "admin": dict(role="admin"),
    "assessor": dict(role="assessor"),
    "city_nj": dict(role="city_assessor", region_code="320100"),
    "city_sz": dict(role="city_assessor", region_code="320500"),
    "inst_nj": dict(role="institution", institution_id="NJ-GOV-001"),
    "inst_sz": dict(role="institution", institution_id="SZ-HOS-001"),
    "revoked": dict(role="admin"),
}


@pytest.fixture(scope="session")
def seeded(pg_admin_url, migrated_template) -> Seeded:
    name = _clone(pg_admin_url, migrated_template)
    tokens, ids = {}, {}
    with psycopg.connect(_url(pg_admin_url, name)) as conn:
        runs = seed(conn)
        for label, kw in KEYS.items():
            key, token = api_keys.create_key(conn, name=f"test-{label}", **kw)
            tokens[label], ids[label] = token, key.id
        api_keys.revoke_key(conn, ids["revoked"])
    yield Seeded(name, runs, tokens, ids)
    _drop(pg_admin_url, name)


@dataclass
class Env:
    client: TestClient
    url: str
    runs: dict[str, int]
    tokens: dict[str, str]
    key_ids: dict[str, int]

    def get(self, who: str | None, path: str, **kw):
        headers = kw.pop("headers", {})
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return self.client.get(path, headers=headers, **kw)

    def request(self, method: str, who: str | None, path: str, **kw):
        headers = kw.pop("headers", {})
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return self.client.request(method, path, headers=headers, **kw)


def _env(pg_admin_url: str, seeded: Seeded):
    name = _clone(pg_admin_url, seeded.template)
    url = _url(pg_admin_url, name)
    app = create_app(
        ApiConfig(
            database_url=url, timezone=TIMEZONE, pool_min_size=1, pool_max_size=4, auth_max_failures=10_000
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Env(client, url, seeded.runs, seeded.tokens, seeded.key_ids)
    _drop(pg_admin_url, name)


@pytest.fixture(scope="session")
def api(pg_admin_url, seeded):
    """A shared app on a seeded database: for tests that only read (the access log aside)."""
    yield from _env(pg_admin_url, seeded)


@pytest.fixture
def api_rw(pg_admin_url, seeded):
    """An app on a database of this test's own: for tests that write."""
    yield from _env(pg_admin_url, seeded)


# --- a real uvicorn process, for what the in-process client cannot show (streaming bodies, memory) ------


@dataclass
class LiveApi:
    base: str
    host: str
    port: int
    pid: int
    tokens: dict[str, str]
    url: str


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _live(pg_admin_url, seeded, extra_env: dict[str, str] | None = None):
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    name = _clone(pg_admin_url, seeded.template)
    url = _url(pg_admin_url, name)
    port = _free_port()
    env = {
        **os.environ,
        "JIENENG_DATABASE_URL": url,
        "JIENENG_TIMEZONE": TIMEZONE,
        "JIENENG_LOG_LEVEL": "WARNING",
        "JIENENG_POOL_MAX_SIZE": "4",
        **(extra_env or {}),
    }
    exe = Path(sys.executable).with_name("jieneng")
    proc = subprocess.Popen([str(exe), "api", "--host", "127.0.0.1", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/v1/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jieneng api did not start (exit {proc.poll()})")
            time.sleep(0.2)
        yield LiveApi(base, "127.0.0.1", port, proc.pid, seeded.tokens, url)
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _drop(pg_admin_url, name)


@pytest.fixture
def live_api(pg_admin_url, seeded):
    """`jieneng api` in its own process on a database of this test's own."""
    yield from _live(pg_admin_url, seeded)


@pytest.fixture(scope="module")
def live_api_module(pg_admin_url, seeded):
    """As live_api, shared by a module's tests; scoring jobs are queued, not run, and failed
    authentications are not limited (property tests send many on purpose)."""
    yield from _live(
        pg_admin_url, seeded, {"JIENENG_API_JOB_WORKER": "false", "JIENENG_API_AUTH_MAX_FAILURES": "1000000"}
    )
