"""Hostile checks of ingest's per-message shortcuts: message keys, the parser's ``\\u`` shortcut, the
collector's runs from the inbox, the keys COPY on redelivery, and registry times in other zones."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.parser import ParseConfig, RawReading, Reject, has_unstorable, parse_message
from ingest.transport import Inbox, InMessage
from ingest.validate import GoodReading, RegistryCache, validate
from ingest.writer import StagedMessage, message_key, write_messages


def _plain_key(topic: str, payload: bytes) -> bytes:
    t = topic.encode("utf-8", "surrogatepass")
    h = hashlib.blake2b(digest_size=16)
    h.update(len(t).to_bytes(4, "big") + t + payload)
    return h.digest()


def test_message_keys_match_one_blake2b_over_length_topic_and_payload():
    # Keys already stored in ingest_message must keep matching the messages a broker redelivers.
    for n in (0, 1, 2046, 2047, 2048, 2049, 4093, 4094, 4095, 4096, 65_537):
        payload = bytes((i * 131 + n) % 256 for i in range(n))
        for topic in ("jn/INST1/E1", "", "t" * 3000, "jn/\ud800/x", "jn/机构/表"):
            assert message_key(topic, payload) == _plain_key(topic, payload), (n, topic[:20])


_CFG = ParseConfig(prefix="jn", tz=ZoneInfo("Asia/Shanghai"))
_NOW = datetime(2026, 1, 1, tzinfo=UTC)
_text = st.text(alphabet=st.characters(codec=None), max_size=8)  # any code point, surrogates and NUL included


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    meter=st.one_of(_text, st.just("E1")),
    ts=st.one_of(_text, st.just("2025-01-01T00:00:00+08:00"), st.just("2025-01-01T00:00:00\u0000")),
    unit=st.one_of(st.none(), _text, st.just("kWh")),
    extra_key=_text,
    ascii_only=st.booleans(),
    batch=st.booleans(),
)
def test_no_reading_carries_text_postgresql_cannot_store(meter, ts, unit, extra_key, ascii_only, batch):
    item = {"ts": ts, "value": 1.5, extra_key: meter}
    if unit is not None:
        item["unit"] = unit
    if batch:
        item["meter"] = meter
    try:
        payload = json.dumps([item], ensure_ascii=ascii_only).encode("utf-8")
    except UnicodeEncodeError:
        payload = json.dumps([item], ensure_ascii=True).encode("utf-8")  # a lone surrogate: only as \u
    topic = "jn/INST1/_batch" if batch else "jn/INST1/E1"
    res = parse_message(topic, payload, _CFG, _NOW)
    for r in res.readings:
        for text in (r.institution_id, r.meter_id, r.unit or ""):
            assert not has_unstorable(text), (payload, r)
    for j in res.rejects:
        for text in (j.reason, j.detail, j.payload, j.meter_id or ""):
            assert not has_unstorable(text), (payload, j)


def _msg(n: int) -> InMessage:
    return InMessage(1, n, 1, "jn/INST1/E1", b"{}", datetime.now(UTC), session=1, size=2)


def test_put_back_keeps_arrival_order_while_messages_keep_arriving():
    lock = threading.RLock()
    inbox = Inbox(lock)
    total = 20_000
    done = threading.Event()

    def produce():
        for n in range(total):
            with lock:
                inbox._append(_msg(n))
        done.set()

    seen: list[int] = []
    t = threading.Thread(target=produce)
    t.start()
    deadline = time.monotonic() + 120
    while len(seen) < total:
        assert time.monotonic() < deadline, f"collected {len(seen)} of {total}"
        run = inbox.take(50, 0.5)
        keep = len(run) // 2 + (1 if run else 0)
        seen.extend(m.mid for m in run[:keep])
        if run[keep:]:
            inbox.put_back(run[keep:])
    t.join()
    assert seen == list(range(total))
    assert inbox.qsize() == 0


def _staged(key: bytes, meter: str, ts: datetime, value: float) -> StagedMessage:
    return StagedMessage(
        key,
        "jn/INST1/" + meter,
        datetime.now(UTC),
        readings=[GoodReading(meter, ts, value)],
        rejects=[Reject("bad_reading", "item 1: test", "{}", meter, item=1)],
    )


def _counts(conn: psycopg.Connection) -> tuple:
    return conn.execute(
        "SELECT (SELECT count(*) FROM reading), (SELECT count(*) FROM ingest_reject),"
        " (SELECT count(*) FROM ingest_message),"
        " (SELECT coalesce(sum(messages), 0) FROM ingest_batch),"
        " (SELECT coalesce(sum(redelivered), 0) FROM ingest_batch),"
        " (SELECT coalesce(sum(rejects), 0) FROM ingest_batch)"
    ).fetchone()


def test_same_message_twice_in_one_batch_is_written_once_on_the_copy_path(reg_db):
    t0 = datetime(2025, 2, 1, tzinfo=UTC)
    msgs = [_staged(bytes([k]) * 16, "E1", t0 + timedelta(hours=k), k) for k in range(5)]
    with psycopg.connect(reg_db) as conn:
        stats = write_messages(conn, msgs + [msgs[2], msgs[0]], try_direct=True)
        assert (stats.messages, stats.redelivered, stats.inserted, stats.rejects) == (5, 2, 5, 5)
        assert _counts(conn) == (5, 5, 5, 5, 2, 5)


def test_two_workers_committing_the_same_keys_write_each_side_effect_once(reg_db):
    t0 = datetime(2025, 2, 1, tzinfo=UTC)
    msgs = [_staged(bytes([k + 1]) * 16, "E1", t0 + timedelta(hours=k), k) for k in range(50)]
    other_done = threading.Event()
    errors: list[BaseException] = []
    results = []

    def second_worker():
        try:
            with psycopg.connect(reg_db) as c2:
                results.append(write_messages(c2, list(reversed(msgs)), try_direct=True))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            other_done.set()

    with psycopg.connect(reg_db) as c1:
        with c1.transaction():
            first = write_messages(c1, msgs, try_direct=True)  # a savepoint: committed with the block
            t = threading.Thread(target=second_worker)
            t.start()
            # The second worker waits on our uncommitted keys (it must not finish first).
            assert not other_done.wait(1.0)
        t.join(120)
        assert not t.is_alive() and not errors, errors
        assert first.messages == 50 and first.redelivered == 0
        assert results[0].messages == 0 and results[0].redelivered == 50
        assert _counts(c1) == (50, 50, 50, 50, 50, 50)


def test_registry_times_in_other_zones_bound_readings_exactly(reg_db):
    installed = datetime(2021, 3, 1, 12, 0, tzinfo=ZoneInfo("Pacific/Kiritimati"))  # UTC+14
    retired = datetime(2021, 3, 5, 0, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    with psycopg.connect(reg_db) as conn:
        conn.execute(
            "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at,"
            " retired_at) VALUES ('TZ1', 'INST1', 'electricity', 'kWh', 'cumulative', 'main', %s, %s),"
            " ('TZ2', 'INST1', 'electricity', 'kWh', 'cumulative', 'main', %s, NULL)",
            (installed, retired, installed),
        )
        conn.commit()
    for zone in ("America/Los_Angeles", "Pacific/Kiritimati", "UTC", "Asia/Shanghai"):
        with psycopg.connect(reg_db, options=f"-c TimeZone={zone}") as conn:
            cache = RegistryCache()
            cache.refresh(conn)
        eps = timedelta(microseconds=1)
        cases = [
            ("TZ1", installed - eps, "before_install"),
            ("TZ1", installed, None),
            ("TZ1", retired, None),
            ("TZ1", retired + eps, "meter_retired"),
            ("TZ2", installed - eps, "before_install"),
            ("TZ2", datetime(2030, 1, 1, tzinfo=UTC), None),
        ]
        for meter, ts, reason in cases:
            raw = RawReading("INST1", meter, ts.astimezone(UTC), 1.0, None, 0)
            good, bad = validate([raw], cache.meters)
            assert [j.reason for j in bad] == ([reason] if reason else []), (zone, meter, ts)
            assert len(good) == (0 if reason else 1)


def test_two_workers_copying_overlapping_new_readings_in_other_orders_do_not_deadlock(reg_db):
    # A share group: two workers receive different messages (other keys) holding the same readings,
    # in other orders (a gateway's resent window, batches composed in another order). Both take the
    # all-new COPY path; a deadlock costs a second (deadlock_timeout), a retry and a warning.
    t0 = datetime(2025, 5, 1, tzinfo=UTC)
    errors: list[BaseException] = []
    for attempt in range(4):
        base = t0 + timedelta(days=attempt)
        rows = [
            GoodReading(m, base + timedelta(minutes=k), float(k)) for k in range(1000) for m in ("E1", "E2")
        ]
        orders = (rows, list(reversed(rows)))
        barrier = threading.Barrier(2)

        def worker(n: int, readings=orders, attempt=attempt, barrier=barrier) -> None:
            msg = StagedMessage(
                bytes([n, attempt]) * 8, "jn/INST1/_batch", datetime.now(UTC), list(readings[n])
            )
            try:
                with psycopg.connect(reg_db) as conn:
                    barrier.wait(30)
                    write_messages(conn, [msg], try_direct=True)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, [type(e).__name__ + ": " + str(e).splitlines()[0] for e in errors]
    with psycopg.connect(reg_db) as conn:
        assert conn.execute("SELECT count(*) FROM reading").fetchone()[0] == 4 * 2000


def test_a_topic_that_is_not_utf8_becomes_a_reject_not_a_dead_network_thread(reg_db):
    # MQTT requires UTF-8 topics and Mosquitto disconnects a publisher that sends another, but a
    # broker that forwards one must not kill paho's network thread (an exception in on_message
    # ends its loop: ingest would run on, receiving nothing).
    import paho.mqtt.client as mqtt

    from ingest.transport import BrokerConfig, Transport

    t = Transport(BrokerConfig(url="mqtt://127.0.0.1:1", client_id="review-topic", topic_prefix="jn"))
    for n, raw in enumerate((b"jn/INST1/\xff", b"jn/INST1/\xed\xa0\x80", b"jn/\xc0\x80/E1"), start=1):
        m = mqtt.MQTTMessage(mid=n, topic=raw)
        m.qos = 1
        m.payload = b'{"ts": 1700000000, "value": 1}'
        t._on_message(t.client, None, m)
    got = [t.inbox.get_nowait() for _ in range(3)]
    staged = []
    for g in got:
        res = parse_message(g.topic, g.payload, _CFG, _NOW)
        assert not res.readings and [j.reason for j in res.rejects] == ["unstorable_text"], g.topic
        staged.append(StagedMessage(message_key(g.topic, g.payload), g.topic, g.received_at, [], res.rejects))
    assert len({s.key for s in staged}) == 3  # three topics, three messages
    with psycopg.connect(reg_db) as conn:
        write_messages(conn, staged)
        topics = [r[0] for r in conn.execute("SELECT topic FROM ingest_reject ORDER BY topic")]
    assert len(topics) == 3 and all(not has_unstorable(x) for x in topics), topics
