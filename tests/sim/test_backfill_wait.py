"""The demo's wait for the end of a backfill: everything the simulator published is stored or
rejected (injected repeats and malformed messages included) before it returns, and a pause in
ingest does not end it."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
import uuid
from zoneinfo import ZoneInfo

import psycopg
import pytest

from jieneng.demo_waits import wait_backfill, wait_rollups, wait_stored
from sim.faults import FaultRates
from sim.publisher import Publisher
from sim.run import backfill
from store.ingest_progress import accounted_items, stored_in_range

ingest_service = pytest.importorskip("ingest.service")
from ingest.transport import BrokerConfig  # noqa: E402

TZ = "Asia/Shanghai"
Z = ZoneInfo(TZ)
# Repeats and malformed messages well above the demo's rates, so the counts cannot agree by accident.
RATES = FaultRates(
    gap=0.05, reset=0.0, replacement=0.0, jump=0.0, duplicate=0.02, conflict=0.01, backlog=0.2, malformed=0.5
)


def _db_now(url: str) -> dt.datetime:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT clock_timestamp()").fetchone()[0]


def _batch(url: str, readings: int, rejects: int = 0) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO ingest_batch (messages, readings, inserted, duplicates, conflicts, rejects, items)"
            " VALUES (1, %s, %s, 0, 0, %s, %s)",
            (readings, readings, rejects, readings + rejects),
        )


def _until(pred, timeout_s: float = 120) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def _ingest(sim_db_url, mqtt_url, topic_prefix):
    """A running ingest service on the test's topics."""
    cfg = ingest_service.IngestConfig(
        database_url=sim_db_url,
        broker=BrokerConfig(
            url=mqtt_url,
            client_id=f"wait-ingest-{uuid.uuid4().hex[:8]}",
            topic_prefix=topic_prefix,
            session_expiry_s=300,
            receive_maximum=2000,
        ),
        timezone=TZ,
        batch_max_ms=50,
        rollup_interval_ms=100,
    )
    svc = ingest_service.IngestService(cfg)
    t = threading.Thread(target=svc.run, daemon=True)
    t.start()
    try:
        assert svc.transport.wait_connected(15)
        yield svc
    finally:
        svc.stop()
        t.join(60)


def test_wait_ends_when_everything_published_is_stored(sim_db_url, mqtt_url, topic_prefix):
    stop = threading.Event()
    with _ingest(sim_db_url, mqtt_url, topic_prefix):
        since = _db_now(sim_db_url)
        start, end = dt.datetime(2025, 11, 3, tzinfo=Z), dt.datetime(2025, 11, 7, tzinfo=Z)
        result = backfill(sim_db_url, mqtt_url, topic_prefix, start, end, seed=5, rates=RATES)
        assert result.duplicates and result.conflicts and result.malformed
        assert result.items == result.readings + result.duplicates + result.conflicts + result.malformed
        seen = wait_backfill(sim_db_url, since, result.items, stop, stall_s=120)
        published = result.counts()
        assert wait_stored(sim_db_url, published, TZ, stop, stall_s=120) == result.readings
        assert wait_rollups(sim_db_url, stop, timeout_s=120)
    with psycopg.connect(sim_db_url) as conn:
        # The figure the demo shows before it scores: every distinct published reading is stored.
        assert stored_in_range(conn, result.start, result.end) == result.readings
        assert conn.execute("SELECT count(*) FROM reading").fetchone()[0] == result.readings
        # Each item published is accounted for exactly once (no redelivery without a restart).
        assert seen == accounted_items(conn, since) == result.items
        assert conn.execute("SELECT count(*) FROM ingest_reject").fetchone()[0] == result.malformed
        assert conn.execute("SELECT count(*) FROM usage_dirty").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM usage_hourly").fetchone()[0] > 0
        # A reading between grid points (an earlier live run's, say) is not the backfill's.
        conn.execute(
            "INSERT INTO reading (meter_id, ts, value) SELECT meter_id, ts + interval '7 min', value"
            " FROM reading ORDER BY meter_id, ts LIMIT 1"
        )
        assert (
            stored_in_range(conn, published["start"], published["end"], published["interval_s"], TZ)
            == result.readings
        )


