"""A batch whose COMMIT reached the server but whose reply was lost: committed once, counted once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from .conftest import add_registry, make_config, running_ingest, wait_for
from .pgproxy import CommitCutProxy

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _reading(publisher, prefix: str, i: int) -> None:
    publisher.send(f"{prefix}/INST1/E1", {"ts": (T0 + timedelta(minutes=i)).isoformat(), "value": i})


@pytest.mark.parametrize("mode", ["commit", "drop", "hold"], ids=["committed", "rolled-back", "left-open"])
def test_a_batch_whose_commit_reply_was_lost_is_counted_once(reg_db, mqtt_url, topic_prefix, publisher, mode):
    """The connection is lost while the batch's COMMIT is on its way. When the server carried it out,
    writing the batch again would find its messages committed and count them again as redelivered, items and
    all (a waiting supervisor would see more than was published); ingest looks for the batch's statistics
    row and counts the batch once. When the server rolled it back, ingest writes it again. When the server's
    session is still open in the transaction (it never heard the connection end: with TCP keepalive at the
    usual two hours, it would wait that long), ingest ends that session first, then writes the batch again."""
    proxy = CommitCutProxy(reg_db, mode=mode)
    with psycopg.connect(reg_db) as conn:
        since = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    cfg = make_config(proxy.url, mqtt_url, topic_prefix, batch_max_ms=200)
    try:
        with running_ingest(cfg) as svc:
            for i in range(5):
                _reading(publisher, topic_prefix, i)
            publisher.flush()
            assert wait_for(reg_db, "SELECT count(*) FROM reading", 5) == 5
            _reading(publisher, topic_prefix, 5)  # and ingest goes on after it
            publisher.flush()
            assert wait_for(reg_db, "SELECT count(*) FROM reading", 6) == 6
            assert svc._fatal is None
            assert proxy.cuts == 1
            totals = svc.totals
    finally:
        proxy.close()
    with psycopg.connect(reg_db) as conn:
        items, redelivered, inserted = conn.execute(
            "SELECT sum(items), sum(redelivered), sum(inserted) FROM ingest_batch WHERE committed_at >= %s",
            (since,),
        ).fetchone()
    assert (items, redelivered, inserted) == (6, 0, 6)
    assert totals.redelivered == 0


def test_a_commit_waiting_for_a_synchronous_standby_is_waited_for(
    private_pg, mqtt_url, topic_prefix, publisher, caplog
):
    """The COMMIT arrived and the server is waiting for its synchronous standby when the connection is lost.
    The batch is on this server only, not yet replicated: ending that session would make the commit final here
    alone (PostgreSQL warns "committed locally, but might not have been replicated"), and a failover to the
    standby would lose an acked batch. Ingest leaves it alone and asks again until the standby answers."""
    from store.migrate import migrate

    url, _ctl = private_pg
    migrate(url, timezone="Asia/Shanghai", timescaledb="off")
    with psycopg.connect(url, autocommit=True) as conn:
        add_registry(conn)
        since = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        # A standby that never connects: every commit waits for it (reads and read-only commits do not).
        conn.execute("ALTER SYSTEM SET synchronous_standby_names = 'ghost'")
        conn.execute("SELECT pg_reload_conf()")
    proxy = CommitCutProxy(url, mode="commit")
    cfg = make_config(proxy.url, mqtt_url, topic_prefix, batch_max_ms=200)
    caplog.set_level("WARNING", logger="ingest.service")
    try:
        with running_ingest(cfg) as svc:
            for i in range(5):
                _reading(publisher, topic_prefix, i)
            publisher.flush()
            deadline = time.monotonic() + 120
            # Until ingest has asked twice and been told to wait, or has counted the batch (the defect).
            while (
                sum("still running" in r.getMessage() for r in caplog.records) < 2 and not svc.totals.messages
            ):
                assert time.monotonic() < deadline, "ingest did not settle the lost COMMIT"
                time.sleep(0.2)
            assert proxy.cuts == 1
            assert svc.totals.messages == 0, "a batch the standby has not confirmed was counted (and acked)"
            with psycopg.connect(url, autocommit=True) as conn:
                waiting = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
                ).fetchone()[0]
                assert waiting >= 1, "the batch's session was ended while it waited for the standby"
                conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
                conn.execute("SELECT pg_reload_conf()")
            assert wait_for(url, "SELECT count(*) FROM reading", 5) == 5
            _reading(publisher, topic_prefix, 5)
            publisher.flush()
            assert wait_for(url, "SELECT count(*) FROM reading", 6) == 6
            assert svc._fatal is None
    finally:
        proxy.close()
    with psycopg.connect(url) as conn:
        items, redelivered = conn.execute(
            "SELECT sum(items), sum(redelivered) FROM ingest_batch WHERE committed_at >= %s", (since,)
        ).fetchone()
    assert (items, redelivered) == (6, 0)
