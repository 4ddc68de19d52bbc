"""Meter semantics (docs/design.md §4) as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.counters import MeterSpec, compute_usage, spread_over_hours

H = timedelta(hours=1)
T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def at(h: float) -> datetime:
    return T0 + timedelta(hours=h)


def test_differences_and_multiplier():
    res = compute_usage(
        [(at(0), 100.0), (at(1), 110.0), (at(2), 130.0)], MeterSpec("cumulative", multiplier=2)
    )
    assert res.hourly == {at(0): 20.0, at(1): 40.0}


def test_reset_counts_new_value():
    res = compute_usage([(at(0), 500.0), (at(1), 3.0)], MeterSpec("cumulative"))
    assert res.hourly == {at(0): 3.0}
    assert [e.kind for e in res.events] == ["reset"]


def test_rollover_wraps():
    res = compute_usage([(at(0), 9990.0), (at(1), 5.0)], MeterSpec("cumulative", rollover=10000.0))
    assert res.hourly == {at(0): pytest.approx(15.0)}
    assert [e.kind for e in res.events] == ["rollover"]


def test_quarantine_keeps_jump_out_with_reason():
    res = compute_usage(
        [(at(0), 0.0), (at(1), 50.0), (at(2), 5000.0), (at(3), 5060.0)],
        MeterSpec("cumulative", max_rate_per_h=100.0),
    )
    assert res.hourly == {at(0): 50.0, at(2): 60.0}
    [q] = res.quarantined
    assert (q.ts_from, q.ts_to, q.increment) == (at(1), at(2), 4950.0)
    assert "exceeds max_rate_per_h" in q.reason


def test_spread_in_proportion_to_time():
    # 10:30 -> 13:00 is 2.5 h: 0.5 h in the 10:00 hour, 1 h each in 11:00 and 12:00
    parts = spread_over_hours(at(10.5), at(13), 25.0)
    assert parts == [(at(10), 5.0), (at(11), 10.0), (at(12), 10.0)]


def test_interval_value_belongs_to_hour_before_its_end():
    res = compute_usage([(at(10), 3.0), (at(10.25), 1.0), (at(11), 2.0)], MeterSpec("interval"))
    assert res.hourly == {at(9): 3.0, at(10): 3.0}


def test_window_matches_full_computation():
    pts = [(at(h), float(h * h)) for h in (0, 0.5, 3.2, 7, 7.1, 20)]
    spec = MeterSpec("cumulative")
    full = compute_usage(pts, spec).hourly
    part = compute_usage(pts[1:5], spec, at(3), at(7)).hourly
    assert part == {h: v for h, v in full.items() if at(3) <= h < at(7)}


readings = st.lists(
    st.tuples(st.integers(0, 72 * 4), st.floats(0, 1e6, allow_nan=False)),
    min_size=1,
    max_size=30,
    unique_by=lambda t: t[0],
)


@settings(max_examples=200, deadline=None)
@given(readings=readings, data=st.data(), register=st.sampled_from(["cumulative", "interval"]))
def test_order_independent(readings, data, register):
    spec = MeterSpec(register, multiplier=1.5, rollover=None, max_rate_per_h=5e5)
    pts = [(T0 + timedelta(minutes=15 * q), v) for q, v in readings]
    shuffled = data.draw(st.permutations(pts))
    a, b = compute_usage(pts, spec), compute_usage(shuffled, spec)
    assert a.hourly == b.hourly and a.quarantined == b.quarantined and a.events == b.events
