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
from ingest.writer import StagedMessage, message_key, write_messages

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


class CountingInbox(Inbox):
    """An inbox that counts the messages the collector takes and puts back."""

    def __init__(self) -> None:
        super().__init__()
        self.taken = 0
        self.put_back_n = 0

    def take(self, max_n: int, timeout: float) -> list[InMessage]:
        run = super().take(max_n, timeout)
        self.taken += len(run)
        return run

    def put_back(self, msgs: list[InMessage]) -> None:
        self.put_back_n += len(msgs)
        super().put_back(msgs)


class CountingFeed(FeedTransport):
    def __init__(self, cfg: BrokerConfig) -> None:
        super().__init__(cfg)
        self.inbox = CountingInbox()


def _gateway_backlog(feed: FeedTransport, topic: str, n_msgs: int, per_msg: int) -> None:
    t0 = datetime(2025, 4, 1, tzinfo=UTC)
    for k in range(n_msgs):
        items = [
            {
                "meter": "E1",
                "ts": (t0 + timedelta(minutes=per_msg * k + j)).isoformat(),
                "value": per_msg * k + j,
            }
            for j in range(per_msg)
        ]
        feed.feed(topic, json.dumps(items).encode(), mid=k + 1)


def test_a_backlog_of_gateway_messages_is_not_shuffled_through_the_inbox_lock(reg_db):
    # 100-reading gateway messages, a batch budget of 5,000 rows, a backlog in the inbox: a run must
    # not take a whole budget of messages (5,000) to use 50 and put back the rest under the lock the
    # network thread needs for every message, batch after batch.
    per_msg, n_msgs, max_rows = 100, 2000, 5000
    cfg = make_config(reg_db, "mqtt://127.0.0.1:1", "seam/v2", batch_max_rows=max_rows, batch_max_ms=5000)
    svc = IngestService(cfg, transport=CountingFeed)
    feed: CountingFeed = svc.transport
    _gateway_backlog(feed, "seam/v2/INST1/_batch", n_msgs, per_msg)
    runner = threading.Thread(target=svc.run, daemon=True)
    runner.start()
    try:
        wait_until(lambda: len(feed.acked) == n_msgs, what="every message acked")
    finally:
        svc.stop()
        runner.join(60)
    assert not runner.is_alive(), "ingest did not stop"
    assert [m.mid for m in feed.acked] == list(range(1, n_msgs + 1)), "acked out of arrival order"
    inbox = feed.inbox
    # Each message taken about once: the first run may overshoot (nothing is known of the messages
    # yet), later runs follow the rows per message seen.
    assert inbox.put_back_n <= max_rows + n_msgs, (inbox.taken, inbox.put_back_n)


def test_stop_commits_and_acks_messages_that_were_put_back(reg_db):
    per_msg, n_msgs, max_rows = 40, 200, 100
    cfg = make_config(
        reg_db, "mqtt://127.0.0.1:1", "seam/v3", batch_max_rows=max_rows, batch_max_ms=5000, stop_grace_s=60
    )
    svc = IngestService(cfg, transport=CountingFeed)
    feed: CountingFeed = svc.transport
    _gateway_backlog(feed, "seam/v3/INST1/_batch", n_msgs, per_msg)
    runner = threading.Thread(target=svc.run, daemon=True)
    runner.start()
    try:
        wait_until(lambda: feed.inbox.put_back_n > 0, what="a run put back")
    finally:
        svc.stop()  # messages are in the inbox, some of them put back: the drain commits them all
        runner.join(120)
    assert not runner.is_alive(), "ingest did not stop"
    assert [m.mid for m in feed.acked] == list(range(1, n_msgs + 1))
    assert feed.inbox.qsize() == 0
    with psycopg.connect(reg_db) as conn:
        assert conn.execute("SELECT count(*) FROM reading").fetchone()[0] == per_msg * n_msgs


class CreditFeed(FeedTransport):
    """A gateway that always has more to send: a message goes in whenever an ack returns credit, as
    the broker sends on as ingest acks (the transport's credit bound, at most ``CREDIT`` held)."""

    CREDIT = 5000

    def __init__(self, cfg: BrokerConfig) -> None:
        super().__init__(cfg)
        self.credit = threading.Semaphore(self.CREDIT)
        self.running = threading.Event()
        self.fed = 0

    def ack(self, messages: list[InMessage]) -> int:
        for _ in messages:
            self.credit.release()
        return super().ack(messages)

    def flood(self, topic: str) -> None:
        t0 = datetime(2025, 7, 1, tzinfo=UTC)
        while self.running.is_set():
            if not self.credit.acquire(timeout=0.1):
                continue
            self.fed += 1
            ts = (t0 + timedelta(minutes=self.fed)).isoformat()
            self.feed(topic, json.dumps({"ts": ts, "value": self.fed}).encode(), mid=self.fed % 65535 + 1)


