"""The simulator's injected faults, through the real broker and ingest, come out as the right rejects,
duplicates, conflicts, counter resets and quarantines; late backlogs lose nothing."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from zoneinfo import ZoneInfo

import psycopg
import pytest

from sim.faults import FaultRates
from sim.run import backfill

ingest_service = pytest.importorskip("ingest.service")
from ingest.rollup import rollup_until_idle  # noqa: E402
from ingest.transport import BrokerConfig  # noqa: E402

TZ = "Asia/Shanghai"
Z = ZoneInfo(TZ)
RATES = FaultRates(
    gap=0.1,
    reset=0.03,
    replacement=0.03,
    jump=0.05,
    duplicate=0.005,
    conflict=0.005,
    backlog=0.15,
    malformed=0.2,
)
# what ingest calls each kind of malformed message
REJECT_REASON = {
    "bad_json": "bad_json",
    "unknown_meter": "unknown_meter",
    "bad_value_type": "bad_value",
    "bad_ts": "bad_timestamp",
}


def well_formed(messages) -> set[tuple[str, dt.datetime]]:
    out = set()
    for m in messages:
        try:
            body = json.loads(m.payload)
        except ValueError:
            continue
        meter = m.topic.rsplit("/", 1)[1]
        for it in body if isinstance(body, list) else [body]:
            mid = it.get("meter", meter)
            if mid == "sim-unknown-meter" or not isinstance(it["value"], int | float):
                continue
            try:
                out.add((mid, dt.datetime.fromisoformat(it["ts"])))
            except ValueError:
                continue
    return out


def scalar(url: str, sql: str):
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def test_faults_come_out_of_ingest_as_injected(sim_db_url, mqtt_url, topic_prefix):
    cfg = ingest_service.IngestConfig(
        database_url=sim_db_url,
        broker=BrokerConfig(
            url=mqtt_url,
            client_id=f"sim-ingest-{uuid.uuid4().hex[:8]}",
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
        time.sleep(0.3)
        start, end = dt.datetime(2025, 11, 3, tzinfo=Z), dt.datetime(2025, 11, 9, tzinfo=Z)
        result = backfill(sim_db_url, mqtt_url, topic_prefix, start, end, seed=21, rates=RATES)
        sim = result.simulator
        # the same run, regenerated, tells us which readings were well formed
        from sim.run import make_simulator

        again = make_simulator(sim_db_url, seed=21, prefix=topic_prefix, rates=RATES)
        again.start_at(start)
        expected = well_formed(again.advance(end) + again.flush())
        malformed = [e for e in sim.events if e.kind == "malformed"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if scalar(sim_db_url, "SELECT count(*) FROM reading") == len(expected) and scalar(
                sim_db_url, "SELECT count(*) FROM ingest_reject"
            ) >= len(malformed):
                break
            time.sleep(0.2)
    finally:
        svc.stop()
        t.join(60)
    with psycopg.connect(sim_db_url, autocommit=True) as conn:
        rollup_until_idle(conn, TZ)
        stored = set(conn.execute("SELECT meter_id, ts FROM reading").fetchall())
        rejects = conn.execute("SELECT topic, reason FROM ingest_reject").fetchall()
        conflicts = set(conn.execute("SELECT meter_id, ts FROM reading_conflict").fetchall())
        duplicates = conn.execute("SELECT coalesce(sum(duplicates), 0) FROM ingest_batch").fetchone()[0]
        quarantined = conn.execute("SELECT meter_id, ts_from, ts_to FROM usage_quarantine").fetchall()
        resets = set(
            conn.execute("SELECT meter_id, ts_to FROM usage_counter_event WHERE kind = 'reset'").fetchall()
        )

    kinds = {e.kind for e in sim.events}
    assert kinds >= {"gap", "reset", "replacement", "jump", "duplicate", "conflict", "backlog", "malformed"}
    # every well-formed reading is stored, late backlogs included, and nothing else
    assert stored == expected
    # one reject per malformed message, with the matching reason
    assert sorted(rejects) == sorted((e.topic, REJECT_REASON[e.detail]) for e in malformed)
    # repeats: same value is a duplicate, a different value a conflict keeping the first
    assert duplicates == sum(e.kind == "duplicate" for e in sim.events)
    ts = dt.datetime.fromisoformat
    assert conflicts == {(e.meter_id, ts(e.ts)) for e in sim.events if e.kind == "conflict"}
    # resets and replacements are seen where the counter restarted
    restarts = {
        (e.meter_id, ts(e.ts))
        for e in sim.events
        if e.kind in ("reset", "replacement") and "not sent" not in (e.detail or "")
    }
    assert restarts and restarts <= resets
    # each implausible leap is quarantined, and nothing else is
    jumps = [e for e in sim.events if e.kind == "jump"]
    assert len(quarantined) == len(jumps)
    for e in jumps:
        assert any(m == e.meter_id and a < ts(e.ts) <= b for m, a, b in quarantined), e
