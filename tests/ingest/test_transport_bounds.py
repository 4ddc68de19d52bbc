"""What ingest holds is bounded in messages and bytes, through a stalled database and socket cuts.

A private Mosquitto (in-flight window 1000, so the broker would send more than the bound), a TCP
proxy between ingest and the broker that the test cuts, and a database stalled by a lock on
``reading``. The bounds are checked by counts: the transport's high-water marks and the inbox.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
import psycopg
import pytest

from jieneng.embedded import start_embedded_broker

from .conftest import Publisher, make_config, running_ingest, wait_for
from .netproxy import CuttableProxy

# Per test, not per module: the ack test needs no broker and should run on a machine without Mosquitto.
needs_mosquitto = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs the mosquitto binary")

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def until(cond, timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def broker(tmp_path):
    b = start_embedded_broker(tmp_path / "broker")
    yield b
    b.stop()


@pytest.fixture
def proxy(broker):
    u = urlparse(broker.url)
    p = CuttableProxy(u.hostname, u.port)
    yield p
    p.close()


def bounded(cfg, messages: int, nbytes: int):
    return replace(
        cfg,
        broker=replace(
            cfg.broker, max_undelivered_messages=messages, max_undelivered_bytes=nbytes, receive_maximum=2000
        ),
    )


class StalledDatabase:
    """Holds an exclusive lock on ``reading`` so every batch waits for it."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url)

    def __enter__(self):
        self.conn.execute("LOCK TABLE reading IN ACCESS EXCLUSIVE MODE")
        return self

    def __exit__(self, *exc):
        self.conn.rollback()


def publish_qos0(url: str, topic: str, payloads) -> None:
    u = urlparse(url)
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub0-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    c.connect(u.hostname, u.port)
    c.loop_start()
    infos = [c.publish(topic, json.dumps(p).encode(), qos=0) for p in payloads]
    for info in infos:
        info.wait_for_publish(60)
    c.disconnect()
    c.loop_stop()


@needs_mosquitto
def test_qos1_bounded_across_socket_cuts_with_database_stalled(reg_db, broker, proxy):
    bound, n = 300, 1000
    prefix = f"bounds1-{uuid.uuid4().hex[:6]}/v1"
    cfg = bounded(make_config(reg_db, proxy.url, prefix, batch_max_rows=100), bound, 1 << 20)
    with running_ingest(cfg) as svc:
        t = svc.transport
        pub = Publisher(broker.url)
        with StalledDatabase(reg_db):
            for i in range(n):
                pub.send(f"{prefix}/INST1/E1", {"ts": (T0 + timedelta(minutes=i)).isoformat(), "value": i})
            pub.flush()
            until(lambda: t.held()[0] == bound, what="ingest to fill its bound")
            assert t.inbox.qsize() <= bound
            for cut in range(1, 4):
                generation, dropped = t.generation, t.resends_dropped
                proxy.cut()
                until(lambda g=generation: t.generation > g, what="a reconnect")
                # The broker resends its whole in-flight window (the bound): all already held.
                until(lambda d=dropped: t.resends_dropped >= d + bound, what=f"the resends after cut {cut}")
                assert t.held()[0] <= bound and t.inbox.qsize() <= bound
        assert wait_for(reg_db, "SELECT count(*) FROM reading", n, timeout=180) == n
        assert wait_for(reg_db, "SELECT coalesce(sum(messages), 0) FROM ingest_batch", n, timeout=60) >= n
        assert t.peak_messages <= bound
        pub.close()
    with psycopg.connect(reg_db) as conn:
        dups = conn.execute("SELECT coalesce(sum(duplicates), 0) FROM ingest_batch").fetchone()[0]
    # Held messages were acked on the new connection (same session): the broker did not send them again.
    assert dups <= bound, f"{dups} duplicates written: messages of earlier connections were redelivered"


