"""End to end through a real broker: forms, rejects, acks after commit, share groups, a database restart."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from jieneng.embedded import free_port

from .conftest import add_registry, make_config, running_ingest, settle, wait_for

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def ts(i: int) -> str:
    return (T0 + timedelta(minutes=i)).isoformat()


def test_payload_forms_and_rejects_over_mqtt(reg_db, mqtt_url, topic_prefix, publisher):
    port = free_port()
    cfg = make_config(reg_db, mqtt_url, topic_prefix, metrics_port=port)
    with running_ingest(cfg) as svc:
        publisher.send(f"{topic_prefix}/INST1/E1", {"ts": "2026-03-01T08:00:00+08:00", "value": 1})
        publisher.send(
            f"{topic_prefix}/INST1/E1",
            [{"ts": 1772323200 + 3600, "value": 2}, {"ts": 1772323200000 + 7200_000, "value": 3}],
        )
        publisher.send(
            f"{topic_prefix}/INST1/_batch",
            [
                {"meter": "W1", "ts": "2026-03-01T09:00:00", "value": 4},
                {"meter": "NOPE", "ts": ts(0), "value": 1},
            ],
        )
        publisher.send(f"{topic_prefix}/INST1/E1", b"garbage")
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", 4) == 4
        assert wait_for(reg_db, "SELECT count(*) FROM ingest_reject", 2) == 2
        assert wait_for(reg_db, "SELECT coalesce(sum(messages), 0) FROM ingest_batch", 4) == 4
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert 'jieneng_ingest_rejects_total{reason="unknown_meter"}' in text
    assert 'jieneng_ingest_rejects_total{reason="bad_json"}' in text
    assert "jieneng_ingest_commit_seconds_count" in text and "jieneng_ingest_rollup_lag_seconds" in text
    assert svc.totals.inserted == 4 and svc.totals.rejects == 2
    with psycopg.connect(reg_db) as conn:
        rows = conn.execute("SELECT meter_id, ts, value FROM reading ORDER BY meter_id, ts").fetchall()
        rejects = conn.execute("SELECT reason, topic FROM ingest_reject ORDER BY reason").fetchall()
    assert [(m, v) for m, _, v in rows] == [("E1", 1.0), ("E1", 2.0), ("E1", 3.0), ("W1", 4.0)]
    assert {r[1] for r in rows} == {T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)}
    assert rejects == [
        ("bad_json", f"{topic_prefix}/INST1/E1"),
        ("unknown_meter", f"{topic_prefix}/INST1/_batch"),
    ]
    settle(reg_db)
    with psycopg.connect(reg_db) as conn:
        total = conn.execute("SELECT sum(consumption) FROM usage_hourly WHERE meter_id = 'E1'").fetchone()[0]
    assert total == 2.0


def test_unacked_messages_come_back_after_restart(reg_db, mqtt_url, topic_prefix, publisher):
    """Published while the worker is down (persistent session): all stored after it comes back."""
    client_id = f"test-ingest-{uuid.uuid4().hex[:8]}"
    cfg = make_config(reg_db, mqtt_url, topic_prefix, client_id=client_id)
    with running_ingest(cfg):
        publisher.send(f"{topic_prefix}/INST1/E1", {"ts": ts(0), "value": 0})
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", 1) == 1
    for i in range(1, 301):
        publisher.send(f"{topic_prefix}/INST1/E1", {"ts": ts(i), "value": i})
    publisher.flush()
    with running_ingest(cfg):
        assert wait_for(reg_db, "SELECT count(*) FROM reading", 301) == 301
    settle(reg_db)
    with psycopg.connect(reg_db) as conn:
        assert conn.execute("SELECT sum(consumption) FROM usage_hourly").fetchone()[0] == pytest.approx(300.0)


def test_two_workers_share_a_stream(reg_db, mqtt_url, topic_prefix, publisher):
    group = f"g{uuid.uuid4().hex[:6]}"
    cfg_a = make_config(reg_db, mqtt_url, topic_prefix, share_group=group)
    cfg_b = make_config(reg_db, mqtt_url, topic_prefix, share_group=group)
    n = 2000
    with running_ingest(cfg_a) as a, running_ingest(cfg_b) as b:
        for i in range(0, n, 10):
            publisher.send(
                f"{topic_prefix}/INST1/_batch",
                [{"meter": "E1", "ts": ts(j), "value": j} for j in range(i, i + 10)],
            )
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", n) == n
        assert wait_for(reg_db, "SELECT coalesce(sum(messages), 0) FROM ingest_batch", n // 10) == n // 10
    # both took part, nothing stored twice or counted twice
    assert a.totals.messages > 0 and b.totals.messages > 0
    assert a.totals.messages + b.totals.messages == n // 10
    assert a.totals.duplicates + b.totals.duplicates == 0
    settle(reg_db)
    with psycopg.connect(reg_db) as conn:
        assert conn.execute("SELECT sum(consumption) FROM usage_hourly").fetchone()[0] == pytest.approx(n - 1)


def test_database_restart_mid_stream_loses_nothing(private_pg, mqtt_url, topic_prefix, publisher):
    from store.migrate import migrate

    url, ctl = private_pg
    migrate(url, timezone="Asia/Shanghai", timescaledb="off")
    with psycopg.connect(url) as conn:
        add_registry(conn)
    n = 3000
    with running_ingest(make_config(url, mqtt_url, topic_prefix, batch_max_rows=200)) as svc:
        for i in range(n):
            publisher.send(f"{topic_prefix}/INST1/E1", {"ts": ts(i), "value": i})
            if i == n // 3:
                publisher.flush()
                subprocess.run([*ctl, "stop", "-m", "fast"], check=True, capture_output=True)
            if i == n // 2:
                time.sleep(2)  # the worker is retrying against a dead database meanwhile
                subprocess.run([*ctl, "start"], check=True, capture_output=True)
        publisher.flush()
        assert wait_for(url, "SELECT count(*) FROM reading", n, timeout=120) == n
    assert svc.db_retries > 0, "the outage was not noticed: the test did not test anything"
    assert svc.totals.inserted + svc.totals.duplicates == svc.totals.readings
    settle(url)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(DISTINCT ts) FROM reading").fetchone()[0] == n
        assert conn.execute("SELECT sum(consumption) FROM usage_hourly").fetchone()[0] == pytest.approx(n - 1)


def test_cli_refuses_unmigrated_database(empty_db_url, mqtt_url):
    import sys

    env = {
        **os.environ,
        "JIENENG_DATABASE_URL": empty_db_url,
        "JIENENG_MQTT_URL": mqtt_url,
        "JIENENG_METRICS_PORT": str(free_port()),
    }
    out = subprocess.run(
        [sys.executable, "-m", "jieneng.cli", "ingest"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "jieneng db migrate" in out.stderr


# The broker restart (persistence, queued and unacked messages): tests/ingest/test_broker_durability.py.
