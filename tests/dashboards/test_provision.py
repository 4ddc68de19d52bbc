"""`jieneng dashboards provision`: a provisioning tree for a deployment without compose (the demo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
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
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 0, res.stderr
    ds = yaml.safe_load((tmp_path / "datasources/jieneng.yaml").read_text())["datasources"][0]
    # Parsed by the library that builds connection strings: the embedded server's URL names its socket
    # folder in the query (`postgresql://postgres:@/dbname?host=/…/pg`), not in the host part.
    info = psycopg.conninfo.conninfo_to_dict(db_url)
    assert ds["jsonData"]["database"] == info["dbname"]
    host = info.get("host") or "localhost"
    assert ds["url"] == (host if host.startswith("/") else f"{host}:{info.get('port') or 5432}")
