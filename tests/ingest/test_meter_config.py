"""Meter configuration over time (issue 10, defect 7): a change through `registry import` recomputes
exactly the usage it affects, and every interval is computed under the configuration in force then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ingest.counters import ConfigPeriod, MeterSpec, compute_usage
from ingest.rollup import rollup_until_idle
from ingest.validate import GoodReading
from ingest.writer import StagedReading, write_batch
from store.registry import import_files

from .conftest import TZ

SH = ZoneInfo(TZ)
H = timedelta(hours=1)
T0 = datetime(2026, 3, 1, tzinfo=SH)  # local midnight

INST = (
    "institutions.csv",
    b"id,name,category,sub_kind,admin_level,region_code,climate_zone\n"
    b"i1,test,government,,city,320100,hot_summer_cold_winter\n",
)
METER_COLS = (
    "id,institution_id,energy_type,unit,register,end_use,multiplier,rollover,max_rate_per_h,installed_at"
)


def meter_file(
    multiplier=10, unit="kWh", register="cumulative", rollover="", max_rate="", config_from=None, mid="m1"
) -> tuple[str, bytes]:
    header = METER_COLS + (",config_from" if config_from is not None else "")
    row = f"{mid},i1,electricity,{unit},{register},main,{multiplier},{rollover},{max_rate},2020-01-01"
    if config_from is not None:
        row += f",{config_from}"
    return "meters.csv", f"{header}\n{row}\n".encode()


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        import_files(c, [INST, meter_file()], SH)
        yield c


def write(conn, points, meter="m1") -> None:
    now = datetime.now(UTC)
    staged = [StagedReading(GoodReading(meter, ts, float(v)), "t", now) for ts, v in points]
    write_batch(conn, staged, [], 1)


def roll(conn) -> None:
    rollup_until_idle(conn, TZ)


def hourly(conn, meter="m1") -> dict[datetime, float]:
    return dict(
        conn.execute(
            "SELECT hour, consumption FROM usage_hourly WHERE meter_id = %s ORDER BY hour", (meter,)
        ).fetchall()
    )


def daily(conn, meter="m1") -> dict[str, float]:
    return dict(
        conn.execute(
            "SELECT day::text, consumption FROM usage_daily WHERE meter_id = %s ORDER BY day", (meter,)
        ).fetchall()
    )


def total(conn, meter="m1") -> float:
    return conn.execute(
        "SELECT coalesce(sum(consumption), 0) FROM usage_monthly WHERE meter_id = %s", (meter,)
    ).fetchone()[0]


def dirty(conn) -> list[tuple]:
    return conn.execute("SELECT meter_id, ts_min, ts_max FROM usage_dirty ORDER BY id").fetchall()


# --- the issue's example -------------------------------------------------------------------------


def test_issue_example_late_reading_after_multiplier_change_is_not_mixed(conn):
    """Multiplier 10 -> 1, then one late reading: main gave 220 (two hours under 1 beside two under 10)."""
    write(conn, [(T0 + k * H, 10 * k) for k in range(5)])
    roll(conn)
    assert total(conn) == pytest.approx(400.0)
    import_files(conn, [meter_file(multiplier=1)], SH)
    write(conn, [(T0 + 2.5 * H, 25)])  # recomputes 01:00-03:00 (from the reading before it)
    roll(conn)
    assert total(conn) == pytest.approx(40.0)
    assert list(hourly(conn).values()) == pytest.approx([10.0, 10.0, 10.0, 10.0])


def test_multiplier_change_from_the_beginning_recomputes_every_hour(conn):
    write(conn, [(T0 + k * H, 10 * k) for k in range(5)])
    roll(conn)
    assert list(hourly(conn).values()) == pytest.approx([100.0] * 4)
    summary = import_files(conn, [meter_file(multiplier=1)], SH)
    assert summary.meters.updated == 1
    roll(conn)
    assert list(hourly(conn).values()) == pytest.approx([10.0] * 4)
    assert daily(conn) == {"2026-03-01": pytest.approx(40.0)}
    assert total(conn) == pytest.approx(40.0)
    assert conn.execute(
        "SELECT nullif(valid_from, '-infinity'), multiplier FROM meter_config WHERE meter_id = 'm1'"
    ).fetchall() == [(None, 1.0)]


# --- a change from a given day -------------------------------------------------------------------


def test_multiplier_change_from_a_day_splits_hours_cleanly(conn):
    # Two local days of hourly readings, +1 each hour; the CT changes at the start of 2 March.
    write(conn, [(T0 + k * H, k) for k in range(49)])
    roll(conn)
    assert daily(conn) == {"2026-03-01": pytest.approx(240.0), "2026-03-02": pytest.approx(240.0)}
    import_files(conn, [meter_file(multiplier=1, config_from="2026-03-02")], SH)
    # Exactly the range from the change to the last reading is queued.
    assert dirty(conn) == [("m1", T0 + 24 * H, T0 + 48 * H)]
    roll(conn)
    hours = hourly(conn)
    assert len(hours) == 48
    for hour, c in hours.items():
        assert c == pytest.approx(10.0 if hour < T0 + 24 * H else 1.0), hour
    assert daily(conn) == {"2026-03-01": pytest.approx(240.0), "2026-03-02": pytest.approx(24.0)}
    # A late reading on either side is computed under the configuration of its own time.
    conn.execute("DELETE FROM reading WHERE meter_id = 'm1' AND ts IN (%s, %s)", (T0 + 10 * H, T0 + 30 * H))
    conn.execute(
        "INSERT INTO usage_dirty (meter_id, ts_min, ts_max) VALUES ('m1', %s, %s)", (T0 + 9 * H, T0 + 31 * H)
    )
    roll(conn)
    write(conn, [(T0 + 10 * H, 10), (T0 + 30 * H, 30)])
    roll(conn)
    assert daily(conn) == {"2026-03-01": pytest.approx(240.0), "2026-03-02": pytest.approx(24.0)}
    stored = conn.execute(
        "SELECT nullif(valid_from, '-infinity'), multiplier FROM meter_config"
        " WHERE meter_id = 'm1' ORDER BY valid_from"
    ).fetchall()
    assert stored == [(None, 10.0), (T0 + 24 * H, 1.0)]


def test_change_inside_an_interval_splits_it_in_proportion_to_time(conn):
    # Readings every 2 h at odd hours: 23:00 -> 01:00 spans the midnight change.
    write(conn, [(T0 - 3 * H, 0), (T0 - H, 20), (T0 + H, 40), (T0 + 3 * H, 60)])
    import_files(conn, [meter_file(multiplier=1, config_from="2026-03-01")], SH)
    roll(conn)
    assert daily(conn) == {
        "2026-02-28": pytest.approx(10 * (10 + 10 + 10)),  # 21:00-24:00 under 10
        "2026-03-01": pytest.approx(10 + 10 + 10),
    }  # 00:00-03:00 under 1
    for hour, c in hourly(conn).items():
        assert c == pytest.approx(100.0 if hour < T0 else 10.0), hour


def test_moving_a_change_queues_only_the_span_that_changed(conn):
    import_files(conn, [meter_file(multiplier=1, config_from="2026-03-02")], SH)
    write(conn, [(T0 + k * H, k) for k in range(73)])
    roll(conn)
    # The same configuration from a day earlier: only 1-2 March changes.
    import_files(conn, [meter_file(multiplier=1, config_from="2026-03-01T12:00")], SH)
    assert dirty(conn) == [("m1", T0 + 12 * H, T0 + 24 * H)]
    roll(conn)
    for hour, c in hourly(conn).items():
        assert c == pytest.approx(10.0 if hour < T0 + 12 * H else 1.0), hour
    # Re-importing the same row changes nothing and queues nothing.
    summary = import_files(conn, [meter_file(multiplier=1, config_from="2026-03-01T12:00")], SH)
    assert summary.meters.unchanged == 1 and dirty(conn) == []
    # A row without the config_from column changes the current configuration from its own start.
    import_files(conn, [meter_file(multiplier=2)], SH)
    assert dirty(conn) == [("m1", T0 + 12 * H, T0 + 72 * H)]
    roll(conn)
    assert sum(hourly(conn).values()) == pytest.approx(12 * 10 + 60 * 2)
    # An empty config_from cell: from the beginning, replacing the history.
    import_files(conn, [meter_file(multiplier=2, config_from="")], SH)
    assert dirty(conn) == [("m1", T0, T0 + 12 * H)]
    roll(conn)
    assert sum(hourly(conn).values()) == pytest.approx(72 * 2)


def test_config_with_no_readings_after_it_queues_nothing(conn):
    write(conn, [(T0 + k * H, k) for k in range(3)])
    roll(conn)
    import_files(conn, [meter_file(multiplier=5, config_from="2026-04-01")], SH)
    assert dirty(conn) == []


# --- the other configuration fields ----------------------------------------------------------------


def test_rollover_change_recomputes_the_wrap(conn):
    write(conn, [(T0, 9990), (T0 + H, 5)])
    roll(conn)
    assert sum(hourly(conn).values()) == pytest.approx(50.0)  # a reset: the new value, x10
    import_files(conn, [meter_file(rollover=10000)], SH)
    roll(conn)
    assert sum(hourly(conn).values()) == pytest.approx(150.0)  # a wrap: 15, x10
    assert conn.execute("SELECT kind FROM usage_counter_event").fetchall() == [("rollover",)]


def test_register_kind_change_from_a_day(conn):
    # Cumulative until 2 March, then the gateway sends interval consumption.
    write(conn, [(T0 + k * H, 10 * k) for k in range(25)] + [(T0 + k * H, 3) for k in range(25, 28)])
    import_files(conn, [meter_file(multiplier=1, register="interval", config_from="2026-03-02")], SH)
    roll(conn)
    hours = hourly(conn)
    assert [hours[T0 + k * H] for k in range(24)] == pytest.approx([100.0] * 24)
    # The 00:00 reading ends the last counter interval; interval values from 01:00 on.
    assert [hours[T0 + k * H] for k in range(24, 27)] == pytest.approx([3.0] * 3)
    assert len(hours) == 27


def test_unit_change_from_a_day_reports_in_the_new_unit(conn):
    write(conn, [(T0 + k * H, 1000 * k) for k in range(25)])  # kWh, x10
    write(conn, [(T0 + k * H, 24 + (k - 24) * 0.5) for k in range(25, 28)])  # a new register in MWh, x1
    roll(conn)
    import_files(conn, [meter_file(multiplier=1, unit="MWh", config_from="2026-03-02")], SH)
    assert dirty(conn) == [("m1", T0, T0 + 27 * H)]  # the reporting unit changed: everything
    roll(conn)
    hours = hourly(conn)
    assert [hours[T0 + k * H] for k in range(24)] == pytest.approx([10.0] * 24)  # 10 000 kWh = 10 MWh
    # 00:00 -> 01:00: 24 000 kWh = 24 MWh to 24.5 MWh
    assert [hours[T0 + k * H] for k in range(24, 27)] == pytest.approx([0.5] * 3)


def test_max_rate_change_recomputes_quarantine(conn):
    write(conn, [(T0, 0), (T0 + H, 1), (T0 + 2 * H, 100), (T0 + 3 * H, 101)])
    roll(conn)
    assert conn.execute("SELECT count(*) FROM usage_quarantine").fetchone()[0] == 0
    import_files(conn, [meter_file(max_rate=100)], SH)
    roll(conn)
    assert conn.execute("SELECT ts_from, ts_to FROM usage_quarantine").fetchall() == [(T0 + H, T0 + 2 * H)]
    assert sum(hourly(conn).values()) == pytest.approx(20.0)


def test_direct_sql_update_is_recorded_too(conn):
    """The history follows the meter row, whoever changes it (a trigger, not the import code)."""
    write(conn, [(T0 + k * H, k) for k in range(3)])
    roll(conn)
    conn.execute("UPDATE meter SET multiplier = 3 WHERE id = 'm1'")
    roll(conn)
    assert sum(hourly(conn).values()) == pytest.approx(6.0)


# --- property: whatever the changes, usage is the full computation under the final history ---------

changes = st.lists(
    st.tuples(
        st.none() | st.integers(0, 48 * 4),
        st.sampled_from([1.0, 2.0, 10.0]),
        st.none() | st.just(500.0),
        st.booleans(),
    ),
    min_size=1,
    max_size=4,
)
points = st.lists(
    st.tuples(st.integers(0, 48 * 4), st.integers(0, 499)), min_size=2, max_size=30, unique_by=lambda t: t[0]
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pts=points, changes=changes)
@example(
    pts=[(0, 0), (4, 40), (100, 200), (150, 300)], changes=[(50, 1.0, None, False), (120, 2.0, 500.0, True)]
)
def test_any_changes_leave_usage_as_the_full_computation(conn, pts, changes):
    conn.execute(
        "TRUNCATE reading, usage_hourly, usage_daily, usage_monthly, usage_dirty, usage_quarantine,"
        " usage_counter_event"
    )
    conn.execute("UPDATE meter SET multiplier = 10, rollover = NULL, config_from = NULL WHERE id = 'm1'")
    history = [(None, MeterSpec("cumulative", 10.0))]
    readings = [(T0 + q * timedelta(minutes=15), float(v)) for q, v in pts]
    half = len(readings) // 2
    write(conn, readings[:half])
    roll(conn)
    for i, (q, mult, rollover, roll_now) in enumerate(changes):
        vf = None if q is None else T0 + q * timedelta(minutes=15)
        conn.execute(
            "UPDATE meter SET multiplier = %s, rollover = %s, config_from = %s WHERE id = 'm1'",
            (mult, rollover, vf),
        )
        history = [(f, s) for f, s in history if vf is not None and (f is None or f < vf)] + [
            (vf, MeterSpec("cumulative", mult, rollover))
        ]
        if i == 0:
            write(conn, readings[half:])
        if roll_now:
            roll(conn)
    roll(conn)
    expected = compute_usage(readings, [ConfigPeriod(f, s) for f, s in history])
    got = hourly(conn)
    assert got == pytest.approx(expected.hourly) and len(got) == len(expected.hourly)
    events = conn.execute("SELECT count(*) FROM usage_counter_event").fetchone()[0]
    assert events == len(expected.events)