@needs_mosquitto
def test_qos0_bounded_in_bytes_and_messages_with_database_stalled(reg_db, broker, proxy):
    max_messages, max_bytes = 200, 16 * 1024
    prefix = f"bounds0-{uuid.uuid4().hex[:6]}/v1"
    cfg = bounded(make_config(reg_db, proxy.url, prefix, batch_max_rows=50), max_messages, max_bytes)
    topic = f"{prefix}/INST1/_batch"
    start = 0
    with running_ingest(cfg) as svc:
        t = svc.transport
        for round_ in range(3):
            with StalledDatabase(reg_db):
                blocked = t.blocked
                payloads = [
                    [
                        {
                            "meter": "W1",
                            "ts": (T0 + timedelta(minutes=start + i)).isoformat(),
                            "value": 1.5,
                            "note": "x" * 60,
                        }
                    ]
                    for i in range(1500)
                ]
                start += 1500
                publish_qos0(broker.url, topic, payloads)
                until(lambda b=blocked: t.blocked > b, what="the network thread to wait for credit")
                held_messages, held_bytes = t.held()
                assert held_messages <= max_messages and held_bytes <= max_bytes
                assert t.inbox.qsize() <= max_messages
                generation = t.generation
                proxy.cut()
            until(lambda g=generation: t.generation > g, what=f"a reconnect after round {round_}")
        assert t.peak_messages <= max_messages and t.peak_bytes <= max_bytes
        until(lambda: t.held()[0] == 0, what="ingest to commit what it holds")
    with psycopg.connect(reg_db) as conn:
        assert conn.execute("SELECT count(*) FROM reading").fetchone()[0] > 0


@needs_mosquitto
def test_broker_honours_the_maximum_packet_size(reg_db, broker):
    """MQTT 5 Maximum Packet Size (max payload plus header room): the broker never sends a larger
    packet, so one oversized message cannot take ingest's memory; a payload over the limit but inside
    the header room still reaches the parser and is rejected with its reason."""
    prefix = f"maxpkt-{uuid.uuid4().hex[:6]}/v1"
    cfg = make_config(reg_db, broker.url, prefix, max_payload_bytes=1024)
    cfg = replace(cfg, broker=replace(cfg.broker, max_payload_bytes=1024))
    with running_ingest(cfg) as svc:
        pub = Publisher(broker.url)
        pub.send(f"{prefix}/INST1/E1", b"[" + b" " * 128 * 1024 + b"]")  # far over: the broker drops it
        pub.send(f"{prefix}/INST1/E1", b"[" + b" " * 2048 + b"]")  # over the payload limit, inside the room
        pub.send(f"{prefix}/INST1/E1", {"ts": T0.isoformat(), "value": 1})
        pub.close()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", 1) == 1
        assert wait_for(reg_db, "SELECT count(*) FROM ingest_reject", 1) == 1
        assert svc.transport.peak_bytes < 8 * 1024
    with psycopg.connect(reg_db) as conn:
        assert conn.execute("SELECT reason FROM ingest_reject").fetchall() == [("payload_too_large",)]


@needs_mosquitto
def test_messages_held_when_the_session_is_lost_are_still_stored(reg_db, tmp_path):
    """The broker comes back without our session (killed before it saved anything): what ingest holds
    will never be resent and cannot be acked, so it is committed, not dropped."""
    from jieneng.embedded import free_port

    port = free_port()
    b = start_embedded_broker(tmp_path / "lost", port=port, autosave_interval_s=3600)
    prefix = f"lost-{uuid.uuid4().hex[:6]}/v1"
    try:
        with running_ingest(make_config(reg_db, b.url, prefix)) as svc:
            t = svc.transport
            with StalledDatabase(reg_db):
                pub = Publisher(b.url)
                for i in range(50):
                    pub.send(
                        f"{prefix}/INST1/E1", {"ts": (T0 + timedelta(minutes=i)).isoformat(), "value": i}
                    )
                pub.close()
                until(lambda: t.held()[0] == 50, what="ingest to hold the messages")
                session, generation = t.session, t.generation
                b.kill()
                b = start_embedded_broker(tmp_path / "lost", port=port, autosave_interval_s=3600)
                until(lambda: t.generation > generation, what="a reconnect")
                assert t.session > session, "the broker kept the session: this test tests nothing"
            assert wait_for(reg_db, "SELECT count(*) FROM reading", 50) == 50
            until(lambda: t.held()[0] == 0, what="the credit to come back")
    finally:
        b.stop()


def test_a_message_is_acked_once():
    """A second ack of one message (a batch split and retried) sends nothing: the broker may have
    reused its packet id for a message not yet stored."""
    from ingest.transport import BrokerConfig, Transport

    t = Transport(BrokerConfig(url="mqtt://127.0.0.1:1", client_id="ack-once", topic_prefix="x"))
    msg = mqtt.MQTTMessage(mid=7, topic=b"x/INST1/E1")
    msg.qos, msg.payload = 1, b"{}"
    t._on_message(t.client, None, msg)
    m = t.inbox.get_nowait()
    assert t.held() == (1, len(b"{}") + len(b"x/INST1/E1"))
    assert t.ack([m]) == 1 and t.ack([m]) == 0
    assert t.held() == (0, 0)
