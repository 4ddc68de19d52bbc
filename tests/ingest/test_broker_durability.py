"""What a broker keeps across its own restart and crash, with messages queued for ingest and unacked.

- Mosquitto stopped cleanly (SIGTERM) writes its persistence file: nothing is lost.
- Mosquitto killed (SIGKILL) loses what arrived since its last autosave (a snapshot, not a log).
- NATS JetStream's MQTT gateway stores QoS 1 messages in a JetStream stream before it acks the
  publisher: a SIGKILL loses nothing.
- RabbitMQ's MQTT plugin (a durable queue for a clean-session-false subscriber): a SIGKILL lost
  nothing here (an observation; README says what is and is not documented).

Each broker is private (its own ports and data folder); the machine's shared brokers are untouched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from jieneng.embedded import free_port, start_embedded_broker

from .conftest import Publisher, make_config, running_ingest, wait_for
from .test_transport_bounds import StalledDatabase, until

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MARKER_TS = datetime(2026, 6, 1, tzinfo=UTC)
needs_mosquitto = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs the mosquitto binary")


def publish_readings(url: str, prefix: str, n: int, start: int = 0, protocol: str = "5") -> None:
    pub = Publisher(url) if protocol == "5" else Publisher311(url)
    for i in range(start, start + n):
        pub.send(f"{prefix}/INST1/E1", {"ts": (T0 + timedelta(minutes=i)).isoformat(), "value": i})
    pub.close()  # every message acknowledged by the broker


class Publisher311(Publisher):
    def __init__(self, mqtt_url: str) -> None:
        from urllib.parse import urlparse

        import paho.mqtt.client as mqtt

        u = urlparse(mqtt_url)
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311
        )
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.client.connect(u.hostname, u.port)
        self.client.loop_start()
        self._infos = []


@pytest.fixture
def broker_dir():
    # Not pytest's tmp_path: its parents admit only root, and the broker drops to its own user.
    d = Path(tempfile.mkdtemp(prefix="jieneng-broker-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@needs_mosquitto
def test_mosquitto_restart_with_queued_unacked_messages_loses_nothing(reg_db, broker_dir):
    """Messages in flight to ingest (unacked: the database is stalled) and queued behind them survive a
    clean broker restart, because the broker could write its persistence file."""
    port = free_port()
    broker = start_embedded_broker(broker_dir, port=port)
    prefix = f"restart-{uuid.uuid4().hex[:6]}/v1"
    n = 3000
    cfg = make_config(reg_db, broker.url, prefix)
    cfg = replace(cfg, broker=replace(cfg.broker, max_undelivered_messages=500))
    try:
        with running_ingest(cfg) as svc:
            t = svc.transport
            with StalledDatabase(reg_db):
                publish_readings(broker.url, prefix, n)
                until(lambda: t.held()[0] == 500, what="ingest to hold its bound, unacked")
                generation = t.generation
                broker.stop()  # SIGTERM: Mosquitto writes its snapshot, with 2,500 queued and 500 in flight
                assert broker.persistence_file.exists() and broker.persistence_file.stat().st_size > 0, (
                    "the broker wrote no persistence file"
                )
                broker = start_embedded_broker(broker_dir, port=port)
            until(lambda: t.generation > generation, what="ingest to reconnect")
            assert wait_for(reg_db, "SELECT count(*) FROM reading", n, timeout=180) == n
    finally:
        broker.stop()


def _marker_then_count(
    reg_db: str, url: str, prefix: str, cfg, protocol: str = "5", expect: int | None = None
) -> int:
    """Start ingest, publish a marker after it subscribed; once the marker is stored, everything the
    broker still held for the session (delivered before it) is stored too. Returns the other readings.

    With ``expect``, also wait for that many (a broker may deliver its stored backlog after the marker)."""
    with running_ingest(cfg):
        pub = Publisher(url) if protocol == "5" else Publisher311(url)
        pub.send(f"{prefix}/INST1/W1", {"ts": MARKER_TS.isoformat(), "value": 1})
        pub.close()
        assert wait_for(reg_db, "SELECT count(*) FROM reading WHERE meter_id = 'W1'", 1, timeout=120) == 1
        if expect is not None:
            wait_for(reg_db, "SELECT count(*) FROM reading WHERE meter_id = 'E1'", expect, timeout=120)
    with psycopg.connect(reg_db) as conn:
        return conn.execute("SELECT count(*) FROM reading WHERE meter_id = 'E1'").fetchone()[0]


def _create_session(reg_db: str, url: str, prefix: str, cfg, protocol: str = "5") -> None:
    """Ingest subscribes once (its session with the broker), stores a probe, and goes offline."""
    with running_ingest(cfg):
        pub = Publisher(url) if protocol == "5" else Publisher311(url)
        pub.send(f"{prefix}/INST1/W1", {"ts": (MARKER_TS - timedelta(hours=1)).isoformat(), "value": 1})
        pub.close()
        assert wait_for(reg_db, "SELECT count(*) FROM reading WHERE meter_id = 'W1'", 1, timeout=120) == 1
    with psycopg.connect(reg_db, autocommit=True) as conn:
        conn.execute("DELETE FROM reading WHERE meter_id = 'W1'")


@needs_mosquitto
def test_mosquitto_sigkill_loses_what_arrived_since_its_last_save(reg_db, broker_dir):
    port = free_port()
    broker = start_embedded_broker(broker_dir, port=port, autosave_interval_s=3600)
    prefix = f"kill-{uuid.uuid4().hex[:6]}/v1"
    cfg = make_config(reg_db, broker.url, prefix)
    n = 200
    try:
        _create_session(reg_db, broker.url, prefix, cfg)
        broker.stop()  # a clean stop saves the session itself
        broker = start_embedded_broker(broker_dir, port=port, autosave_interval_s=3600)
        publish_readings(broker.url, prefix, n)  # acked by the broker, queued for the offline session
        broker.kill()
        broker = start_embedded_broker(broker_dir, port=port, autosave_interval_s=3600)
        stored = _marker_then_count(reg_db, broker.url, prefix, cfg)
    finally:
        broker.stop()
    assert stored == 0, (
        f"expected Mosquitto to lose all {n} messages acked since its last save; {stored} stored"
    )


class PrivateNats:
    """nats-server with JetStream and its MQTT gateway on ports and a store of its own."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port, self.mqtt_port = free_port(), free_port()
        (base / "js").mkdir(parents=True, exist_ok=True)
        self.conf = base / "nats.conf"
        self.conf.write_text(
            f'server_name: "jieneng-test-{uuid.uuid4().hex[:6]}"\n'
            f"listen: 127.0.0.1:{self.port}\n"
            f'jetstream {{ store_dir: "{base / "js"}" }}\n'
            f"mqtt {{ listen: 127.0.0.1:{self.mqtt_port} }}\n"
        )
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.mqtt_port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [shutil.which("nats-server"), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.base / "nats.log", "ab"),
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.mqtt_port), timeout=0.5):
                    return
            except OSError:
                assert self.proc.poll() is None, (self.base / "nats.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "nats-server did not open its MQTT port"
                time.sleep(0.1)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.mark.skipif(shutil.which("nats-server") is None, reason="needs the nats-server binary (NATS 2.9+)")
def test_nats_jetstream_mqtt_sigkill_loses_nothing(reg_db, broker_dir):
    nats = PrivateNats(broker_dir)
    prefix = f"nats-{uuid.uuid4().hex[:6]}/v1"
    cfg = make_config(reg_db, nats.url, prefix)
    cfg = replace(cfg, broker=replace(cfg.broker, protocol="3.1.1"))  # NATS speaks MQTT 3.1.1 only
    n = 200
    try:
        _create_session(reg_db, nats.url, prefix, cfg, protocol="3.1.1")
        publish_readings(nats.url, prefix, n, protocol="3.1.1")
        nats.kill()
        nats.start()
        stored = _marker_then_count(reg_db, nats.url, prefix, cfg, protocol="3.1.1", expect=n)
    finally:
        nats.stop()
    assert stored == n, f"NATS lost {n - stored} of {n} acked messages across a SIGKILL"
    assert os.path.isdir(broker_dir / "js")


RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


class PrivateRabbit:
    """A RabbitMQ node of its own (node name, ports, data, cookie) with only the MQTT plugin."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.node = f"jieneng{uuid.uuid4().hex[:8]}@localhost"
        self.amqp_port, self.mqtt_port, self.dist_port = free_port(), free_port(), free_port()
        (base / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n"
            f"mqtt.listeners.tcp.default = 127.0.0.1:{self.mqtt_port}\n"
            "mqtt.allow_anonymous = true\n"
            "loopback_users = none\n"
        )
        self.env = {
            **os.environ,
            "HOME": str(base),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONF_ENV_FILE": "/dev/null",
        }
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.mqtt_port}"

    def start(self) -> None:
        # Its own process group, so a kill reaches the Erlang VM under the start script.
        self.proc = subprocess.Popen(
            [str(RABBITMQ_SERVER)],
            env=self.env,
            cwd=self.base,
            start_new_session=True,
            stdout=open(self.base / "out.log", "ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.mqtt_port), timeout=0.5):
                    return
            except OSError:
                assert self.proc.poll() is None, (self.base / "out.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "RabbitMQ did not open its MQTT port"
                time.sleep(0.2)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        time.sleep(0.5)  # the VM's own exit

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.mark.skipif(
    not RABBITMQ_SERVER.exists(), reason="needs RabbitMQ's rabbitmq-server (3.10+, MQTT plugin)"
)
def test_rabbitmq_mqtt_sigkill_keeps_acked_messages(reg_db, broker_dir):
    """Observed, not documented for 3.10 (see README): QoS 1 messages acked by RabbitMQ's MQTT plugin
    and queued for ingest's durable (clean-session false) queue survive a SIGKILL of the node."""
    rabbit = PrivateRabbit(broker_dir)
    prefix = f"rmq-{uuid.uuid4().hex[:6]}/v1"
    cfg = make_config(reg_db, rabbit.url, prefix)
    cfg = replace(cfg, broker=replace(cfg.broker, protocol="3.1.1"))  # RabbitMQ 3.10 speaks MQTT 3.1.1
    n = 200
    try:
        _create_session(reg_db, rabbit.url, prefix, cfg, protocol="3.1.1")
        publish_readings(rabbit.url, prefix, n, protocol="3.1.1")
        rabbit.kill()
        rabbit.start()
        stored = _marker_then_count(reg_db, rabbit.url, prefix, cfg, protocol="3.1.1", expect=n)
    finally:
        rabbit.stop()
    assert stored == n, f"RabbitMQ lost {n - stored} of {n} acked messages across a SIGKILL"


@needs_mosquitto
@pytest.mark.parametrize("where", ["tmp_path", "mkdtemp"])
def test_private_mosquitto_writes_its_persistence_file(where, tmp_path, broker_dir):
    """The demo's and the tests' private Mosquitto, wherever its folder is: pytest's (parents only root
    may enter) or one the broker's own user can reach. Started as root it must still write its file."""
    base = tmp_path if where == "tmp_path" else broker_dir
    broker = start_embedded_broker(base)
    try:
        c = Publisher(broker.url)  # a client session and a message: something to persist
        c.send("persist/check", {"ts": 0, "value": 0})
        c.close()
    finally:
        broker.stop()
    assert broker.persistence_file.exists() and broker.persistence_file.stat().st_size > 0
