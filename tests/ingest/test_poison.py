"""Poison messages through a running ingest: none stalls or stops the stream, each becomes a reject.

Each test publishes the hostile message first and a good reading after it: the good reading is
stored only if ingest got past the poison, and the poison is recorded with a reason.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from store.ingest_progress import accounted_items

from .conftest import make_config, running_ingest, settle, wait_for

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def ts(i: int) -> str:
    return (T0 + timedelta(minutes=i)).isoformat()


def _good(publisher, prefix: str, i: int) -> None:
    publisher.send(f"{prefix}/INST1/E1", {"ts": ts(i), "value": i})


def test_nul_bytes_do_not_stall_ingest(reg_db, mqtt_url, topic_prefix, publisher):
    """Defect 1: a NUL byte in the payload, or \\u0000 in ts or a batch item's meter."""
    cfg = make_config(reg_db, mqtt_url, topic_prefix)
    with running_ingest(cfg) as svc:
        publisher.send(f"{topic_prefix}/INST1/E1", b"\x00 not json")
        publisher.send(f"{topic_prefix}/INST1/E1", b'{"ts": "2026-03-01T00:00:00Z\\u0000", "value": 1}')
        publisher.send(
            f"{topic_prefix}/INST1/_batch", b'[{"meter": "E1\\u0000", "ts": 1772323200, "value": 1}]'
        )
        _good(publisher, topic_prefix, 1)
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", 1) == 1
        assert wait_for(reg_db, "SELECT count(*) FROM ingest_reject", 3) == 3
        assert svc._fatal is None
    with psycopg.connect(reg_db) as conn:
        rows = conn.execute("SELECT reason, payload, payload_raw FROM ingest_reject ORDER BY id").fetchall()
    by_payload = {r[2] if r[2] is not None else r[1].encode(): r[0] for r in rows}
    assert by_payload[b"\x00 not json"] == "bad_json"
    # The stored text is an escaped form; the exact bytes are kept beside it.
    assert rows[0][1] == "\\x00 not json" and bytes(rows[0][2]) == b"\x00 not json"
    assert {r[0] for r in rows[1:]} == {"unstorable_text"}


def test_lone_surrogates_do_not_crash_ingest(reg_db, mqtt_url, topic_prefix, publisher):
    """Defect 2: valid JSON holding a lone surrogate in ts or in a batch item's meter."""
    cfg = make_config(reg_db, mqtt_url, topic_prefix)
    with running_ingest(cfg) as svc:
        publisher.send(f"{topic_prefix}/INST1/E1", b'{"ts": "\\ud800", "value": 1}')
        publisher.send(
            f"{topic_prefix}/INST1/_batch", b'[{"meter": "E\\udc001", "ts": 1772323200, "value": 1}]'
        )
        publisher.send(f"{topic_prefix}/INST1/E1", b'{"ts": 1772323200, "value": 1, "unit": "\\udfff"}')
        _good(publisher, topic_prefix, 1)
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", 1) == 1
        assert wait_for(reg_db, "SELECT count(*) FROM ingest_reject", 3) == 3
        assert svc._fatal is None
    with psycopg.connect(reg_db) as conn:
        rows = conn.execute("SELECT reason, payload, meter_id FROM ingest_reject ORDER BY id").fetchall()
    assert {r[0] for r in rows} == {"unstorable_text"}
    assert any("\\udc00" in (r[1] or "") for r in rows)


