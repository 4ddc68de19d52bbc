"""Meter semantics under a configuration history (ingest/counters.py), as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.counters import ConfigPeriod, MeterSpec, compute_usage

H = timedelta(hours=1)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def at(h: float) -> datetime:
    return T0 + h * H


def test_one_period_gives_exactly_the_single_spec_answer():
    pts = [(T0 + k * timedelta(minutes=25), float(k * k)) for k in range(40)]
    spec = MeterSpec("cumulative", multiplier=4, max_rate_per_h=3000)
    assert compute_usage(pts, [ConfigPeriod(None, spec)]) == compute_usage(pts, spec)


def test_repeated_identical_periods_change_nothing():
    pts = [(T0 + k * timedelta(minutes=25), float(k * k)) for k in range(40)]
    spec = MeterSpec("cumulative", multiplier=4)
    one = compute_usage(pts, spec)
    two = compute_usage(
        pts, [ConfigPeriod(None, spec), ConfigPeriod(at(5), spec), ConfigPeriod(at(5.5), spec)]
    )
    assert two.hourly == pytest.approx(one.hourly) and len(two.hourly) == len(one.hourly)


def test_multiplier_change_on_an_hour_leaves_no_hour_mixed():
    hist = [ConfigPeriod(None, MeterSpec("cumulative", 10)), ConfigPeriod(at(2), MeterSpec("cumulative", 1))]
    res = compute_usage([(at(0.5), 0.0), (at(3.5), 30.0)], hist)
    assert res.hourly == pytest.approx({at(0): 50.0, at(1): 100.0, at(2): 10.0, at(3): 5.0})


def test_reading_at_the_change_belongs_to_the_interval_it_ends():
    a, b = MeterSpec("interval", 10), MeterSpec("interval", 1)
    res = compute_usage(
        [(at(1), 1.0), (at(2), 1.0), (at(3), 1.0)], [ConfigPeriod(None, a), ConfigPeriod(at(2), b)]
    )
    assert res.hourly == {at(0): 10.0, at(1): 10.0, at(2): 1.0}


def test_unit_factor_converts_to_the_reporting_unit():
    kwh = MeterSpec("cumulative", 1, unit_factor=0.001)  # kWh register, usage in MWh
    mwh = MeterSpec("cumulative", 1, unit_factor=1.0)
    res = compute_usage(
        [(at(0), 0.0), (at(1), 2000.0), (at(2), 2.5)], [ConfigPeriod(None, kwh), ConfigPeriod(at(1), mwh)]
    )
    assert res.hourly == pytest.approx({at(0): 2.0, at(1): 0.5})
    assert res.events == []


def test_units_that_do_not_convert_are_quarantined_not_counted():
    res = compute_usage([(at(0), 0.0), (at(1), 5.0)], MeterSpec("cumulative", unit_factor=None))
    assert res.hourly == {} and len(res.quarantined) == 1


changes = st.lists(
    st.tuples(st.integers(1, 47 * 4), st.floats(0.5, 20), st.sampled_from(["cumulative", "interval"])),
    max_size=4,
    unique_by=lambda t: t[0],
)
readings = st.lists(
    st.tuples(st.integers(0, 48 * 4), st.floats(0, 1e5, allow_nan=False)),
    min_size=1,
    max_size=40,
    unique_by=lambda t: t[0],
)


@settings(max_examples=200, deadline=None)
@given(pts=readings, changes=changes, data=st.data())
def test_windows_and_order_give_the_full_answer(pts, changes, data):
    """Any hour window with one neighbour each side, in any order, gives the full computation's hours."""
    hist = [ConfigPeriod(None, MeterSpec("cumulative", 2.0))]
    hist += [ConfigPeriod(T0 + timedelta(minutes=15 * q), MeterSpec(reg, m)) for q, m, reg in changes]
    ts = sorted((T0 + timedelta(minutes=15 * q), v) for q, v in pts)
    full = compute_usage(data.draw(st.permutations(ts)), hist).hourly
    lo = data.draw(st.integers(0, 47))
    hi = data.draw(st.integers(lo + 1, 49))
    w0, w1 = at(lo), at(hi)
    inside = [i for i, (t, _) in enumerate(ts) if w0 <= t <= w1]
    first = max(0, (inside[0] if inside else next((i for i, (t, _) in enumerate(ts) if t > w1), len(ts))) - 1)
    last = min(len(ts), (inside[-1] if inside else first) + 2)
    part = compute_usage(ts[first:last], hist, w0, w1).hourly
    assert part == pytest.approx({h: v for h, v in full.items() if w0 <= h < w1})
