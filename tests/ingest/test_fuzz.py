"""Fuzz through the real broker and database: hostile messages mixed with good readings.

Hypothesis generates arbitrary bytes, arbitrary JSON (any unicode, lone surrogates included, any
numbers, deep nesting, huge arrays) and arbitrary topics under the test's prefix, and publishes
them with good readings to one running IngestService. After each example every message is
committed: each of its readings the parser and registry accept is in ``reading``, and each
refusal is an ``ingest_reject`` row under the message's key. No message needs the database's
own refusal (``storage_error``) to be recorded, every good reading is stored with its value, and
ingest is still running at the end.
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.parser import ParseConfig, parse_message
from ingest.validate import RegistryCache, validate
from ingest.writer import message_key

from .conftest import make_config, running_ingest

T0 = datetime(2025, 7, 1, 0, 0, 7, 123000, tzinfo=UTC)  # apart from any time the strategies favour
MAX_PAYLOAD = 64 * 1024
MAX_ITEMS = 500
_good_seq = itertools.count()

any_text = st.text(st.characters(blacklist_categories=()), max_size=20)  # surrogates and controls too
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | any_text
    | st.sampled_from(["\x00", "\ud800", "\udfff", "E1\x00", "1e400", ""])
)
timestamps = (
    st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat())
    | st.sampled_from(
        [
            "2026-02-01T00:00:00",
            "2026-02-01T00:00:00Z\x00",
            "\ud800",
            "9999-12-31T23:59:59-12:00",
            "0001-01-01T00:00:00+14:00",
        ]
    )
    | any_text
)
values = (
    st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([1e308, -1e308, 1.7e308, 5e-324, 1e15, 1e16])
    | scalars
)
meters = st.sampled_from(["E1", "E2", "ROLL", "CAP", "W1", "OLD", "OTHER", "FZ", "NOPE"]) | any_text
units = (
    st.sampled_from(["kWh", "Wh", "MWh", "MJ", "GJ", "m3", "L", "t", "furlong", "\x00", "\udc00"]) | any_text
)
readings = st.fixed_dictionaries(
    {"ts": timestamps, "value": values}, optional={"unit": units, "meter": meters, "extra": scalars}
)
json_docs = st.recursive(
    scalars | readings,
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(st.sampled_from(["ts", "value", "meter", "unit"]) | any_text, children, max_size=5)
    ),
    max_leaves=25,
)


def _dump(doc, ascii_only: bool) -> bytes:
    # ensure_ascii writes a lone surrogate as a \ud800 escape: the only way JSON carries one.
    text = json.dumps(doc, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


raw_numbers = st.sampled_from(
    [
        b"1e400",
        b"-1e400",
        b"1" + b"0" * 400,
        b"1" + b"0" * 5000,
        b"-0",
        b"1e-400",
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b"123456789012345678901234567890",
    ]
)
payloads = st.one_of(
    st.binary(max_size=600),
    st.tuples(json_docs, st.booleans()).map(lambda t: _dump(*t)),
    st.lists(readings, max_size=40).map(lambda d: _dump(d, True)),
    raw_numbers.map(lambda n: b'{"ts": 1769904000, "value": ' + n + b"}"),
    raw_numbers.map(lambda n: b'[{"meter": "E1", "ts": ' + n + b', "value": 1}]'),
    st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n),  # nesting far past the parser's recursion
    st.integers(MAX_ITEMS - 2, MAX_ITEMS + 2).map(
        lambda n: _dump([{"ts": 1769904000 + i, "value": i} for i in range(n)], True)
    ),
    st.just(b"[" + b'{"ts": 1, "value": 1},' * (MAX_PAYLOAD // 20) + b"{}]"),  # larger than allowed
)
# MQTT forbids NUL in topics and brokers refuse control characters; everything else is fair.
topic_chars = st.characters(blacklist_categories=("Cc", "Cs", "Cn"), blacklist_characters="+#/")
topic_suffixes = st.one_of(
    st.sampled_from(
        [
            "INST1/E1",
            "INST1/_batch",
            "INST1/FZ",
            "INST1/W1",
            "INST2/E1",
            "INST1/NOPE",
            "INST1",
            "",
            "INST1/E1/extra",
            "/E1",
            "INST1/",
        ]
    ),
    st.lists(st.text(topic_chars, max_size=20), min_size=1, max_size=4).map("/".join),
    st.text(topic_chars, min_size=1, max_size=300).map(lambda m: f"INST1/{m}"),
)
hostile = st.tuples(topic_suffixes, payloads)


@pytest.fixture
def fuzz_ingest(reg_db, mqtt_url, topic_prefix):
    with psycopg.connect(reg_db) as conn:
        conn.execute(
            "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at)"
            " VALUES ('FZ', 'INST1', 'electricity', 'kWh', 'interval', 'main', '2020-01-01Z')"
        )
    cfg = make_config(
        reg_db,
        mqtt_url,
        topic_prefix,
        max_payload_bytes=MAX_PAYLOAD,
        max_items=MAX_ITEMS,
        reject_payload_chars=512,
    )
    with running_ingest(cfg) as svc, psycopg.connect(reg_db, autocommit=True) as conn:
        cache = RegistryCache()
        cache.refresh(conn)
        parse_cfg = ParseConfig(
            prefix=topic_prefix,
            tz=svc.parse_cfg.tz,
            max_payload_bytes=MAX_PAYLOAD,
            max_items=MAX_ITEMS,
            reject_payload_chars=512,
        )
        yield svc, conn, cache, parse_cfg, topic_prefix
        assert svc._fatal is None


def _wait_committed(conn, keys: set[bytes], timeout: float = 120.0) -> set[bytes]:
    deadline = time.monotonic() + timeout
    missing = set(keys)
    while missing and time.monotonic() < deadline:
        found = conn.execute(
            "SELECT key FROM ingest_message WHERE key = ANY(%s)", (list(missing),)
        ).fetchall()
        missing -= {bytes(r[0]) for r in found}
        if missing:
            time.sleep(0.1)
    return missing


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(messages=st.lists(hostile, min_size=1, max_size=12), n_good=st.integers(1, 3))
def test_fuzz_every_message_stored_or_rejected(fuzz_ingest, publisher, messages, n_good):
    svc, conn, cache, parse_cfg, prefix = fuzz_ingest
    good = []
    for _ in range(n_good):
        i = next(_good_seq)
        good.append(((T0 + timedelta(minutes=i)), float(i)))
    sent: list[tuple[str, bytes]] = []
    for suffix, payload in messages:
        sent.append((f"{prefix}/{suffix}", payload))
    for at, value in good:
        sent.insert(
            len(sent) // 2,
            (f"{prefix}/INST1/FZ", json.dumps({"ts": at.isoformat(), "value": value}).encode()),
        )
    now = datetime.now(UTC)
    for topic, payload in sent:
        publisher.send(topic, payload)
    publisher.flush()

    missing = _wait_committed(conn, {message_key(t, p) for t, p in sent})
    assert not missing, f"{len(missing)} messages never committed"
    assert svc._fatal is None
    for topic, payload in sent:
        key = message_key(topic, payload)
        rejects = [
            r[0] for r in conn.execute("SELECT reason FROM ingest_reject WHERE message_key = %s", (key,))
        ]
        # Neither the database (storage_error) nor a parser bug (parse_error) had to stand in for a reason.
        assert not {"storage_error", "parse_error"} & set(rejects), (rejects, topic, payload[:200])
        parsed = parse_message(topic, payload, parse_cfg, now)
        ok, refused = validate(parsed.readings, cache.meters, 512, None)
        if parsed.rejects or refused:
            assert rejects, ("no reject row", topic, payload[:200])
        for r in ok:
            assert conn.execute(
                "SELECT 1 FROM reading WHERE meter_id = %s AND ts = %s", (r.meter_id, r.ts)
            ).fetchone(), ("reading not stored", topic, payload[:200])
    for at, value in good:
        assert conn.execute(
            "SELECT value FROM reading WHERE meter_id = 'FZ' AND ts = %s", (at,)
        ).fetchone() == (value,)
    assert svc.transport.connected.is_set()
