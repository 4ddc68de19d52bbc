"""`jieneng demo` on embedded defaults (pgserver, in-process amqtt): starts, answers, ranks, stops on SIGINT."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
import psycopg
import pytest
import yaml

from jieneng.embedded import free_port

pytestmark = pytest.mark.slow


def _get(url: str, key: str | None = None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, json.loads(resp.read())


@pytest.fixture
def demo_dir():
    # Not pytest's tmp_path: another pytest run on the machine prunes old numbered temp folders, and this
    # one holds the demo's running PostgreSQL for minutes.
    d = Path(tempfile.mkdtemp(prefix="jieneng-test-demo-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_demo_runs_on_embedded_defaults_and_stops_on_sigint(demo_dir):
    tmp_path = demo_dir
    api_port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIENENG_")}
    env.update(
        JIENENG_DATA_DIR=str(tmp_path / "data"),
        JIENENG_API_PORT=str(api_port),
        JIENENG_METRICS_PORT=str(metrics_port),
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jieneng.cli",
                "demo",
                "--from",
                "2025-12-01",
                "--to",
                "2026-01-02T00:00:00",
                "--year",
                "2025",
                "--speed",
                "60",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 480
        while "Press Ctrl-C to stop." not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-4000:]
            time.sleep(1)
        text = log.read_text(errors="replace")
        assert "(embedded pgserver)" in text and "(amqtt, MQTT 3.1.1)" in text
        # It scored only once everything the backfill published was stored.
        stored = re.search(r"([\d,]+) of ([\d,]+) published readings stored", text)
        assert stored and stored[1] == stored[2], text[-4000:]
        assert text.index("published readings stored") < text.index("scoring 2025")
        key = re.search(r"API key \(admin\): (jn_\S+)", text).group(1)
        base = f"http://127.0.0.1:{api_port}"
        assert _get(f"{base}/v1/health")[1]["status"] == "ok"
        status, ranking = _get(f"{base}/v1/rankings?year=2025&limit=100", key)
        assert status == 200 and ranking["total"] == 91
        assert len(ranking["items"]) == 91
        # A month of a year is too little coverage to rank anyone: every row says why it is not eligible.
        assert all(not r["eligible"] and r["vetoes"] for r in ranking["items"])
        inst = ranking["items"][0]["institution_id"]
        status, report = _get(f"{base}/v1/institutions/{inst}/report?year=2025", key)
        assert status == 200 and report["result"]["institution_id"] == inst
        # Grafana's datasource is the read-only role, and on the demo's own PostgreSQL that role can log in.
        ds = yaml.safe_load((tmp_path / "data" / "grafana" / "datasources" / "jieneng.yaml").read_text())
        ds = ds["datasources"][0]
        assert ds["user"] == "jieneng_grafana" and ds["secureJsonData"]["password"]
        with psycopg.connect(
            host=ds["url"],
            dbname=ds["jsonData"]["database"],
            user=ds["user"],
            password=ds["secureJsonData"]["password"],
            autocommit=True,
        ) as conn:
            assert conn.execute("SELECT count(*) FROM institution").fetchone()[0] == 91
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM institution")
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "the demo runs its parts as child processes"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0, log.read_text(errors="replace")[-4000:]
    assert "demo stopped" in log.read_text(errors="replace")
    data_dir = str(tmp_path / "data")

    def alive():
        return [c for c in children if _running(c)]

    def postgres_left():
        return [
            p
            for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"]
            and "postgres" in p.info["cmdline"][0]
            and data_dir in " ".join(p.info["cmdline"])
        ]

    # Poll rather than sleep: under load the children take their time to exit.
    deadline = time.monotonic() + 60
    while (alive() or postgres_left()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(), f"left running after SIGINT: {[c.cmdline() for c in alive()]}"
    assert not postgres_left(), "the embedded PostgreSQL must stop with the demo"


def _running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