def test_a_message_published_again_byte_for_byte_is_accounted_for(sim_db_url, mqtt_url, topic_prefix):
    """A gateway (or the simulator) that sends the same bytes again, in one run or in a later one, sends
    a message ingest has seen: it is acked and counted as redelivered, and its items still count as
    accounted for, so the wait for what was published ends instead of stalling on them."""
    stop = threading.Event()
    start, end = dt.datetime(2025, 11, 3, tzinfo=Z), dt.datetime(2025, 11, 5, tzinfo=Z)
    with _ingest(sim_db_url, mqtt_url, topic_prefix):
        since = _db_now(sim_db_url)
        first = backfill(sim_db_url, mqtt_url, topic_prefix, start, end, seed=5, rates=RATES)
        # The demo resumed over the same range: every message the same bytes as before.
        again = backfill(sim_db_url, mqtt_url, topic_prefix, start, end, seed=5, rates=RATES)
        assert again.items == first.items and again.malformed
        # Within one run: a malformed message repeated (a bad time stamp on the same meter, twice), and
        # a reading sent twice in the same message bytes.
        pub = Publisher(mqtt_url)
        try:
            for topic, payload in [
                (f"{topic_prefix}/gov-nj-1/gov-nj-1-el", b'{"ts":"not-a-time","value":1.0}'),
                (f"{topic_prefix}/gov-nj-1/gov-nj-1-el", b'{"ts":"not-a-time","value":1.0}'),
                (f"{topic_prefix}/gov-nj-1/gov-nj-1-el", b'{"ts":"2025-11-05T00:15:00+08:00","value":1.0}'),
                (f"{topic_prefix}/gov-nj-1/gov-nj-1-el", b'{"ts":"2025-11-05T00:15:00+08:00","value":1.0}'),
            ]:
                pub.publish(topic, payload)
            pub.flush()
        finally:
            pub.close()
        items = first.items + again.items + 4
        seen = wait_backfill(sim_db_url, since, items, stop, stall_s=120)
    with psycopg.connect(sim_db_url) as conn:
        assert seen == accounted_items(conn, since) == items
        redelivered = conn.execute(
            "SELECT sum(redelivered) FROM ingest_batch WHERE committed_at >= %s", (since,)
        ).fetchone()[0]
        assert redelivered >= 2  # the second run's messages, and the two repeats


def test_a_pause_in_ingest_does_not_end_the_wait(sim_db_url):
    """The old wait took three quiet seconds for the end; ingest on a loaded machine pauses longer."""
    _batch(sim_db_url, 500)  # committed before the backfill began: not ours
    since = _db_now(sim_db_url)
    stop = threading.Event()
    done: list[int] = []
    seen: list[int] = []
    waiter = threading.Thread(
        target=lambda: done.append(
            wait_backfill(sim_db_url, since, 100, stop, on_progress=seen.append, poll_s=0.1)
        ),
        daemon=True,
    )
    waiter.start()
    try:
        _batch(sim_db_url, 60, rejects=10)
        assert _until(lambda: seen and seen[-1] == 70)
        # Longer than the old three quiet seconds with nothing committed: still waiting.
        waiter.join(4.5)
        assert waiter.is_alive() and not done
        _batch(sim_db_url, 29, rejects=1)
        waiter.join(120)
        assert done == [100]
    finally:
        stop.set()
        waiter.join(10)


def test_a_stalled_ingest_is_reported_not_waited_for_forever(sim_db_url):
    since = _db_now(sim_db_url)
    _batch(sim_db_url, 3)
    with pytest.raises(TimeoutError, match="3 of 10 published reading items"):
        wait_backfill(sim_db_url, since, 10, threading.Event(), stall_s=1.0, poll_s=0.1)


def test_stored_readings_confirm_what_the_statistics_suggest(sim_db_url):
    """Statistics can run ahead (a message delivered twice counts twice); the stored count decides."""
    published = {
        "start": "2025-11-03T00:00:00+08:00",
        "end": "2025-11-03T02:00:00+08:00",
        "readings": 3,
        "interval_s": 3600,
    }
    with psycopg.connect(sim_db_url) as conn:
        conn.execute(
            "INSERT INTO reading (meter_id, ts, value) VALUES"
            " ('gov-nj-1-el', '2025-11-03T01:00:00+08:00', 1), ('gov-nj-1-el', '2025-11-03T02:00:00+08:00', 2),"
            " ('gov-nj-1-el', '2025-11-03T01:15:00+08:00', 1.5)"
        )
    with pytest.raises(TimeoutError, match="2 of 3 published readings stored"):
        wait_stored(sim_db_url, published, TZ, threading.Event(), stall_s=1.0, poll_s=0.1)
    with psycopg.connect(sim_db_url) as conn:
        conn.execute(
            "INSERT INTO reading (meter_id, ts, value) VALUES ('gov-xz-1-el', '2025-11-03T02:00:00+08:00', 5)"
        )
    assert wait_stored(sim_db_url, published, TZ, threading.Event(), stall_s=60, poll_s=0.1) == 3
