"""Parser: every payload form, every timestamp form, every reject reason; never raises."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.parser import ParseConfig, parse_message

CFG = ParseConfig(
    prefix="jieneng/v1",
    tz=ZoneInfo("Asia/Shanghai"),
    max_payload_bytes=2000,
    max_items=5,
    max_future_s=900,
    reject_payload_chars=100,
)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
T = "jieneng/v1/INST1/E1"
B = "jieneng/v1/INST1/_batch"


def p(topic, payload):
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_message(topic, data, CFG, NOW)


def test_single_reading_object():
    res = p(T, {"ts": "2026-05-01T10:00:00+08:00", "value": 12.5})
    assert res.rejects == []
    [r] = res.readings
    assert (r.institution_id, r.meter_id, r.value, r.unit) == ("INST1", "E1", 12.5, None)
    assert r.ts == datetime(2026, 5, 1, 2, 0, tzinfo=UTC)


def test_array_for_topic_meter_and_unit():
    res = p(T, [{"ts": 1777600000, "value": 1}, {"ts": 1777600000123, "value": 2, "unit": "Wh"}])
    assert [r.value for r in res.readings] == [1.0, 2.0]
    assert res.readings[0].ts == datetime.fromtimestamp(1777600000, UTC)
    assert res.readings[1].ts == datetime.fromtimestamp(1777600000.123, UTC)
    assert res.readings[1].unit == "Wh"


def test_gateway_batch():
    res = p(
        B,
        [
            {"meter": "E1", "ts": "2026-05-01T10:00:00Z", "value": 1},
            {"meter": "W1", "ts": "2026-05-01T10:00:00", "value": 2},
        ],
    )
    assert [(r.meter_id, r.institution_id) for r in res.readings] == [("E1", "INST1"), ("W1", "INST1")]
    # naive ISO is read in the deployment zone
    assert res.readings[1].ts == datetime(2026, 5, 1, 2, 0, tzinfo=UTC)


def test_timestamp_forms_agree():
    forms = [
        "2026-05-01T10:00:00+08:00",
        "2026-05-01T02:00:00Z",
        "2026-05-01T10:00:00",
        "2026-05-01 10:00:00",
        1777600800,
        1777600800.0,
        1777600800000,
    ]
    stamps = {p(T, {"ts": f, "value": 1}).readings[0].ts for f in forms}
    assert stamps == {datetime(2026, 5, 1, 2, 0, tzinfo=UTC)}


def reasons(res):
    return [j.reason for j in res.rejects]


def test_whole_message_rejects():
    assert reasons(p("other/INST1/E1", {"ts": 1, "value": 1})) == ["bad_topic"]
    assert reasons(p("jieneng/v1/INST1", {"ts": 1, "value": 1})) == ["bad_topic"]
    assert reasons(p(T, b"{not json")) == ["bad_json"]
    assert reasons(p(T, b"\xff\xfe")) == ["bad_json"]
    assert reasons(p(T, b"x" * 2001)) == ["payload_too_large"]
    assert reasons(p(T, [{"ts": 1, "value": 1}] * 6)) == ["too_many_items"]
    assert reasons(p(T, 42)) == ["bad_payload"]
    assert reasons(p(B, {"meter": "E1", "ts": 1, "value": 1})) == ["bad_payload"]


def test_item_rejects_keep_good_rows():
    ok = {"ts": "2026-05-01T10:00:00+08:00", "value": 1}
    res = p(
        B,
        [
            {**ok, "meter": "E1"},
            {"ts": 1, "value": 1},  # no meter
            {"meter": "E1", "value": 1},  # no ts
            {"meter": "E1", "ts": "yesterday", "value": 1},  # bad ts
            {"meter": "E1", "ts": "2026-06-02T00:00:00Z", "value": 1},  # future
        ],
    )
    assert len(res.readings) == 1
    assert reasons(res) == ["bad_reading", "bad_reading", "bad_timestamp", "future_timestamp"]
    assert res.rejects[2].meter_id == "E1" and "yesterday" in res.rejects[2].payload
    res = p(T, [ok, {"ts": 1, "value": "12"}, {"ts": 1, "value": True}, 7, {"ts": 1, "value": 1, "unit": 3}])
    assert len(res.readings) == 1
    assert reasons(res) == ["bad_value", "bad_value", "bad_reading", "bad_reading"]


def test_non_finite_values():
    res = parse_message(
        T, b'[{"ts": 1, "value": NaN}, {"ts": 1, "value": Infinity}, {"ts": 1, "value": 1e999}]', CFG, NOW
    )
    assert reasons(res) == ["non_finite_value"] * 3


def test_reject_payload_truncated():
    res = p(T, b"[" + b"1," * 500 + b"x]")
    assert res.rejects[0].reason == "bad_json"
    assert len(res.rejects[0].payload) < 150


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["ts", "value", "meter", "unit", "x"]), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(topic=st.sampled_from([T, B, "jieneng/v1/X/Y/Z", "", "jieneng/v1//E1"]), data=st.binary(max_size=300))
def test_never_raises_on_bytes(topic, data):
    res = parse_message(topic, data, CFG, NOW)
    assert res.readings or res.rejects or data.strip() in (b"[]",) or data.strip().startswith(b"[")


@settings(max_examples=300, deadline=None)
@given(topic=st.sampled_from([T, B]), doc=json_values)
def test_never_raises_on_json(topic, doc):
    data = json.dumps(doc).encode()
    res = parse_message(topic, data, CFG, NOW)
    for r in res.readings:
        assert r.ts.tzinfo is not None
        assert r.value == r.value  # finite, not NaN
    # everything is accounted for: each item is a reading or a reject
    if isinstance(doc, list) and len(doc) <= CFG.max_items:
        assert len(res.readings) + len(res.rejects) == len(doc)