def test_infinite_values_after_conversion_are_rejected(reg_db, mqtt_url, topic_prefix, publisher):
    """Defect 3: finite on the wire, infinite after the unit factor or the meter's multiplier."""
    cfg = make_config(reg_db, mqtt_url, topic_prefix)
    with running_ingest(cfg):
        publisher.send(f"{topic_prefix}/INST1/E1", {"ts": ts(0), "value": 0})
        publisher.send(f"{topic_prefix}/INST1/E1", {"ts": ts(60), "value": 1e308, "unit": "MWh"})
        publisher.send(f"{topic_prefix}/INST1/E2", {"ts": ts(0), "value": 0})
        publisher.send(f"{topic_prefix}/INST1/E2", {"ts": ts(60), "value": 1e308})  # multiplier 10
        publisher.send(f"{topic_prefix}/INST1/W1", b'{"ts": 1772323200, "value": 1e400}')
        for i in range(5):  # interval meter: each value finite, their sum over a day is not
            publisher.send(f"{topic_prefix}/INST1/W1", {"ts": ts(120 + i), "value": 1.5e308})
        _good(publisher, topic_prefix, 120)
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading WHERE meter_id = 'E1'", 2) == 2
        assert wait_for(reg_db, "SELECT count(*) FROM ingest_reject", 8) == 8
    settle(reg_db)
    with psycopg.connect(reg_db) as conn:
        reasons = [r[0] for r in conn.execute("SELECT reason FROM ingest_reject ORDER BY id")]
        values = [r[0] for r in conn.execute("SELECT value FROM reading")]
        usage = [
            r[0]
            for r in conn.execute(
                "SELECT consumption FROM usage_hourly UNION ALL SELECT consumption FROM usage_daily"
            )
        ]
    assert set(reasons) == {"non_finite_value", "value_out_of_range"}
    assert all(math.isfinite(v) for v in values + usage)


def test_content_error_from_the_database_is_isolated(reg_db, mqtt_url, topic_prefix, publisher):
    """Poison isolation: a message the database refuses (here: a CHECK the parser knows nothing of)
    is found by splitting its batch, stored as a reject with its payload, and the rest commits."""
    with psycopg.connect(reg_db) as conn:
        conn.execute("ALTER TABLE reading ADD CONSTRAINT test_no_666 CHECK (value <> 666)")
    cfg = make_config(reg_db, mqtt_url, topic_prefix, batch_max_ms=500)
    n = 200
    with running_ingest(cfg) as svc:
        for i in range(n):
            value = 666 if i in (37, 150) else i
            publisher.send(f"{topic_prefix}/INST1/E1", {"ts": ts(i), "value": value})
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", n - 2) == n - 2
        assert wait_for(reg_db, "SELECT count(*) FROM ingest_reject", 2) == 2
        assert svc._fatal is None
        _good(publisher, topic_prefix, n)
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", n - 1) == n - 1
    with psycopg.connect(reg_db) as conn:
        rows = conn.execute("SELECT reason, detail, payload FROM ingest_reject ORDER BY id").fetchall()
        batched = conn.execute("SELECT sum(messages), sum(inserted) FROM ingest_batch").fetchone()
    assert [r[0] for r in rows] == ["storage_error", "storage_error"]
    assert all("23514" in r[1] for r in rows)  # check_violation, by SQLSTATE
    assert {json.loads(r[2])["ts"] for r in rows} == {ts(37), ts(150)}
    assert batched == (n + 1, n - 1)


def test_a_message_refused_by_the_database_counts_the_items_it_carried(
    reg_db, mqtt_url, topic_prefix, publisher
):
    """A batch message the database refuses is one storage_error reject, but it delivered all its items: what
    a publisher counted for it is what ingest_batch.items counts, so a wait for what was published ends."""
    with psycopg.connect(reg_db) as conn:
        conn.execute("ALTER TABLE reading ADD CONSTRAINT test_no_666 CHECK (value <> 666)")
        since = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    cfg = make_config(reg_db, mqtt_url, topic_prefix, batch_max_ms=200)
    with running_ingest(cfg) as svc:
        batch = [{"meter": "E1", "ts": ts(i), "value": 666 if i == 1 else i} for i in range(3)]
        publisher.send(f"{topic_prefix}/INST1/_batch", batch)
        _good(publisher, topic_prefix, 10)
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM ingest_reject WHERE reason = 'storage_error'", 1) == 1
        assert wait_for(reg_db, "SELECT count(*) FROM reading", 1) == 1
        assert svc._fatal is None
    with psycopg.connect(reg_db) as conn:
        assert accounted_items(conn, since) == 4


