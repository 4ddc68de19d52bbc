"""Fixtures for ingest tests: a registry of meters, an in-process ingest service, a publisher."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
import psycopg
import pytest

from ingest.rollup import rollup_until_idle
from ingest.service import IngestConfig, IngestService
from ingest.transport import BrokerConfig
from jieneng.embedded import free_port

TZ = "Asia/Shanghai"
ROOT_DIR = Path(__file__).resolve().parents[2]
INSTALLED = datetime(2020, 1, 1, tzinfo=UTC)

# id, register, unit, multiplier, rollover, max_rate_per_h, retired_at
METERS = [
    ("E1", "cumulative", "kWh", 1.0, None, None, None),
    ("E2", "cumulative", "kWh", 10.0, None, None, None),
    ("ROLL", "cumulative", "kWh", 1.0, 10000.0, None, None),
    ("CAP", "cumulative", "kWh", 1.0, None, 100.0, None),
    ("W1", "interval", "m3", 1.0, None, None, None),
    ("OLD", "cumulative", "kWh", 1.0, None, None, datetime(2024, 1, 1, tzinfo=UTC)),
]


def add_registry(conn: psycopg.Connection, meters=METERS, institutions=("INST1", "INST2")) -> None:
    for inst in institutions:
        conn.execute(
            "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone)"
            " VALUES (%s, %s, 'government', 'city', '320100', 'hot_summer_cold_winter') ON CONFLICT DO NOTHING",
            (inst, f"test {inst}"),
        )
    for mid, register, unit, mult, rollover, max_rate, retired in meters:
        energy = "water" if unit == "m3" else "electricity"
        conn.execute(
            "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, multiplier, rollover,"
            " max_rate_per_h, installed_at, retired_at) VALUES (%s, 'INST1', %s, %s, %s, 'main', %s, %s, %s, %s, %s)",
            (mid, energy, unit, register, mult, rollover, max_rate, INSTALLED, retired),
        )
    conn.execute(
        "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at)"
        " VALUES ('OTHER', 'INST2', 'electricity', 'kWh', 'cumulative', 'main', %s)",
        (INSTALLED,),
    )
    conn.commit()


@pytest.fixture
def reg_db(db_url) -> str:
    with psycopg.connect(db_url) as conn:
        add_registry(conn)
    return db_url


def make_config(db_url: str, mqtt_url: str, prefix: str, **kw) -> IngestConfig:
    broker = BrokerConfig(
        url=mqtt_url,
        client_id=kw.pop("client_id", f"test-ingest-{uuid.uuid4().hex[:8]}"),
        topic_prefix=prefix,
        share_group=kw.pop("share_group", None),
        session_expiry_s=kw.pop("session_expiry_s", 300),
        share_session_expiry_s=kw.pop("share_session_expiry_s", 300),
        receive_maximum=kw.pop("receive_maximum", 2000),
    )
    kw.setdefault("batch_max_ms", 50)
    kw.setdefault("rollup_interval_ms", 50)
    return IngestConfig(database_url=db_url, broker=broker, timezone=TZ, **kw)


@contextlib.contextmanager
def running_ingest(cfg: IngestConfig):
    svc = IngestService(cfg)
    t = threading.Thread(target=svc.run, daemon=True)
    t.start()
    assert svc.transport.wait_connected(15), "ingest did not connect to the broker"
    time.sleep(0.3)  # subscription acknowledged
    try:
        yield svc
    finally:
        svc.stop()
        t.join(60)
        assert not t.is_alive(), "ingest did not stop"


class Publisher:
    def __init__(self, mqtt_url: str) -> None:
        u = urlparse(mqtt_url)
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(u.hostname, u.port or 1883)
        self.client.loop_start()
        self._infos = []

    def send(self, topic: str, payload) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self._infos.append(self.client.publish(topic, data, qos=1))

    def flush(self, timeout: float = 60) -> None:
        for info in self._infos:
            info.wait_for_publish(timeout)
        self._infos.clear()

    def close(self) -> None:
        self.flush()
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(mqtt_url):
    p = Publisher(mqtt_url)
    yield p
    p.close()


def wait_for(conn_url: str, sql: str, expected, timeout: float = 60.0, params=()):
    """Poll until ``sql`` returns ``expected`` (first column of first row); returns the last value."""
    deadline = time.monotonic() + timeout
    value = None
    with psycopg.connect(conn_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            value = conn.execute(sql, params).fetchone()[0]
            if value == expected:
                return value
            time.sleep(0.1)
    return value


def settle(db_url: str) -> None:
    """Finish any queued rollup work (the service's own rollup may have been mid-way)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        rollup_until_idle(conn, TZ)


def hourly(db_url: str, meter_id: str | None = None) -> dict:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT meter_id, hour, consumption FROM usage_hourly WHERE %s::text IS NULL OR meter_id = %s",
            (meter_id, meter_id),
        ).fetchall()
    return {(m, h): c for m, h, c in rows}


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture
def private_pg():
    """A PostgreSQL of this test's own, so it can be stopped and started mid-stream.

    initdb refuses to run as root; then the server runs as the system's ``postgres`` user.
    """
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 server binaries not found")
    base = Path(tempfile.mkdtemp(prefix="jieneng-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        shutil.chown(base, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data = base / "data"
    subprocess.run(
        [*prefix, PG_BIN / "initdb", "-D", data, "-U", "postgres", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    port = free_port()
    ctl = [
        *prefix,
        PG_BIN / "pg_ctl",
        "-D",
        data,
        "-l",
        base / "pg.log",
        "-w",
        "-o",
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off",
    ]
    subprocess.run([*ctl, "start"], check=True, capture_output=True)
    yield f"postgresql://postgres@127.0.0.1:{port}/postgres", ctl
    subprocess.run([*ctl, "stop", "-m", "immediate"], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)
