"""Crash safety: `jieneng ingest` killed with SIGKILL twice mid-stream of 20,000 readings, restarted.

Afterwards every published reading is stored exactly once and the usage equals the usage computed
from the published stream.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest.counters import MeterSpec, compute_usage
from jieneng.embedded import free_port, start_embedded_broker

from .conftest import ROOT_DIR, Publisher, settle, wait_for

N_READINGS = 20_000
METERS = ["E1", "E2", "ROLL", "W1"]


def build_stream(seed: int = 7):
    """Messages (topic suffix, payload) with late and out-of-order data, and the readings they hold."""
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    per_meter = N_READINGS // len(METERS)
    readings: dict[str, list[tuple[datetime, float]]] = {}
    for m in METERS:
        value, rows = 9000.0 if m == "ROLL" else 0.0, []
        for i in range(per_meter):
            ts = t0 + timedelta(minutes=5 * i)
            if m == "W1":
                value = round(rng.uniform(0, 3), 3)
            else:
                value = round(value + rng.uniform(0, 2), 3)
                if m == "ROLL" and value >= 10000.0:
                    value = round(value - 10000.0, 3)
                if m == "E1" and i == per_meter // 2:
                    value = 1.0  # a reset
            rows.append((ts, value))
        readings[m] = rows
    messages = []
    for m in METERS:
        rows = readings[m]
        i = 0
        while i < len(rows):
            k = rng.choice([1, 1, 5, 20])
            chunk = rows[i : i + k]
            messages.append((m, [{"ts": ts.isoformat(), "value": v} for ts, v in chunk]))
            i += k
    # Gateways drain backlogs in any order: shuffle within windows of 200 messages.
    rng.shuffle(messages)
    return messages, readings


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("mosquitto") is None, reason="needs Mosquitto (amqtt keeps no offline session)"
)
def test_sigkill_twice_loses_nothing(reg_db, tmp_path):
    broker = start_embedded_broker(tmp_path / "broker")
    prefix = f"crash-{uuid.uuid4().hex[:8]}/v1"
    env = {
        **os.environ,
        "JIENENG_DATABASE_URL": reg_db,
        "JIENENG_MQTT_URL": broker.url,
        "JIENENG_MQTT_TOPIC_PREFIX": prefix,
        "JIENENG_MQTT_CLIENT_ID": f"crash-{uuid.uuid4().hex[:8]}",
        "JIENENG_METRICS_PORT": str(free_port()),
        "JIENENG_INGEST_BATCH_MAX_ROWS": "1000",
        "JIENENG_ROLLUP_INTERVAL_MS": "100",
        "JIENENG_LOG_LEVEL": "WARNING",
    }

    def start():
        return subprocess.Popen(
            [sys.executable, "-m", "jieneng.cli", "ingest"],
            env=env,
            cwd=ROOT_DIR,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / "ingest.log", "ab"),
        )

    messages, readings = build_stream()
    proc = start()
    pub = Publisher(broker.url)
    published = threading.Event()

    def publish():
        for i, (meter, payload) in enumerate(messages):
            pub.send(f"{prefix}/INST1/{meter}", payload)
            if i % 50 == 49:
                pub.flush()
                time.sleep(0.15)  # a steady stream of ~10 s, so the kills land mid-stream
        pub.flush()
        published.set()

    try:
        time.sleep(2)  # first start subscribes and creates the session
        sender = threading.Thread(target=publish, daemon=True)
        sender.start()
        with psycopg.connect(reg_db, autocommit=True) as conn:
            for threshold in (N_READINGS // 4, N_READINGS // 2):
                deadline = time.monotonic() + 120
                while conn.execute("SELECT count(*) FROM reading").fetchone()[0] < threshold:
                    assert time.monotonic() < deadline and proc.poll() is None, "ingest stalled or died"
                    time.sleep(0.05)
                assert not published.is_set(), "the stream ended before the kill: not a mid-stream kill"
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                time.sleep(0.5)  # messages keep arriving at the broker while we are down
                proc = start()
        sender.join(300)
        assert published.is_set()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", N_READINGS, timeout=180) == N_READINGS
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        pub.close()
        broker.stop()

    settle(reg_db)
    with psycopg.connect(reg_db) as conn:
        assert conn.execute("SELECT count(*) FROM ingest_reject").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM reading_conflict").fetchone()[0] == 0
        stored = defaultdict(dict)
        for m, ts, v in conn.execute("SELECT meter_id, ts, value FROM reading"):
            stored[m][ts] = v
        batches = conn.execute("SELECT count(*), sum(duplicates) FROM ingest_batch").fetchone()
        specs = {
            m: MeterSpec(
                *conn.execute(
                    "SELECT register, multiplier, rollover, max_rate_per_h FROM meter WHERE id = %s", (m,)
                ).fetchone()
            )
            for m in METERS
        }
        usage = defaultdict(dict)
        for m, h, c in conn.execute("SELECT meter_id, hour, consumption FROM usage_hourly"):
            usage[m][h] = c
        daily_total = conn.execute("SELECT sum(consumption) FROM usage_daily").fetchone()[0]
    for m in METERS:
        assert stored[m] == dict(readings[m]), f"{m}: stored readings differ from the published stream"
        expected = compute_usage(readings[m], specs[m]).hourly
        assert usage[m] == pytest.approx(expected), f"{m}: hourly usage differs"
    assert daily_total == pytest.approx(
        sum(sum(compute_usage(readings[m], specs[m]).hourly.values()) for m in METERS)
    )
    print(f"batches={batches[0]} redelivered duplicates={batches[1]}")