def test_a_message_refused_whole_counts_the_items_it_held(reg_db, mqtt_url, topic_prefix, publisher):
    """A batch refused whole for holding too many items is one reject, but a publisher counted each of
    them: ingest_batch.items counts the items the parser saw. A payload that is not JSON holds no countable
    item and counts one."""
    with psycopg.connect(reg_db) as conn:
        since = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    cfg = make_config(reg_db, mqtt_url, topic_prefix, max_items=5)
    with running_ingest(cfg) as svc:
        batch = [{"meter": "E1", "ts": ts(i), "value": i} for i in range(7)]
        publisher.send(f"{topic_prefix}/INST1/_batch", batch)
        publisher.send(f"{topic_prefix}/INST1/E1", b'[{"ts": 1, "value"')
        _good(publisher, topic_prefix, 10)
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", 1) == 1
        assert wait_for(reg_db, "SELECT count(*) FROM ingest_reject", 2) == 2
        assert svc._fatal is None
    with psycopg.connect(reg_db) as conn:
        reasons = {r for (r,) in conn.execute("SELECT reason FROM ingest_reject")}
        assert reasons == {"too_many_items", "bad_json"}
        assert accounted_items(conn, since) == 7 + 1 + 1


def test_redelivered_message_writes_its_rejects_and_statistics_once(
    reg_db, mqtt_url, topic_prefix, publisher
):
    """Defect 5: a message committed but not acked (a crash between commit and ack) comes back from
    the broker; its reject rows and its ingest_batch statistics are not written again."""
    client_id = f"test-ingest-{uuid.uuid4().hex[:8]}"
    cfg = make_config(reg_db, mqtt_url, topic_prefix, client_id=client_id)
    batch = [{"meter": "E1", "ts": ts(0), "value": 1}, {"meter": "NOPE", "ts": ts(0), "value": 1}]
    with running_ingest(cfg) as svc:
        svc.transport.ack = lambda messages: 0  # committed, never acked: what a kill before the ack leaves
        publisher.send(f"{topic_prefix}/INST1/_batch", batch)
        publisher.send(f"{topic_prefix}/INST1/E1", b"garbage")
        publisher.flush()
        assert wait_for(reg_db, "SELECT coalesce(sum(messages), 0) FROM ingest_batch", 2) == 2
    with running_ingest(cfg):  # same session: the broker redelivers both, before anything new
        _good(publisher, topic_prefix, 1)
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", 2) == 2
        assert wait_for(reg_db, "SELECT coalesce(sum(messages), 0) FROM ingest_batch", 3) == 3
    settle(reg_db)
    with psycopg.connect(reg_db) as conn:
        assert conn.execute("SELECT reason FROM ingest_reject ORDER BY reason").fetchall() == [
            ("bad_json",),
            ("unknown_meter",),
        ]
        assert conn.execute(
            "SELECT sum(messages), sum(readings), sum(inserted), sum(duplicates), sum(rejects)"
            " FROM ingest_batch"
        ).fetchone() == (3, 2, 2, 0, 2)
        # The redelivery is counted as such, apart from the first delivery.
        assert conn.execute("SELECT sum(redelivered) FROM ingest_batch").fetchone()[0] == 2


@pytest.mark.parametrize("meter_chars", [300, 20_000])
def test_oversized_meter_id_is_rejected_not_stored(reg_db, mqtt_url, topic_prefix, publisher, meter_chars):
    """A meter id longer than any index row can hold: refused by the parser, not by a failing index."""
    cfg = make_config(reg_db, mqtt_url, topic_prefix)
    meter = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(meter_chars))  # incompressible
    with running_ingest(cfg) as svc:
        publisher.send(f"{topic_prefix}/INST1/_batch", [{"meter": meter, "ts": ts(0), "value": 1}])
        _good(publisher, topic_prefix, 1)
        publisher.flush()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", 1) == 1
        assert wait_for(reg_db, "SELECT count(*) FROM ingest_reject", 1) == 1
        assert svc._fatal is None


# --- the parser's own refusals (pure) ------------------------------------------------------------


