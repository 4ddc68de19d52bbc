"""`jieneng keys create|list|revoke`, and keys as the API sees them: hashed, shown once, revocable."""

from __future__ import annotations

import hashlib

import psycopg
from typer.testing import CliRunner

from jieneng.cli import app

runner = CliRunner()


def _keys(db_url: str, *args: str):
    return runner.invoke(app, ["keys", *args], env={"JIENENG_DATABASE_URL": db_url})


def test_create_list_revoke(api_rw):
    url = api_rw.url
    res = _keys(url, "create", "--role", "city_assessor", "--region", "320100", "--name", "南京市考核员")
    assert res.exit_code == 0, res.output
    token = res.output.strip().splitlines()[-1]
    assert token.startswith("jn_")
    prefix, secret = token.split("_", 2)[1:]
    with psycopg.connect(url) as conn:
        stored = conn.execute(
            "SELECT secret_sha256, name FROM api_key WHERE prefix = %s", (prefix,)
        ).fetchone()
    assert stored == (hashlib.sha256(secret.encode()).hexdigest(), "南京市考核员")
    assert secret not in stored[0]

    me = api_rw.client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["region_code"] == "320100"
    ids = [
        i["id"]
        for i in api_rw.client.get("/v1/institutions", headers={"Authorization": f"Bearer {token}"}).json()[
            "items"
        ]
    ]
    assert ids == ["NJ-GOV-001", "NJ-SCH-002"]

    listed = _keys(url, "list")
    assert listed.exit_code == 0 and "南京市考核员" in listed.output and secret not in listed.output
    key_id = me.json()["id"]
    assert _keys(url, "revoke", str(key_id)).exit_code == 0
    assert api_rw.client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert _keys(url, "revoke", str(key_id)).exit_code == 1
    assert "revoked" in _keys(url, "list", "--all").output
    # A wrong secret with a real prefix is still 401.
    assert (
        api_rw.client.get("/v1/me", headers={"Authorization": f"Bearer jn_{prefix}_x{secret}"}).status_code
        == 401
    )


def test_create_refuses_bad_scopes(api_rw):
    for args in (
        ["--role", "city_assessor", "--name", "x"],
        ["--role", "city_assessor", "--region", "999999", "--name", "x"],
        ["--role", "institution", "--institution", "NOPE", "--name", "x"],
        ["--role", "admin", "--region", "320100", "--name", "x"],
        ["--role", "superuser", "--name", "x"],
        ["--role", "admin", "--name", "  "],
    ):
        res = _keys(api_rw.url, "create", *args)
        assert res.exit_code == 2, (args, res.output)
    res = _keys(
        api_rw.url,
        "create",
        "--role",
        "institution",
        "--institution",
        "SZ-HOS-001",
        "--name",
        "医院能源管理员",
    )
    assert res.exit_code == 0
