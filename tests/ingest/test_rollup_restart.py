"""The rollup child of `jieneng ingest` is restarted after it crashes, and its work is finished."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta

import psycopg

from .conftest import hourly, make_config, running_ingest, wait_for

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def poll(predicate, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_rollup_child_killed_mid_transaction_is_restarted_and_finishes(
    reg_db, mqtt_url, topic_prefix, publisher
):
    cfg = make_config(reg_db, mqtt_url, topic_prefix)
    with running_ingest(cfg) as svc, psycopg.connect(reg_db) as blocker:
        # Hold the rollup inside its transaction: it has taken its queue and written hours, and
        # waits for usage_daily.
        blocker.execute("LOCK TABLE usage_daily IN EXCLUSIVE MODE")
        readings = [{"ts": (T0 + k * timedelta(hours=1)).isoformat(), "value": float(k)} for k in range(49)]
        for k in range(0, 49, 7):
            publisher.send(f"{topic_prefix}/INST1/E1", readings[k : k + 7])
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading WHERE meter_id = 'E1'", 49, timeout=120) == 49

        def rollup_waits_on_lock() -> bool:
            with psycopg.connect(reg_db, autocommit=True) as c:
                return (
                    c.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock' AND query ILIKE '%%usage_daily%%'"
                    ).fetchone()[0]
                    == 1
                )

        assert poll(rollup_waits_on_lock), "the rollup never reached usage_daily"
        old = svc._rollup_proc
        os.kill(old.pid, signal.SIGKILL)
        assert poll(lambda: svc._rollup_proc is not old and svc._rollup_proc.is_alive()), (
            "rollup not restarted"
        )
        assert old.exitcode == -signal.SIGKILL
        blocker.rollback()  # the killed child's transaction ends with its connection; the new child takes over

        assert wait_for(reg_db, "SELECT count(*) FROM usage_dirty", 0, timeout=120) == 0
        assert wait_for(reg_db, "SELECT count(*) FROM usage_daily WHERE meter_id = 'E1'", 3, timeout=120) == 3
        assert svc._rollup_proc.is_alive()
    assert hourly(reg_db, "E1") == {("E1", T0 + k * timedelta(hours=1)): 1.0 for k in range(48)}
    with psycopg.connect(reg_db) as c:
        assert (
            c.execute("SELECT sum(consumption) FROM usage_monthly WHERE meter_id = 'E1'").fetchone()[0]
            == 48.0
        )