def _parse(topic: str, payload: bytes):
    from zoneinfo import ZoneInfo

    from ingest.parser import ParseConfig, parse_message

    cfg = ParseConfig(prefix="jieneng/v1", tz=ZoneInfo("Asia/Shanghai"), reject_payload_chars=100)
    return parse_message(topic, payload, cfg, datetime(2026, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("jieneng/v1/INST1/E1", b'{"ts": "\\u0000", "value": 1}', "unstorable_text"),
        ("jieneng/v1/INST1/E1", b'{"ts": 1772323200, "value": 1, "unit": "kWh\\u0000"}', "unstorable_text"),
        (
            "jieneng/v1/INST1/_batch",
            b'[{"meter": "\\ud800", "ts": 1772323200, "value": 1}]',
            "unstorable_text",
        ),
        ("jieneng/v1/INST1/E1\ud800", b'{"ts": 1772323200, "value": 1}', "unstorable_text"),
        ("jieneng/v1/INST1/" + "M" * 300, b'{"ts": 1772323200, "value": 1}', "bad_reading"),
        (
            "jieneng/v1/INST1/_batch",
            b'[{"meter": "' + b"M" * 300 + b'", "ts": 1772323200, "value": 1}]',
            "bad_reading",
        ),
        ("jieneng/v1/INST1/E1", b'{"ts": 1' + b"0" * 400 + b', "value": 1}', "bad_timestamp"),
        ("jieneng/v1/INST1/E1", b'{"ts": 1772323200, "value": 1' + b"0" * 400 + b"}", "non_finite_value"),
        ("jieneng/v1/INST1/E1", b"[" * 100_000 + b"]" * 100_000, "bad_json"),
    ],
)
def test_parser_refuses_what_postgresql_cannot_store(topic, payload, reason):
    from ingest.parser import has_unstorable

    res = _parse(topic, payload)
    assert [j.reason for j in res.rejects] == [reason] and res.readings == []
    j = res.rejects[0]
    for text in (j.payload, j.detail, j.meter_id or ""):
        assert not has_unstorable(text)


def test_reject_payload_is_escaped_and_kept_exactly():
    res = _parse("jieneng/v1/INST1/E1", b"\x00\xff{")
    [j] = res.rejects
    assert j.payload == "\\x00\\xff{" and j.payload_raw == b"\x00\xff{"
    [k] = _parse("jieneng/v1/INST1/E1", b"not json").rejects
    assert k.payload == "not json" and k.payload_raw is None  # plain text needs no copy


# --- the writer's idempotency per message (no broker) --------------------------------------------


def test_write_messages_twice_changes_nothing_but_the_redelivery_count(reg_db):
    from ingest.parser import Reject
    from ingest.validate import GoodReading
    from ingest.writer import StagedMessage, message_key, prune_message_keys, write_messages

    now = datetime.now(UTC)
    topic = "jieneng/v1/INST1/_batch"

    def message(payload: bytes) -> StagedMessage:
        return StagedMessage(
            message_key(topic, payload),
            topic,
            now,
            [GoodReading("E1", T0, 1.0)],
            [Reject("unknown_meter", "meter 'NOPE' is not in the registry", "{}", "NOPE", item=1)],
        )

    with psycopg.connect(reg_db, autocommit=True) as conn:
        first = write_messages(conn, [message(b"a"), message(b"a")])  # the same message twice in one batch
        again = write_messages(conn, [message(b"a")])
        other = write_messages(conn, [message(b"b")])  # another message: its reject is its own
        assert (first.messages, first.redelivered, first.inserted, first.rejects) == (1, 1, 1, 1)
        assert (again.messages, again.redelivered, again.readings, again.rejects) == (0, 1, 0, 0)
        # Every delivery's two items (a reading and a reject) count, repeats included, so a wait for what
        # was published counts them.
        assert (first.items, again.items, other.items) == (4, 2, 2)
        assert conn.execute("SELECT sum(items) FROM ingest_batch").fetchone()[0] == 8
        assert (other.messages, other.duplicates, other.rejects) == (1, 1, 1)
        assert conn.execute("SELECT count(*) FROM ingest_reject").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM reading").fetchone()[0] == 1

        conn.execute(
            "UPDATE ingest_message SET committed_at = now() - interval '40 days' WHERE key = %s",
            (message_key(topic, b"a"),),
        )
        assert prune_message_keys(conn, "30 days") == 1
        assert conn.execute("SELECT count(*) FROM ingest_message").fetchone()[0] == 1
        # Sent again after its key was pruned: new to the keys, but its reject row is there already, so it
        # writes none; its items still count as delivered.
        late = write_messages(conn, [message(b"a")])
        assert (late.messages, late.redelivered, late.rejects, late.items) == (1, 0, 0, 2)
