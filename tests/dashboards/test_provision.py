"""`jieneng dashboards provision`: a provisioning tree for a deployment without compose (the demo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import pytest
import yaml

from dashboards.build import dashboards
from dashboards.provision import provisioning_files, write_provisioning


def test_files_parse_and_point_at_the_given_database(tmp_path):
    files = provisioning_files(
        host="/tmp/pg socket", database="jieneng", user="postgres", password="p'w: #x", out_dir=tmp_path
    )
    write_provisioning(files, tmp_path)
    ds = yaml.safe_load((tmp_path / "datasources/jieneng.yaml").read_text())["datasources"][0]
    assert ds["url"] == "/tmp/pg socket"
    assert ds["jsonData"]["database"] == "jieneng"
    assert ds["secureJsonData"]["password"] == "p'w: #x"
    provider = yaml.safe_load((tmp_path / "dashboards/jieneng.yaml").read_text())["providers"][0]
    assert provider["options"]["path"] == str(tmp_path.resolve() / "json")
    written = {p.name for p in (tmp_path / "json").glob("*.json")}
    assert written == {f"{d['uid']}.json" for d in dashboards()}
    # Every panel's datasource is the provisioned one.
    for path in (tmp_path / "json").glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            if "datasource" in panel:
                assert panel["datasource"]["uid"] == ds["uid"]
    json.loads((tmp_path / "alerting/jieneng-alerts.json").read_text())


def test_cli_uses_the_database_url(tmp_path, db_url):
    env = {**os.environ, "JIENENG_DATABASE_URL": db_url}
    env.pop("JIENENG_DATABASE_READ_URL", None)
    res = subprocess.run(
        [sys.executable, "-m", "jieneng.cli", "dashboards", "provision", "--out", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    ds = yaml.safe_load((tmp_path / "datasources/jieneng.yaml").read_text())["datasources"][0]
    # Parsed by the library that builds connection strings: the embedded server's URL names its socket
    # folder in the query (`postgresql://postgres:@/dbname?host=/…/pg`), not in the host part.
    info = psycopg.conninfo.conninfo_to_dict(db_url)
    assert ds["jsonData"]["database"] == info["dbname"]
    host = info.get("host") or "localhost"
    assert ds["url"] == (host if host.startswith("/") else f"{host}:{info.get('port') or 5432}")


def _cli_provision(tmp_path, db_url, **env_extra):
    env = {**os.environ, "JIENENG_DATABASE_URL": db_url, **env_extra}
    env.pop("JIENENG_DATABASE_READ_URL", None)
    res = subprocess.run(
        [sys.executable, "-m", "jieneng.cli", "dashboards", "provision", "--out", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    return res


def test_provisioned_alerts_follow_the_settings(tmp_path, db_url):
    """JIENENG_ALERT_* apply to what `provision` writes, not only to `build`."""
    _cli_provision(
        tmp_path,
        db_url,
        JIENENG_ALERT_SILENT_HOURS="6",
        JIENENG_ALERT_NIGHT_LOAD_SHARE_BY_CATEGORY="school=0.2",
    )
    doc = json.loads((tmp_path / "alerting/jieneng-alerts.json").read_text())
    rules = {r["uid"]: r for g in doc["groups"] for r in g["rules"]}
    assert rules["jieneng-meter-silent"]["data"][1]["model"]["conditions"][0]["evaluator"]["params"] == [6]
    assert "('school', 0.2::float8)" in rules["jieneng-night-base-load"]["data"][0]["model"]["rawSql"]


def test_alerts_and_dashboards_resolve_to_one_folder(tmp_path):
    """Alert file provisioning names its folder by title only, so the dashboard provider must find the
    folder by the same title (no folderUid): whichever runs first creates it, the other reuses it."""
    from dashboards.build import PROVISIONING

    files = provisioning_files(
        host="h:5432", database="d", user="jieneng_grafana", password=None, out_dir=tmp_path
    )
    write_provisioning(files, tmp_path)
    for root in (tmp_path, PROVISIONING):
        provider = yaml.safe_load((root / "dashboards/jieneng.yaml").read_text())["providers"][0]
        alerts = json.loads((root / "alerting/jieneng-alerts.json").read_text())
        assert {g["folder"] for g in alerts["groups"]} == {provider["folder"]}, root
        assert "folderUid" not in provider, root


def test_provisioned_datasource_is_the_read_only_role(tmp_path, db_url, pg_admin_url):
    """Grafana logs in as jieneng_grafana with JIENENG_GRAFANA_DB_PASSWORD: it can read and cannot write."""
    _cli_provision(tmp_path, db_url, JIENENG_GRAFANA_DB_PASSWORD="s3cret: 'x'")
    ds = yaml.safe_load((tmp_path / "datasources/jieneng.yaml").read_text())["datasources"][0]
    assert ds["user"] == "jieneng_grafana"
    assert ds["secureJsonData"]["password"] == "s3cret: 'x'"
    # What the operator does once (compose's grafana-reader step); the role is cluster-wide, so undo it.
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute("ALTER ROLE jieneng_grafana LOGIN PASSWORD 's3cret: ''x'''")
    try:
        host = ds["url"]
        kw = (
            {"host": host}
            if host.startswith("/")
            else dict(zip(("host", "port"), host.rsplit(":", 1), strict=True))
        )
        with psycopg.connect(
            dbname=ds["jsonData"]["database"],
            user=ds["user"],
            password=ds["secureJsonData"]["password"],
            autocommit=True,
            **kw,
        ) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == "jieneng_grafana"
            conn.execute("SELECT count(*) FROM meter").fetchone()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("INSERT INTO region (code, name, level) VALUES ('999999', 'x', 'city')")
            # a write no table privilege guards: a large object persists in pg_largeobject
            for fn in ("lo_from_bytea(0, 'x'::bytea)", "lo_create(0)", "lo_creat(-1)"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(f"SELECT {fn}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("CREATE TABLE public.t (a int)")
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute("ALTER ROLE jieneng_grafana NOLOGIN PASSWORD NULL")


def test_grafanas_logins_run_without_jit(db_url, pg_admin_url):
    """Dashboard queries are short reads the planner may cost past jit_above_cost; compiling them took most of
    a panel's time (migration 0023), so the reader role's sessions have JIT off."""
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute("ALTER ROLE jieneng_grafana LOGIN PASSWORD 'no-jit'")
    try:
        with psycopg.connect(
            psycopg.conninfo.make_conninfo(db_url, user="jieneng_grafana", password="no-jit"), autocommit=True
        ) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == "jieneng_grafana"
            assert conn.execute("SHOW jit").fetchone()[0] == "off"
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute("ALTER ROLE jieneng_grafana NOLOGIN PASSWORD NULL")
