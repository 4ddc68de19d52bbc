"""Writer and rollup against real PostgreSQL (no broker): merges, late data, calendar buckets, quality."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.counters import MeterSpec, compute_usage
from ingest.parser import ParseConfig, parse_message
from ingest.rollup import rollup_until_idle
from ingest.validate import RegistryCache, validate
from ingest.writer import StagedReading, StagedReject, write_batch
from store.quality import meter_quality
from store.usage import usage_series

from .conftest import TZ, add_registry

SH = ZoneInfo(TZ)
PREFIX = "jieneng/v1"
CFG = ParseConfig(prefix=PREFIX, tz=SH)


def ingest(conn: psycopg.Connection, messages: list[tuple[str, object]], cache: RegistryCache | None = None):
    """What the service does with one batch of messages, minus the broker."""
    cache = cache or RegistryCache()
    cache.refresh(conn)
    now = datetime.now(UTC)
    staged, rejects = [], []
    for topic, payload in messages:
        res = parse_message(topic, json.dumps(payload).encode(), CFG, now)
        good, bad = validate(res.readings, cache.meters)
        staged += [StagedReading(g, topic, now) for g in good]
        rejects += [StagedReject(j, topic, now) for j in res.rejects + bad]
    return write_batch(conn, staged, rejects, len(messages))


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        add_registry(c)
        yield c


def hourly(conn, meter_id):
    return dict(
        conn.execute(
            "SELECT hour, consumption FROM usage_hourly WHERE meter_id = %s ORDER BY hour", (meter_id,)
        ).fetchall()
    )


def test_duplicate_and_conflict(conn):
    t = f"{PREFIX}/INST1/E1"
    s1 = ingest(conn, [(t, {"ts": "2026-01-01T00:00:00Z", "value": 5})])
    s2 = ingest(
        conn,
        [
            (t, {"ts": "2026-01-01T00:00:00Z", "value": 5}),
            (t, {"ts": "2026-01-01T00:00:00Z", "value": 6}),
            (t, [{"ts": "2026-01-01T01:00:00Z", "value": 7}, {"ts": "2026-01-01T01:00:00Z", "value": 8}]),
        ],
    )
    assert (s1.inserted, s1.duplicates, s1.conflicts) == (1, 0, 0)
    assert (s2.inserted, s2.duplicates, s2.conflicts) == (1, 1, 2)
    rows = conn.execute("SELECT ts, value FROM reading WHERE meter_id = 'E1' ORDER BY ts").fetchall()
    assert [v for _, v in rows] == [5.0, 7.0]  # the first value stays
    conflicts = conn.execute(
        "SELECT stored_value, new_value, topic FROM reading_conflict ORDER BY ts"
    ).fetchall()
    assert conflicts == [(5.0, 6.0, t), (7.0, 8.0, t)]
    # a redelivered conflicting message records its conflict once
    ingest(conn, [(t, {"ts": "2026-01-01T00:00:00Z", "value": 6})])
    assert conn.execute("SELECT count(*) FROM reading_conflict").fetchone()[0] == 2
    b = conn.execute(
        "SELECT messages, readings, inserted, duplicates, conflicts FROM ingest_batch ORDER BY committed_at"
    ).fetchall()
    assert b[1] == (3, 4, 1, 1, 2)


def test_registry_rejects_beside_good_rows(conn):
    good = {"meter": "E1", "ts": "2026-01-01T00:00:00Z", "value": 1}
    stats = ingest(
        conn,
        [
            (
                f"{PREFIX}/INST1/_batch",
                [
                    good,
                    {"meter": "NOPE", "ts": "2026-01-01T00:00:00Z", "value": 1},
                    {"meter": "OTHER", "ts": "2026-01-01T00:00:00Z", "value": 1},
                    {"meter": "OLD", "ts": "2025-01-01T00:00:00Z", "value": 1},
                    {"meter": "E1", "ts": "2019-01-01T00:00:00Z", "value": 1},
                    {"meter": "E1", "ts": "2026-01-01T01:00:00Z", "value": -1},
                    {"meter": "E1", "ts": "2026-01-01T02:00:00Z", "value": 1, "unit": "m3"},
                    {"meter": "E1", "ts": "2026-01-01T03:00:00Z", "value": 1, "unit": "furlong"},
                    {"meter": "E1", "ts": "2026-01-01T04:00:00Z", "value": 2500, "unit": "Wh"},
                    {"meter": "E1", "ts": "2026-01-01T05:00:00Z", "value": 0.5, "unit": "MWh"},
                ],
            )
        ],
    )
    assert stats.inserted == 3
    reasons = [r[0] for r in conn.execute("SELECT reason FROM ingest_reject ORDER BY id")]
    assert reasons == [
        "unknown_meter",
        "wrong_institution",
        "meter_retired",
        "before_install",
        "negative_value",
        "incompatible_unit",
        "unknown_unit",
    ]
    row = conn.execute(
        "SELECT topic, payload, meter_id FROM ingest_reject WHERE reason = 'unknown_meter'"
    ).fetchone()
    assert row[0] == f"{PREFIX}/INST1/_batch" and '"NOPE"' in row[1] and row[2] == "NOPE"
    values = [r[0] for r in conn.execute("SELECT value FROM reading WHERE meter_id = 'E1' ORDER BY ts")]
    assert values == [1.0, 2.5, 500.0]


def test_registry_cache_follows_changes(conn):
    cache = RegistryCache()
    ingest(conn, [(f"{PREFIX}/INST1/NEW", {"ts": "2026-01-01T00:00:00Z", "value": 1})], cache)
    conn.execute(
        "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at)"
        " VALUES ('NEW', 'INST1', 'electricity', 'kWh', 'cumulative', 'main', '2020-01-01Z')"
    )
    stats = ingest(conn, [(f"{PREFIX}/INST1/NEW", {"ts": "2026-01-01T00:00:00Z", "value": 1})], cache)
    assert stats.inserted == 1 and cache.loads == 2
    ingest(conn, [(f"{PREFIX}/INST1/NEW", {"ts": "2026-01-01T01:00:00Z", "value": 2})], cache)
    assert cache.loads == 2  # unchanged registry: no reload


def test_late_reading_recomputes_neighbours_and_days(conn):
    t = f"{PREFIX}/INST1/E1"
    # Readings at local midnight boundaries: 2025-12-31 22:00 and 2026-01-01 02:00 Shanghai time.
    ingest(
        conn,
        [
            (
                t,
                [
                    {"ts": "2025-12-31T22:00:00+08:00", "value": 0},
                    {"ts": "2026-01-01T02:00:00+08:00", "value": 40},
                ],
            )
        ],
    )
    rollup_until_idle(conn, TZ)
    days = dict(
        conn.execute("SELECT day::text, consumption FROM usage_daily WHERE meter_id = 'E1'").fetchall()
    )
    assert days == {"2025-12-31": pytest.approx(20.0), "2026-01-01": pytest.approx(20.0)}
    years = usage_series(
        conn, ["E1"], datetime(2025, 1, 1, tzinfo=SH), datetime(2027, 1, 1, tzinfo=SH), "year"
    )
    assert [(b.astimezone(SH).year, round(c, 9)) for _, b, c in years] == [(2025, 20.0), (2026, 20.0)]
    # A late reading at 23:30 with value 5 splits the increment: 5 before midnight... of which 2025 gets 5 + 35 x 0.5h/2.5h
    ingest(conn, [(t, {"ts": "2025-12-31T23:30:00+08:00", "value": 5})])
    rollup_until_idle(conn, TZ)
    days = dict(
        conn.execute("SELECT day::text, consumption FROM usage_daily WHERE meter_id = 'E1'").fetchall()
    )
    assert days == {
        "2025-12-31": pytest.approx(5 + 35 * 0.5 / 2.5),
        "2026-01-01": pytest.approx(35 * 2 / 2.5),
    }
    months = usage_series(
        conn, ["E1"], datetime(2025, 12, 1, tzinfo=SH), datetime(2026, 2, 1, tzinfo=SH), "month"
    )
    assert [b.astimezone(SH).month for _, b, _ in months] == [12, 1]
    assert sum(c for *_, c in months) == pytest.approx(40.0)
    daily = usage_series(conn, None, datetime(2026, 1, 1, tzinfo=SH), datetime(2026, 1, 2, tzinfo=SH), "day")
    assert [(m, b) for m, b, _ in daily] == [("E1", datetime(2026, 1, 1, tzinfo=SH))]
    hours = usage_series(
        conn, ["E1"], datetime(2025, 12, 31, 23, tzinfo=SH), datetime(2026, 1, 1, 1, tzinfo=SH), "hour"
    )
    assert [b.astimezone(SH).hour for _, b, _ in hours] == [23, 0]
    # 23:00-00:00 holds 0.5 h of the 22:00-23:30 increment (5) and 0.5 h of 23:30-02:00 (35); 00:00-01:00 1 h of it
    assert sum(c for *_, c in hours) == pytest.approx(5 * 0.5 / 1.5 + 35 * 1.5 / 2.5)
    by_inst = conn.execute(
        "SELECT institution_id, energy_type, year::text, consumption FROM usage_yearly_by_institution"
        " ORDER BY year"
    ).fetchall()
    assert [(i, e, y) for i, e, y, _ in by_inst] == [
        ("INST1", "electricity", "2025-01-01"),
        ("INST1", "electricity", "2026-01-01"),
    ]
    with pytest.raises(ValueError):
        usage_series(conn, ["E1"], datetime(2026, 1, 1, tzinfo=SH), datetime(2026, 1, 2, tzinfo=SH), "week")


def test_quarantine_reset_rollover_and_quality(conn):
    ingest(
        conn,
        [
            (
                f"{PREFIX}/INST1/CAP",
                [
                    {"ts": f"2026-02-01T0{h}:00:00Z", "value": v}
                    for h, v in [(0, 0), (1, 50), (2, 9000), (3, 9010)]
                ],
            ),
            (
                f"{PREFIX}/INST1/ROLL",
                [{"ts": "2026-02-01T00:00:00Z", "value": 9995}, {"ts": "2026-02-01T01:00:00Z", "value": 5}],
            ),
            (
                f"{PREFIX}/INST1/E1",
                [
                    {"ts": "2026-02-01T00:00:00Z", "value": 100},
                    {"ts": "2026-02-01T01:00:00Z", "value": 3},
                    {"ts": "2026-02-01T05:00:00Z", "value": 4},
                ],
            ),
        ],
    )
    rollup_until_idle(conn, TZ)
    assert hourly(conn, "CAP") == {
        datetime(2026, 2, 1, 0, tzinfo=UTC): 50.0,
        datetime(2026, 2, 1, 2, tzinfo=UTC): 10.0,
    }
    q = conn.execute("SELECT meter_id, increment, reason FROM usage_quarantine").fetchall()
    assert len(q) == 1 and q[0][:2] == ("CAP", 8950.0) and "max_rate_per_h" in q[0][2]
    assert list(hourly(conn, "ROLL").values()) == [pytest.approx(10.0)]
    assert sum(hourly(conn, "E1").values()) == pytest.approx(4.0)
    qual = {
        m.meter_id: m
        for m in meter_quality(conn, datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 1, 6, tzinfo=UTC))
    }
    assert (qual["CAP"].quarantined, qual["ROLL"].rollovers, qual["E1"].resets) == (1, 1, 1)
    e1 = qual["E1"]
    # hours with a reading ending them: 00:00-01:00 (the 01:00 reading) and 04:00-05:00; the 00:00 reading
    # closes the hour before the window
    assert (e1.expected_hours, e1.hours_with_data, e1.longest_gap_hours) == (6, 2, 3)
    assert e1.coverage == pytest.approx(2 / 6)


# --- order independence through the database ---------------------------------------------

points = st.lists(
    st.tuples(st.integers(0, 48 * 4), st.integers(0, 5000)), min_size=2, max_size=25, unique_by=lambda t: t[0]
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pts=points, data=st.data(), meter=st.sampled_from(["E2", "ROLL", "CAP", "W1"]))
def test_any_order_any_split_same_hourly_usage(conn, pts, data, meter):
    conn.execute(
        "TRUNCATE reading, usage_hourly, usage_daily, usage_monthly, usage_dirty, usage_quarantine,"
        " usage_counter_event, reading_conflict, ingest_reject"
    )
    t0 = datetime(2026, 7, 1, tzinfo=UTC)
    readings = [{"ts": (t0 + timedelta(minutes=15 * q)).isoformat(), "value": float(v)} for q, v in pts]
    order = data.draw(st.permutations(readings))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(order) - 1), max_size=5))) if len(order) > 1 else []
    chunks = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    topic = f"{PREFIX}/INST1/{meter}"
    for i, chunk in enumerate(chunks):
        ingest(conn, [(topic, chunk)])
        if i % 2 == 0:  # roll up between some of the batches, as the service does
            rollup_until_idle(conn, TZ)
    rollup_until_idle(conn, TZ)
    spec_row = conn.execute(
        "SELECT register, multiplier, rollover, max_rate_per_h FROM meter WHERE id = %s", (meter,)
    ).fetchone()
    expected = compute_usage(
        [(datetime.fromisoformat(r["ts"]), r["value"]) for r in readings], MeterSpec(*spec_row)
    )
    assert hourly(conn, meter) == pytest.approx(expected.hourly)
    assert len(hourly(conn, meter)) == len(expected.hourly)
    stored_q = conn.execute("SELECT count(*) FROM usage_quarantine").fetchone()[0]
    assert stored_q == len(expected.quarantined)
    day_total = conn.execute("SELECT coalesce(sum(consumption), 0) FROM usage_daily").fetchone()[0]
    assert day_total == pytest.approx(sum(expected.hourly.values()))
