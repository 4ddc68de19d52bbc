"""The ingest service with a transport passed in: batches, order and acks, without a broker.

The service takes the transport as a factory (as Telegraf's mqtt_consumer takes a client), so what
the collector and the writer do with messages can be tested through real PostgreSQL alone. The
collector takes messages from the inbox in runs; a run larger than the batch's row budget must go
back to the inbox in order, never into an oversized batch.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg

from ingest.service import IngestService
from ingest.transport import BrokerConfig, Inbox, InMessage

from .conftest import make_config


class FeedTransport:
    """The parts of ingest.transport.Transport the service uses, fed by the test."""

    def __init__(self, cfg: BrokerConfig) -> None:
        self.cfg = cfg
        self.inbox = Inbox()
        self.acked: list[InMessage] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def ack(self, messages: list[InMessage]) -> int:
        with self._lock:
            self.acked.extend(messages)
        return len(messages)

    def feed(self, topic: str, payload: bytes, mid: int) -> None:
        self.inbox.put(InMessage(1, mid, 1, topic, payload, datetime.now(UTC), session=1, size=len(payload)))


def wait_until(predicate, timeout: float = 120.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_runs_from_the_inbox_never_overfill_a_batch_and_keep_their_order(reg_db):
    per_msg, n_msgs, max_rows = 40, 60, 100
    cfg = make_config(reg_db, "mqtt://127.0.0.1:1", "seam/v1", batch_max_rows=max_rows, batch_max_ms=5000)
    svc = IngestService(cfg, transport=FeedTransport)
    feed: FeedTransport = svc.transport
    assert isinstance(feed, FeedTransport)
    t0 = datetime(2025, 3, 1, tzinfo=UTC)
    # Everything is in the inbox before the service starts: the collector's first take sees all of it.
    for k in range(n_msgs):
        items = [
            {
                "meter": "E1",
                "ts": (t0 + timedelta(minutes=per_msg * k + j)).isoformat(),
                "value": per_msg * k + j,
            }
            for j in range(per_msg)
        ]
        feed.feed("seam/v1/INST1/_batch", json.dumps(items).encode(), mid=k + 1)
    runner = threading.Thread(target=svc.run, daemon=True)
    runner.start()
    try:
        wait_until(lambda: len(feed.acked) == n_msgs, what="every message acked")
    finally:
        svc.stop()
        runner.join(60)
    assert not runner.is_alive(), "ingest did not stop"
    assert [m.mid for m in feed.acked] == list(range(1, n_msgs + 1)), "acked out of arrival order"
    with psycopg.connect(reg_db) as conn:
        assert (
            conn.execute("SELECT count(*) FROM reading WHERE meter_id = 'E1'").fetchone()[0]
            == per_msg * n_msgs
        )
        sizes = [r[0] for r in conn.execute("SELECT readings FROM ingest_batch ORDER BY committed_at")]
    assert sum(sizes) == per_msg * n_msgs
    # A batch closes once it holds max_rows readings: at most one message beyond the budget.
    assert max(sizes) < max_rows + per_msg, sizes
