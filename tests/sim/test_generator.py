"""The pure generator: determinism, chunk independence, and the shapes the issue asks for."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from sim.faults import FaultRates
from sim.meters import InstitutionModel, TimeGrid, step_of, time_grid
from sim.stream import Simulator
from tests.sim.conftest import offices, registry_specs

TZ = "Asia/Shanghai"
Z = ZoneInfo(TZ)


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=Z)


def run(seed=7, start=at(2025, 3, 1), end=at(2025, 3, 4), step=None, mode="batch", chunk_days=1, **kw):
    s = Simulator(registry_specs(), seed=seed, **kw)
    s.start_at(start)
    msgs = []
    if step is None:
        msgs += s.advance(end, mode=mode, chunk_days=chunk_days)
    else:
        t = start
        while t < end:
            t = min(end, t + step)
            msgs += s.advance(t, mode=mode, chunk_days=chunk_days)
    msgs += s.flush()
    return s, msgs


def readings(msgs) -> Counter:
    """Every well-formed reading in the messages as (meter, ts, value text), with multiplicity."""
    out: Counter = Counter()
    for m in msgs:
        try:
            body = json.loads(m.payload)
        except ValueError:
            continue
        items = body if isinstance(body, list) else [body]
        meter = m.topic.rsplit("/", 1)[1]
        for it in items:
            out[(it.get("meter", meter), it["ts"], repr(it["value"]))] += 1
    return out


def test_same_seed_same_bytes_and_other_seed_differs():
    _, a = run(seed=7)
    _, b = run(seed=7)
    _, c = run(seed=8)
    assert [(m.topic, m.payload) for m in a] == [(m.topic, m.payload) for m in b]
    assert readings(a) != readings(c)


HIGH_RATES = FaultRates(
    gap=0.1,
    reset=0.03,
    replacement=0.03,
    jump=0.03,
    duplicate=0.01,
    conflict=0.01,
    backlog=0.15,
    malformed=0.15,
)


def test_chunking_and_message_shape_do_not_change_readings():
    s1, batch_msgs = run(seed=3, start=at(2025, 7, 1), end=at(2025, 7, 8), rates=HIGH_RATES)
    s2, meter_msgs = run(
        seed=3,
        start=at(2025, 7, 1),
        end=at(2025, 7, 8),
        step=dt.timedelta(minutes=45),
        mode="meter",
        rates=HIGH_RATES,
    )
    assert readings(batch_msgs) == readings(meter_msgs)
    assert sorted(e.to_json() for e in s1.events) == sorted(e.to_json() for e in s2.events)
    assert {e.kind for e in s1.events} == {
        "gap",
        "reset",
        "replacement",
        "replacement_gap",
        "jump",
        "duplicate",
        "conflict",
        "backlog",
        "malformed",
    }
    _, weekly = run(seed=3, start=at(2025, 7, 1), end=at(2025, 7, 8), rates=HIGH_RATES, chunk_days=7)
    assert readings(weekly) == readings(batch_msgs)


def test_counters_are_a_function_of_time_not_of_the_start():
    _, long_run = run(seed=5, start=at(2025, 4, 1), end=at(2025, 4, 3), rates=FaultRates.none())
    _, late_start = run(seed=5, start=at(2025, 4, 2), end=at(2025, 4, 3), rates=FaultRates.none())
    later = {k: v for k, v in readings(long_run).items() if k[1] > "2025-04-02T00:00:00+08:00"}
    assert readings(late_start) == later


def test_hourly_readings_are_the_quarter_hour_counters_on_the_hour():
    _, q = run(seed=5, rates=FaultRates.none())
    _, h = run(seed=5, rates=FaultRates.none(), interval_s=3600)
    cumulative = {k for k in readings(h) if not k[0].endswith("-fuel")}
    assert cumulative and cumulative <= set(readings(q))
    assert all(k[1][14:16] == "00" for k in readings(h))


def test_cumulative_counters_rise_except_at_injected_resets():
    s, msgs = run(
        seed=11,
        start=at(2025, 1, 1),
        end=at(2025, 2, 1),
        rates=FaultRates(
            gap=0, reset=0.02, replacement=0.01, jump=0, duplicate=0, conflict=0, backlog=0, malformed=0
        ),
    )
    series: dict[str, list[tuple[str, float]]] = {}
    for (meter, ts, v), _n in readings(msgs).items():
        if not meter.endswith("-fuel"):
            series.setdefault(meter, []).append((ts, float(v)))
    drops = set()
    for meter, pts in series.items():
        pts.sort()
        drops |= {(meter, b[0]) for a, b in zip(pts, pts[1:], strict=False) if b[1] < a[1]}
    restarts = {(e.meter_id, e.ts) for e in s.events if e.kind in ("reset", "replacement")}
    assert drops and drops <= restarts


# --- shapes (one year of the pure model, no faults) -----------------------------------------------------------


@pytest.fixture(scope="module")
def year_grid() -> TimeGrid:
    return time_grid(step_of(at(2025, 1, 1)), step_of(at(2026, 1, 1)), TZ)


def daily(g: TimeGrid, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    days, inv = np.unique(g.ordinal, return_inverse=True)
    return days, np.bincount(inv, x)


def monthly(g: TimeGrid, x: np.ndarray) -> np.ndarray:
    month = np.array([dt.date.fromordinal(int(o)).month for o in g.ordinal])
    return np.bincount(month, x)[1:]


def normal_office(seed: int) -> InstitutionModel:
    for spec in offices(50):
        m = InstitutionModel(spec, seed, TZ)
        if m.character.kind == "normal":
            return m
    raise AssertionError("no normal office among 50")


def test_office_weekdays_weekends_holidays_and_lunch(year_grid):
    g = year_grid
    m = normal_office(1)
    el = m.consumption(g)[m.spec.meters[0].id]
    days, per_day = daily(g, el)
    work = np.array([g.workday[g.ordinal == d][0] for d in days])
    assert per_day[work].mean() / per_day[~work].mean() > 2.0
    # National Day 2025 (a Wednesday) looks like a Sunday; the make-up Saturday 11 October like a weekday
    nd, makeup = dt.date(2025, 10, 8).toordinal(), dt.date(2025, 10, 11).toordinal()
    assert per_day[days == nd][0] < 0.6 * per_day[days == makeup][0]
    wd = g.workday
    by = {h: el[wd & (np.abs(g.hour - h) < 0.2)].mean() for h in (10.0, 12.6, 15.0, 3.0)}
    assert by[12.6] < 0.85 * by[10.0] and by[12.6] < 0.85 * by[15.0]
    assert by[3.0] < 0.3 * by[10.0]


def test_school_vacation_dip(year_grid):
    g = year_grid
    spec = next(s for s in registry_specs() if s.category == "school")
    c = InstitutionModel(spec, 1, TZ, wasteful_share=0, efficient_share=0).consumption(g)[
        f"{spec.id}-el-light"
    ]
    day = g.workday & (g.hour > 9) & (g.hour < 16)
    summer = day & ~g.term & (g.doy > 200) & (g.doy < 235)
    autumn = day & g.term & (g.doy > 255) & (g.doy < 290)
    assert c[summer].mean() < 0.5 * c[autumn].mean()


def test_summer_and_winter_peaks_and_colder_north(year_grid):
    g = year_grid
    for spec in registry_specs():
        if spec.category == "school":
            continue  # July and January fall in the vacations: see test_school_vacation_dip
        mo = monthly(g, InstitutionModel(spec, 2, TZ).consumption(g)[f"{spec.id}-el"])
        per_day = mo / np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
        shoulder = (per_day[3] + per_day[9]) / 2  # April, October
        assert per_day[6] > 1.1 * shoulder, spec.id  # July
        assert per_day[0] > 1.1 * shoulder, spec.id  # January
    from sim.weather import normals_for, temperature_c

    jan = g.doy <= 31
    t_xz = temperature_c(2, normals_for("320300", "cold"), g.ordinal, g.doy, g.hour)
    t_sz = temperature_c(2, normals_for("320500", "hot_summer_cold_winter"), g.ordinal, g.doy, g.hour)
    assert t_xz[jan].mean() < t_sz[jan].mean() - 2.0
    assert 24.0 < t_sz[(g.doy > 190) & (g.doy < 220)].mean() < 32.0


def test_wasteful_share_and_its_night_load(year_grid):
    g = year_grid
    night = (g.hour > 1) & (g.hour < 5)
    peak = g.workday & (g.hour > 9) & (g.hour < 11)
    ratios = {"wasteful": [], "normal": [], "efficient": []}
    for spec in offices(60):
        m = InstitutionModel(spec, 4, TZ, wasteful_share=0.2, efficient_share=0.2)
        el = m.consumption(g)[spec.meters[0].id]
        ratios[m.character.kind].append(el[night].mean() / el[peak].mean())
    assert 5 <= len(ratios["wasteful"]) <= 22 and 5 <= len(ratios["efficient"]) <= 22
    assert min(ratios["wasteful"]) > 2 * max(ratios["normal"])
    assert max(ratios["efficient"]) < min(ratios["normal"])


def test_annual_intensities_and_sub_meters(year_grid):
    g = year_grid
    ranges = {"government": (40, 80), "school": (25, 50), "hospital": (150, 250)}
    for spec in registry_specs():
        c = InstitutionModel(spec, 9, TZ).consumption(g)
        area, occupants = spec.size(2025)
        lo, hi = ranges[spec.category]
        assert lo * 0.97 <= c[f"{spec.id}-el"].sum() / area <= hi * 1.03, spec.id
        assert np.all(c[f"{spec.id}-el-hvac"] + c[f"{spec.id}-el-light"] <= c[f"{spec.id}-el"])
        assert 10 <= c[f"{spec.id}-water"].sum() / occupants <= 120
        fills = c[f"{spec.id}-fuel"][c[f"{spec.id}-fuel"] > 0]
        assert len(fills) > 20 and fills.min() >= 30 and fills.max() <= 60
    hospital = next(s for s in registry_specs() if s.category == "hospital")
    el = InstitutionModel(hospital, 9, TZ).consumption(g)[f"{hospital.id}-el"]
    assert el[(g.hour > 1) & (g.hour < 5)].mean() > 0.4 * el[g.workday & (g.hour > 9) & (g.hour < 11)].mean()


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="multiple"):
        Simulator(registry_specs(), seed=1, interval_s=1000)
    with pytest.raises(ValueError, match="probability"):
        FaultRates(gap=1.5)
    s = Simulator(registry_specs(), seed=1)
    with pytest.raises(ValueError, match="starts at 2024-01-01"):
        s.start_at(at(2023, 6, 1))
    with pytest.raises(ValueError, match="grid"):
        s.start_at(at(2025, 1, 1, 0, 7))


def test_multiplier_unit_and_rollover_shape_the_raw_register():
    import dataclasses

    base = registry_specs()[0]
    main = base.meters[0]

    def with_main(**changes):
        meters = (dataclasses.replace(main, **changes),) + base.meters[1:]
        return dataclasses.replace(base, meters=meters)

    g = time_grid(step_of(at(2025, 6, 1)), step_of(at(2025, 6, 8)), TZ)
    plain = InstitutionModel(with_main(), 1, TZ).consumption(g)[main.id]
    ct = InstitutionModel(with_main(multiplier=20.0), 1, TZ).consumption(g)[main.id]
    mwh = InstitutionModel(with_main(unit="MWh"), 1, TZ).consumption(g)[main.id]
    assert np.allclose(ct * 20.0, plain) and np.allclose(mwh * 1000.0, plain)

    s = Simulator([with_main(rollover=5000.0)], seed=1, rates=FaultRates.none())
    s.start_at(at(2025, 6, 1))
    values = [
        float(v)
        for (m, _ts, v) in sorted(readings(s.advance(at(2025, 6, 8))), key=lambda k: k[1])
        if m == main.id
    ]
    assert max(values) < 5000.0
    assert any(b < a for a, b in zip(values, values[1:], strict=False))  # it wrapped at least once


def test_consumption_stays_below_the_meters_rated_maximum(year_grid):
    g = year_grid
    for spec in registry_specs():
        c = InstitutionModel(spec, 3, TZ).consumption(g)
        for m in spec.meters:
            if m.max_rate_per_h:
                assert c[m.id].max() * 4 * m.multiplier <= 0.8 * m.max_rate_per_h + 1e-9, m.id
