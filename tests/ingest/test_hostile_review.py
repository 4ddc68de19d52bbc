"""Hostile payloads the fuzz test does not generate, through a running ingest to PostgreSQL."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid

import psycopg
import pytest

from ingest.service import IngestService
from jieneng.embedded import start_embedded_broker

from .conftest import Publisher, make_config, running_ingest, settle, wait_for


def _payloads(prefix: str) -> list[tuple[str, bytes]]:
    t = f"{prefix}/INST1/E1"
    b = f"{prefix}/INST1/_batch"
    many = json.dumps(
        [{"meter": "E1\u0000" + "x" * 40, "ts": 1772323200 + i, "value": i} for i in range(9_999)],
        ensure_ascii=True,
    ).encode()
    many_sur = (
        "["
        + ",".join(
            f'{{"meter": "E1", "ts": "2026-03-01T00:00:{i % 60:02d}\\ud800", "value": 1}}'
            for i in range(9_999)
        )
        + "]"
    ).encode()
    return [
        (b, many),
        (b, many_sur),
        (f"{prefix}/INST1/" + "m" * 65_000, b'{"ts": 1772323200, "value": 1}'),
        (f"{prefix}/INST1/E1/extra", b'{"ts": 1772323200, "value": 1}'),
        (t, b'{"ts": 1772323200, "ts": "\\u0000", "value": 1}'),
        (t, b'{"ts": 1772323200, "value": 1e-400}'),
        (t, b'{"ts": 1772323201, "value": -0.0}'),
        (t, b'{"ts": 1772323202, "value": true}'),
        (t, b'{"ts": NaN, "value": 1}'),
        (t, b'{"ts": 1.0e400, "value": 1}'),
        (t, b'{"ts": -1e400, "value": 1}'),
        (t, b'{"ts": "0000-01-01T00:00:00Z", "value": 1}'),
        (t, b'{"ts": "0001-01-01T00:00:00", "value": 1}'),
        (t, b'{"ts": "0001-01-01T00:00:00+00:00", "value": 1}'),
        (t, b'{"ts": "9999-12-31T23:59:59", "value": 1}'),
        (t, b'{"ts": "9999-12-31T23:59:59-14:00", "value": 1}'),
        (t, b'{"ts": -62135596800, "value": 1}'),
        (t, b'{"ts": 253402300799.999, "value": 1}'),
        (t, b'{"ts": 1772323203.5, "value": 1, "unit": {"\\u0000": 1}}'),
        (t, b'{"ts": 1772323204, "value": 1, "unit": "kWh\\u0000"}'),
        (t, b'{"ts": 1772323205, "value": 1, "unit": "' + b"k" * 100_000 + b'"}'),
        (t, b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]"),
        (t, b'{"ts": 1772323206, "value": 1' + b"0" * 5000 + b"}"),
        (t, b'{"ts": "' + "\u202e\ufeff".encode() * 10 + b'", "value": 1}'),
    ]


def test_hostile_payloads_are_stored_or_rejected_and_ingest_keeps_running(
    reg_db, mqtt_url, topic_prefix, publisher
):
    cfg = make_config(reg_db, mqtt_url, topic_prefix)
    with running_ingest(cfg) as svc:
        payloads = _payloads(topic_prefix)
        for topic, data in payloads:
            publisher.send(topic, data)
        publisher.send(f"{topic_prefix}/INST1/E1", {"ts": 1772323300, "value": 5})
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading WHERE value = 5", 1, timeout=120) == 1
        assert (
            wait_for(
                reg_db,
                "SELECT count(DISTINCT message_key) FROM ingest_reject UNION ALL SELECT 0 LIMIT 1",
                0,
                timeout=1,
            )
            is not None
        )
        assert svc._fatal is None
    with psycopg.connect(reg_db) as conn:
        rows = conn.execute(
            "SELECT reason, count(*), count(DISTINCT message_key) FROM ingest_reject GROUP BY 1 ORDER BY 1"
        ).fetchall()
        readings = conn.execute("SELECT ts, value FROM reading ORDER BY ts").fetchall()
    print(rows)
    print(readings)


def test_late_reading_with_a_unit_is_converted_to_the_unit_in_force_at_its_time(
    reg_db, mqtt_url, topic_prefix, publisher
):
    """A reading that names its unit, for a time before a change of the meter's unit, arriving after it.

    E1 reads kWh until 2026-03-02 and MWh from then (a register replaced). A late reading of
    2026-03-01 02:00 sent as 200 kWh must be stored as 200 in that period's unit (kWh), which is how
    the rollup reads every stored value of the period; converted to the current unit (0.2) it looks
    like a counter reset, and the hour's 100 kWh is lost.
    """
    cfg = make_config(reg_db, mqtt_url, topic_prefix)
    topic = f"{topic_prefix}/INST1/E1"
    base = 1772323200  # 2026-03-01T00:00:00Z
    with running_ingest(cfg) as svc:
        publisher.send(topic, {"ts": base, "value": 0})
        publisher.send(topic, {"ts": base + 3600, "value": 100})
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", 2) == 2
        with psycopg.connect(reg_db, autocommit=True) as conn:
            conn.execute(
                "UPDATE meter SET unit = 'MWh', config_from = '2026-03-02T00:00:00Z' WHERE id = 'E1'"
            )
        publisher.send(topic, {"ts": base + 7200, "value": 200, "unit": "kWh"})
        publisher.send(f"{topic_prefix}/INST1/E2", {"ts": base, "value": 1})  # a marker after it
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", 4) == 4
        assert svc._fatal is None
    settle(reg_db)
    with psycopg.connect(reg_db) as conn:
        stored = conn.execute(
            "SELECT value FROM reading WHERE meter_id = 'E1' AND ts = to_timestamp(%s)", (base + 7200,)
        ).fetchone()[0]
        hours = conn.execute(
            "SELECT hour, consumption FROM usage_hourly WHERE meter_id = 'E1' ORDER BY hour"
        ).fetchall()
    assert stored == 200.0
    # Reported in the current unit (MWh): 100 kWh in each of the two hours.
    assert [round(c, 9) for _, c in hours] == [0.1, 0.1]


def test_unit_change_committing_while_a_batch_is_in_flight_is_not_missed(
    reg_db, mqtt_url, topic_prefix, publisher
):
    """A change of E1's unit (kWh -> MWh from 2026-03-02) is open in another transaction while ingest
    validates a reading of 2026-03-02 01:00 sent as 300 kWh with the old configuration. The batch
    must not commit what it converted under a configuration that no longer holds: stored, the value
    is read in MWh, the unit in force at its time once the change commits (0.3, not 300)."""
    cfg = make_config(reg_db, mqtt_url, topic_prefix)
    ts = 1772409600 + 3600  # 2026-03-02T01:00:00Z
    with (
        running_ingest(cfg) as svc,
        psycopg.connect(reg_db) as change,
        psycopg.connect(reg_db, autocommit=True) as watch,
    ):
        # The ingest's registry cache is current before the change starts.
        publisher.send(f"{topic_prefix}/INST1/E2", {"ts": ts, "value": 1})
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", 1) == 1
        change.execute("UPDATE meter SET unit = 'MWh', config_from = '2026-03-02T00:00:00Z' WHERE id = 'E1'")
        publisher.send(f"{topic_prefix}/INST1/E1", {"ts": ts, "value": 300, "unit": "kWh"})
        publisher.flush()
        # Either the reading commits at once (the change unseen), or ingest waits for the change.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stored = watch.execute("SELECT count(*) FROM reading WHERE meter_id = 'E1'").fetchone()[0]
            waiting = watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            ).fetchone()[0]
            if stored or waiting:
                break
            time.sleep(0.05)
        change.commit()
        assert wait_for(reg_db, "SELECT count(*) FROM reading WHERE meter_id = 'E1'", 1) == 1
        assert svc._fatal is None
    with psycopg.connect(reg_db) as conn:
        value = conn.execute("SELECT value FROM reading WHERE meter_id = 'E1'").fetchone()[0]
    assert value == 0.3


def test_a_second_worker_with_the_same_explicit_client_id_is_refused(reg_db, mqtt_url, topic_prefix):
    """Two share-group workers configured with one explicit client id (a copied unit file). Mosquitto
    2.0 ends the older connection without a DISCONNECT reason (seen: "Unspecified error"), and
    paho reconnects, taking the session back: the two steal it from each other for as long as both
    run. The second must be refused at start with the reason, and the first keep its stream."""
    from ingest.idlock import ClientIdInUse

    client_id = f"{topic_prefix.replace('/', '-')}-member"
    cfg = make_config(
        reg_db,
        mqtt_url,
        topic_prefix,
        share_group=f"g{uuid.uuid4().hex[:6]}",
        client_id=client_id,
        db_timeout_s=3.0,
    )
    with running_ingest(cfg) as first:
        second = IngestService(cfg)
        with pytest.raises(ClientIdInUse, match=client_id):
            second.run()
        assert first.transport.connected.is_set() and first.transport.generation == 1
        assert second.transport.generation == 0  # it never connected to the broker
    # Once the first has stopped, the id is free again (a restart).
    with running_ingest(cfg) as again:
        assert again.transport.generation == 1


def test_a_message_within_the_payload_bound_is_never_dropped_by_the_broker_for_its_topic(
    reg_db, mqtt_url, topic_prefix, publisher
):
    """Ingest sends MQTT 5 Maximum Packet Size so that the broker never sends it more than it would
    take; a broker drops, unrecorded, what exceeds it. A payload within JIENENG_INGEST_MAX_PAYLOAD_BYTES
    on a long topic (MQTT allows 65,535 bytes) must still reach ingest, to be stored or rejected
    with its reason, not vanish at the broker."""
    from dataclasses import replace

    limit = 2000
    cfg = make_config(reg_db, mqtt_url, topic_prefix, max_payload_bytes=limit)
    cfg = replace(cfg, broker=replace(cfg.broker, max_payload_bytes=limit))
    body = b'{"ts": 1772323200, "value": 1}'
    padded = body[:-1] + b" " * (limit - len(body)) + b"}"
    assert len(padded) == limit
    with running_ingest(cfg) as svc:
        publisher.send(f"{topic_prefix}/INST1/" + "m" * 8000, padded)
        publisher.send(f"{topic_prefix}/INST1/E1", padded)
        publisher.send(f"{topic_prefix}/INST1/E1", {"ts": 1772323300, "value": 5})
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", 2) == 2
        assert wait_for(reg_db, "SELECT count(*) FROM ingest_reject", 1) == 1
        assert svc._fatal is None
    with psycopg.connect(reg_db) as conn:
        assert conn.execute("SELECT reason FROM ingest_reject").fetchone()[0] == "bad_reading"


def test_a_registry_change_waits_for_an_ingest_batch_before_it_changes_any_meter(reg_db):
    """An ingest batch at its last statement holds the registry version FOR SHARE. A meter update
    must wait for it before touching the meter (and its meter_config periods), not after: else the
    batch commits readings validated under a configuration the waiting change already replaced."""
    with (
        psycopg.connect(reg_db) as batch,
        psycopg.connect(reg_db) as change,
        psycopg.connect(reg_db, autocommit=True) as probe,
    ):
        batch.execute("SELECT version FROM registry_version FOR SHARE")
        change.execute("SET lock_timeout = '60s'")
        t = threading.Thread(
            target=lambda: change.execute(
                "UPDATE meter SET unit = 'MWh', config_from = '2026-03-02T00:00:00Z' WHERE id = 'E1'"
            ),
            daemon=True,
        )
        t.start()
        deadline = time.monotonic() + 60
        while (
            probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            ).fetchone()[0]
            == 0
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # The waiting change holds no lock on the meter row yet.
        probe.execute("SELECT 1 FROM meter WHERE id = 'E1' FOR UPDATE NOWAIT")
        batch.commit()
        t.join(60)
        change.commit()


def test_period_lookup_matches_the_sql_definition():
    """MeterInfo.at picks the period meter_config_at (migration 0011) picks: the latest starting at or
    before ts, else the earliest."""
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    periods = tuple(
        (None if i == 0 else t0 + timedelta(days=i), f"u{i}", "cumulative", float(i + 1))
        for i in range(0, 3000, 3)
    )
    m = meter_info(t0, periods)

    def reference(ts):
        fitting = [p for p in periods if p[0] is None or p[0] <= ts]
        return (fitting[-1] if fitting else periods[0])[1]

    for day in (-5, 0, 1, 2, 3, 4, 2998, 2999, 3000, 5000):
        ts = t0 + timedelta(days=day)
        assert m.at(ts)[0] == reference(ts), day
    late = meter_info(t0, ((t0, "a", "cumulative", 1.0), (t0 + timedelta(days=1), "b", "interval", 2.0)))
    assert late.at(t0 - timedelta(days=1)) == (
        "a",
        "cumulative",
        1.0,
    )  # the earliest covers the time before it
    assert late.at(t0 + timedelta(days=1)) == ("b", "interval", 2.0)


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs the mosquitto binary")
def test_qos1_kept_through_a_database_stall_longer_than_the_keepalive(reg_db, topic_prefix, tmp_path):
    """A stall of several keepalives with QoS 1 at the message bound: the Receive Maximum (at most the
    bound) stops the broker before paho's network thread would have to block, so the connection
    stays up and nothing is lost or written twice. (QoS 0 has no such window: at the bound the
    network thread blocks, sends no PINGREQ, and after 1.5 keepalives the broker drops the
    connection and the QoS 0 messages queued for it; seen 1,479 of 3,000 stored with a 12 s stall
    and a 5 s keepalive; README says so.) A private Mosquitto, configured as deployed: the default
    max_queued_messages (1000) would drop the backlog at the broker whatever ingest does."""
    from dataclasses import replace
    from datetime import UTC, datetime

    broker = start_embedded_broker(tmp_path / "broker")
    publisher = Publisher(broker.url)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    cfg = make_config(reg_db, broker.url, topic_prefix, batch_max_rows=50)
    cfg = replace(
        cfg,
        broker=replace(
            cfg.broker, max_undelivered_messages=200, max_undelivered_bytes=1 << 20, keepalive_s=5
        ),
    )
    n = 3000
    try:
        _stall_at_the_bound(cfg, publisher, reg_db, n, t0, f"{topic_prefix}/INST1/W1")
    finally:
        publisher.close()
        broker.stop()
    with psycopg.connect(reg_db) as conn:
        assert conn.execute("SELECT count(*) FROM ingest_reject").fetchone()[0] == 0
        assert conn.execute("SELECT sum(inserted) FROM ingest_batch").fetchone()[0] == n


def _stall_at_the_bound(cfg, publisher, reg_db: str, n: int, t0, topic: str) -> None:
    from datetime import timedelta

    from .test_transport_bounds import StalledDatabase

    with running_ingest(cfg) as svc:
        t = svc.transport
        with StalledDatabase(reg_db):
            for i in range(n):
                publisher.send(topic, {"ts": (t0 + timedelta(minutes=i)).isoformat(), "value": 1.0})
            deadline = time.monotonic() + 90
            while t.held()[0] < 200:
                assert time.monotonic() < deadline, "ingest did not reach its bound"
                time.sleep(0.1)
            time.sleep(12)  # the fault: a stall of more than two keepalives at the bound
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", n, timeout=120) == n
        assert svc._fatal is None
        assert t.peak_messages <= 200


def meter_info(installed_at, periods):
    from ingest.validate import MeterInfo

    return MeterInfo(
        id="m",
        institution_id="i",
        name=None,
        energy_type="electricity",
        unit="kWh",
        register="cumulative",
        end_use="main",
        parent_meter_id=None,
        multiplier=1.0,
        rollover=None,
        max_rate_per_h=None,
        config_from=None,
        installed_at=installed_at,
        retired_at=None,
        periods=periods,
    )
