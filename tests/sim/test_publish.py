"""Publishing to the real broker: what a subscriber receives is exactly what the generator produced."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest

from sim.run import backfill, live, make_simulator
from sim.stream import Message
from tests.sim.test_generator import readings

Z = ZoneInfo("Asia/Shanghai")


class Subscriber:
    def __init__(self, mqtt_url: str, topic: str):
        u = urlparse(mqtt_url)
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-test-{uuid.uuid4().hex[:8]}")
        c.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        c.on_subscribe = lambda *_: self._subscribed.set()
        c.on_message = self._on_message
        c.connect(u.hostname, u.port or 1883)
        c.loop_start()
        assert self._subscribed.wait(10), "no SUBACK"
        self.client = c

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append(Message(msg.topic, msg.payload))

    def wait_for(self, n: int, timeout: float = 60.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= n:
                    break
            time.sleep(0.05)
        time.sleep(0.2)  # anything beyond n would be a bug: give it a moment to show up
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber(mqtt_url, topic_prefix):
    s = Subscriber(mqtt_url, f"{topic_prefix}/#")
    yield s
    s.close()


def expected(db_url, prefix, start, end, seed, **kw):
    sim = make_simulator(db_url, seed=seed, prefix=prefix, **kw)
    sim.start_at(start)
    return sim.advance(end) + sim.flush()


def test_backfill_arrives_complete(sim_db_url, mqtt_url, topic_prefix, subscriber, tmp_path):
    start, end = dt.datetime(2025, 1, 10, tzinfo=Z), dt.datetime(2025, 1, 13, tzinfo=Z)
    log = tmp_path / "faults.jsonl"
    result = backfill(sim_db_url, mqtt_url, topic_prefix, start, end, seed=3, fault_log=log, window=20)
    got = subscriber.wait_for(result.messages)
    assert len(got) == result.messages
    assert all(m.topic.startswith(topic_prefix + "/") for m in got)
    assert any(m.topic.endswith("/_batch") for m in got)
    want = expected(sim_db_url, topic_prefix, start, end, seed=3)
    assert readings(got) == readings(want)
    assert sum(readings(got).values()) >= result.readings > 4 * 96 * 3 * 4  # 4 institutions, 3 days, 15 min
    assert len(log.read_text().splitlines()) == len(result.events)


def test_live_publishes_per_meter_and_continues_the_backfill(sim_db_url, mqtt_url, topic_prefix, subscriber):
    start = dt.datetime(2025, 5, 1, tzinfo=Z)
    mid = dt.datetime(2025, 5, 2, tzinfo=Z)
    now = dt.datetime(2025, 5, 2, 12, tzinfo=Z)  # the "real" clock: live catches up with it and waits
    result = backfill(sim_db_url, mqtt_url, topic_prefix, start, mid, seed=4)
    stop = threading.Event()
    t = threading.Thread(
        target=live,
        args=(sim_db_url, mqtt_url, topic_prefix),
        kwargs=dict(
            seed=4, stop_event=stop, speed=86400.0, simulator=result.simulator, now=lambda: now, tick_s=0.05
        ),
    )
    t.start()
    try:
        want = expected(sim_db_url, topic_prefix, start, now, seed=4)
        n_want = sum(readings(want).values())
        deadline = time.monotonic() + 60
        while sum(readings(subscriber.messages).values()) < n_want and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        t.join(30)
    got = subscriber.wait_for(0)
    assert readings(got) == readings(want)
    live_topics = {m.topic for m in got[result.messages :]}
    assert f"{topic_prefix}/gov-nj-1/gov-nj-1-el" in live_topics
