"""`jieneng dashboards push` against a local http.server that records requests.

This is a contract test, not Grafana: the fake server answers the few Grafana HTTP API endpoints
push uses (GET /api/health, /api/folders/{uid}, /api/datasources/uid/{uid}; POST /api/folders,
/api/datasources, /api/dashboards/db; PUT /api/datasources/uid/{uid}) the way Grafana documents
them, and the test checks what push sent: order, auth header, payloads.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from dashboards import build
from jieneng.cli import app


class FakeGrafana:
    def __init__(self, *, healthy: bool = True, folder_exists: bool = False, datasource_exists: bool = False):
        self.requests: list[tuple[str, str, dict, dict | None]] = []
        self.healthy = healthy
        self.folder_exists = folder_exists
        self.datasource_exists = datasource_exists
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> dict | None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append((self.command, self.path, dict(self.headers), body))
                return body

            def do_GET(self):
                self._record()
                if self.path == "/api/health":
                    if fake.healthy:
                        return self._reply(200, {"commit": "x", "database": "ok", "version": "12.3.3"})
                    return self._reply(503, {"database": "failing", "version": "12.3.3"})
                if self.path == "/api/folders/jieneng":
                    if fake.folder_exists:
                        return self._reply(200, {"id": 7, "uid": "jieneng", "title": "节能 jieneng"})
                    return self._reply(404, {"message": "folder not found"})
                if self.path == "/api/datasources/uid/jieneng-pg":
                    if fake.datasource_exists:
                        return self._reply(200, {"id": 3, "uid": "jieneng-pg", "name": "jieneng"})
                    return self._reply(404, {"message": "Data source not found"})
                return self._reply(404, {"message": "not found"})

            def do_POST(self):
                body = self._record()
                if self.path == "/api/folders":
                    return self._reply(200, {"id": 7, "uid": body["uid"], "title": body["title"]})
                if self.path == "/api/datasources":
                    return self._reply(200, {"id": 3, "message": "Datasource added", "name": body["name"]})
                if self.path == "/api/dashboards/db":
                    uid = body["dashboard"]["uid"]
                    return self._reply(200, {"id": 1, "uid": uid, "status": "success", "version": 1})
                return self._reply(404, {"message": "not found"})

            def do_PUT(self):
                self._record()
                if self.path == "/api/datasources/uid/jieneng-pg":
                    return self._reply(200, {"id": 3, "message": "Datasource updated"})
                return self._reply(404, {"message": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def calls(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _, _ in self.requests]


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("JIENENG_DATABASE_URL", "postgresql://jieneng@db.internal:5433/jieneng_prod")
    monkeypatch.setenv("JIENENG_GRAFANA_DB_PASSWORD", "reader-secret")
    monkeypatch.delenv("JIENENG_DATABASE_READ_URL", raising=False)


def test_push_creates_folder_datasource_and_upserts_dashboards(env):
    with FakeGrafana() as g:
        result = CliRunner().invoke(app, ["dashboards", "push", "--url", g.url, "--token", "glsa_test"])
    assert result.exit_code == 0, result.output
    uids = [d["uid"] for d in build.dashboards()]
    assert g.calls() == [
        ("GET", "/api/health"),
        ("GET", "/api/folders/jieneng"),
        ("POST", "/api/folders"),
        ("GET", "/api/datasources/uid/jieneng-pg"),
        ("POST", "/api/datasources"),
    ] + [("POST", "/api/dashboards/db")] * len(uids)
    assert all(h.get("Authorization") == "Bearer glsa_test" for _, _, h, _ in g.requests)
    bodies = [b for _, _, _, b in g.requests]
    assert bodies[2] == {"title": "节能 jieneng", "uid": "jieneng"}
    ds = bodies[4]
    assert ds["uid"] == "jieneng-pg" and ds["type"] == "grafana-postgresql-datasource"
    assert ds["url"] == "db.internal:5433" and ds["jsonData"]["database"] == "jieneng_prod"
    assert ds["user"] == "jieneng_grafana" and ds["secureJsonData"] == {"password": "reader-secret"}
    pushed = bodies[5:]
    assert [b["dashboard"]["uid"] for b in pushed] == uids
    assert all(
        b["overwrite"] is True and b["folderUid"] == "jieneng" and b["dashboard"]["id"] is None
        for b in pushed
    )
    assert pushed[0]["dashboard"]["panels"] == build.dashboards()[0]["panels"]
    assert f"{len(uids)} dashboard(s) upserted" in result.output


def test_push_updates_existing_datasource_by_uid(env):
    with FakeGrafana(folder_exists=True, datasource_exists=True) as g:
        result = CliRunner().invoke(
            app,
            [
                "dashboards",
                "push",
                "--url",
                g.url,
                "--token",
                "t",
                "--db-host",
                "timescaledb:5432",
                "--db-name",
                "jieneng",
                "--timescaledb",
            ],
        )
    assert result.exit_code == 0, result.output
    assert ("POST", "/api/folders") not in g.calls() and ("POST", "/api/datasources") not in g.calls()
    put = next(b for m, p, _, b in g.requests if m == "PUT")
    assert put["id"] == 3 and put["url"] == "timescaledb:5432" and put["jsonData"]["timescaledb"] is True


def test_unhealthy_grafana_gets_no_writes(env):
    with FakeGrafana(healthy=False) as g:
        result = CliRunner().invoke(app, ["dashboards", "push", "--url", g.url, "--token", "t"])
    assert result.exit_code == 1
    assert "failed" in result.output
    assert g.calls() == [("GET", "/api/health")]


def test_unreachable_grafana_is_a_clear_error(env):
    with FakeGrafana() as g:
        url = g.url
    result = CliRunner().invoke(app, ["dashboards", "push", "--url", url, "--token", "t"])
    assert result.exit_code == 1
    assert "error:" in result.output and "Traceback" not in result.output


def test_build_check_passes_on_committed_files_and_fails_on_stale(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["dashboards", "build", "--check"])
    assert ok.exit_code == 0, ok.output
    wrote = runner.invoke(app, ["dashboards", "build", "--out", str(tmp_path)])
    assert wrote.exit_code == 0 and (tmp_path / "generated" / "jieneng-meters.json").exists()
    (tmp_path / "generated" / "jieneng-meters.json").write_text("{}", encoding="utf-8")
    stale = runner.invoke(app, ["dashboards", "build", "--check", "--out", str(tmp_path)])
    assert stale.exit_code == 1 and "jieneng-meters.json" in stale.output
