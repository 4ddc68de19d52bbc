"""SIGTERM while the database is down: `jieneng ingest` leaves promptly, acks nothing it did not
commit, and a later run stores every message exactly once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from jieneng.embedded import free_port, start_embedded_broker

from .conftest import ROOT_DIR, Publisher, add_registry, settle, wait_for

T0 = datetime(2026, 3, 1, tzinfo=UTC)
EXIT_BOUND_S = 45  # liveness, not speed: backoff waits reach 30 s; a stop must cut them short


def _wait_connected(metrics_port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "ingest exited"
        try:
            text = (
                urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).read().decode()
            )
            if "jieneng_ingest_broker_connected 1.0" in text:
                time.sleep(0.5)  # subscription acknowledged
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("ingest did not connect to the broker")


@pytest.mark.skipif(
    shutil.which("mosquitto") is None, reason="needs Mosquitto (amqtt keeps no offline session)"
)
def test_sigterm_with_database_down_acks_nothing_and_loses_nothing(private_pg, tmp_path):
    from store.migrate import migrate

    url, ctl = private_pg
    migrate(url, timezone="Asia/Shanghai", timescaledb="off")
    with psycopg.connect(url) as conn:
        add_registry(conn)
    broker = start_embedded_broker(tmp_path / "broker")
    prefix = f"sigterm-{uuid.uuid4().hex[:6]}/v1"
    log_path = tmp_path / "ingest.log"
    env = {
        **os.environ,
        "JIENENG_DATABASE_URL": url,
        "JIENENG_MQTT_URL": broker.url,
        "JIENENG_MQTT_TOPIC_PREFIX": prefix,
        "JIENENG_MQTT_CLIENT_ID": f"sigterm-{uuid.uuid4().hex[:8]}",
        "JIENENG_INGEST_BATCH_MAX_MS": "50",
        "JIENENG_ROLLUP_INTERVAL_MS": "100",
        "JIENENG_LOG_LEVEL": "WARNING",
    }

    def start() -> tuple[subprocess.Popen, int]:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "jieneng.cli", "ingest"],
            env={**env, "JIENENG_METRICS_PORT": str(port)},
            cwd=ROOT_DIR,
            stdout=subprocess.DEVNULL,
            stderr=open(log_path, "ab"),
        )
        return proc, port

    def send(pub: Publisher, lo: int, hi: int) -> None:
        for i in range(lo, hi):
            pub.send(f"{prefix}/INST1/E1", {"ts": (T0 + timedelta(minutes=i)).isoformat(), "value": i})
        pub.flush()

    n_before, n_total = 100, 300
    proc, port = start()
    pub = Publisher(broker.url)
    try:
        _wait_connected(port, proc)
        send(pub, 0, n_before)
        assert wait_for(url, "SELECT count(*) FROM reading", n_before) == n_before

        subprocess.run([*ctl, "stop", "-m", "fast"], check=True, capture_output=True)
        send(pub, n_before, n_total)  # delivered to ingest, which cannot commit them
        time.sleep(3)  # several failed attempts: the backoff has grown
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(EXIT_BOUND_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"ingest did not exit within {EXIT_BOUND_S}s of SIGTERM with the database down")
        assert code == 0
        assert "stay with the broker" in log_path.read_text(errors="replace")

        subprocess.run([*ctl, "start"], check=True, capture_output=True)
        assert wait_for(url, "SELECT count(*) FROM reading", n_before, timeout=5) == n_before

        proc, port = start()  # same client id: the broker's session holds the unacked messages
        assert wait_for(url, "SELECT count(*) FROM reading", n_total, timeout=120) == n_total
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        pub.close()
        broker.stop()

    settle(url)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(DISTINCT ts), min(value), max(value) FROM reading").fetchone() == (
            n_total,
            0.0,
            float(n_total - 1),
        )
        # Stored once each: every reading inserted by exactly one committed batch.
        assert conn.execute("SELECT sum(inserted) FROM ingest_batch").fetchone()[0] == n_total
        assert conn.execute("SELECT count(*) FROM reading_conflict").fetchone()[0] == 0
        assert conn.execute("SELECT sum(consumption) FROM usage_hourly").fetchone()[0] == pytest.approx(
            n_total - 1
        )