def test_stop_returns_while_messages_keep_arriving(reg_db):
    # More held than a batch takes, as under a broker backlog (credit 20,000, batches of 5,000 rows).
    cfg = make_config(
        reg_db, "mqtt://127.0.0.1:1", "seam/v4", batch_max_rows=500, stop_grace_s=20, run_rollup=False
    )
    svc = IngestService(cfg, transport=CreditFeed)
    feed: CreditFeed = svc.transport
    feed.running.set()
    flood = threading.Thread(target=feed.flood, args=("seam/v4/INST1/E1",), daemon=True)
    flood.start()
    runner = threading.Thread(target=svc.run, daemon=True)
    runner.start()
    try:
        wait_until(lambda: len(feed.acked) > 5000, what="a steady stream")
        acked_at_stop = len(feed.acked)
        stopped_at = time.monotonic()
        svc.stop()
        runner.join(60)
        took = time.monotonic() - stopped_at
        assert not runner.is_alive(), "ingest did not stop while messages kept arriving"
        # The database is well: stop() flushes what was held when the collector stopped (at most the
        # credit, and a batch's worth acked meanwhile), without waiting out the grace meant for a hung
        # commit.
        assert took < cfg.stop_grace_s / 2, f"stop took {took:.1f}s"
        flushed = len(feed.acked) - acked_at_stop
        assert flushed <= CreditFeed.CREDIT + cfg.batch_max_rows, (acked_at_stop, len(feed.acked))
    finally:
        feed.running.clear()
        flood.join(30)
        svc.stop()
        runner.join(60)
    with psycopg.connect(reg_db) as conn:
        assert conn.execute("SELECT count(*) FROM reading").fetchone()[0] == len(feed.acked)


def test_redeliveries_mixed_with_new_messages_stop_the_keys_copy_being_tried(reg_db, monkeypatch):
    # After a restart the broker resends what was not acked, between new messages. Each batch then
    # holds a key stored before: the keys COPY fails (its work rolled back) and the INSERT follows.
    # Once seen, the keys COPY is not tried while redeliveries keep coming; the readings still are.
    import ingest.writer as writer

    failed: list[int] = []
    real = writer._copy_keys

    def counting(conn, keys):
        ok = real(conn, keys)
        if not ok:
            failed.append(len(keys))
        return ok

    monkeypatch.setattr(writer, "_copy_keys", counting)
    n_old, n_batches = 200, 20
    cfg = make_config(reg_db, "mqtt://127.0.0.1:1", "seam/v5", batch_max_rows=20, batch_max_ms=5000)
    t0 = datetime(2025, 8, 1, tzinfo=UTC)

    def payload(k: int) -> bytes:
        return json.dumps({"ts": (t0 + timedelta(minutes=k)).isoformat(), "value": k}).encode()

    with psycopg.connect(reg_db) as conn:  # committed by an earlier process, never acked
        stats = write_messages(
            conn,
            [
                StagedMessage(message_key("seam/v5/INST1/E1", payload(k)), "seam/v5/INST1/E1", t0)
                for k in range(n_old)
            ],
        )
        assert stats.messages == n_old
    failed.clear()
    svc = IngestService(cfg, transport=FeedTransport)
    feed: FeedTransport = svc.transport
    for b in range(n_batches):  # each batch: 10 redelivered, 10 new
        for j in range(10):
            feed.feed("seam/v5/INST1/E1", payload(b * 10 + j), mid=b * 20 + j + 1)
        for j in range(10):
            feed.feed("seam/v5/INST1/E1", payload(n_old + b * 10 + j), mid=b * 20 + 10 + j + 1)
    runner = threading.Thread(target=svc.run, daemon=True)
    runner.start()
    try:
        wait_until(lambda: len(feed.acked) == 20 * n_batches, what="every message acked")
    finally:
        svc.stop()
        runner.join(60)
    assert not runner.is_alive(), "ingest did not stop"
    with psycopg.connect(reg_db) as conn:
        assert conn.execute("SELECT count(*) FROM reading").fetchone()[0] == 20 * n_batches
        assert conn.execute("SELECT sum(redelivered) FROM ingest_batch").fetchone()[0] == 10 * n_batches
    assert len(failed) <= 1, f"the keys COPY failed in {len(failed)} batches"
