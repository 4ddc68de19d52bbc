"""Schema migrations: from empty, re-run, concurrent runs, and the TimescaleDB decision."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

from store import migrate as m
from store import timescale

TIMEZONE = "Asia/Shanghai"

CORE_TABLES = {"region", "institution", "institution_year", "meter", "reading", "ingest_reject"}


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def test_migrate_from_empty_then_rerun_is_noop(empty_db_url):
    first = m.migrate(empty_db_url, timezone=TIMEZONE, timescaledb="off")
    assert first.applied[0] == "0001_core"
    assert CORE_TABLES <= _tables(empty_db_url)
    second = m.migrate(empty_db_url, timezone=TIMEZONE, timescaledb="off")
    assert second.applied == []
    st = m.status(empty_db_url)
    assert st.pending == []
    assert st.applied == first.applied
    assert st.timezone == TIMEZONE


def test_regions_seeded_with_jiangsu_and_its_13_cities(empty_db_url):
    m.migrate(empty_db_url, timezone=TIMEZONE, timescaledb="off")
    with psycopg.connect(empty_db_url) as conn:
        cities = conn.execute(
            "SELECT code, name FROM region WHERE parent_code = '320000' AND level = 'city' ORDER BY code"
        ).fetchall()
        province = conn.execute("SELECT name, level FROM region WHERE code = '320000'").fetchone()
    assert province == ("江苏省", "province")
    assert len(cities) == 13
    assert cities[0] == ("320100", "南京市")
    assert cities[-1] == ("321300", "宿迁市")


def test_concurrent_migrate_from_three_processes(empty_db_url):
    """Three `jieneng db migrate` processes at once on an empty database: one applies, none fails."""
    env = {**os.environ, "JIENENG_DATABASE_URL": empty_db_url, "JIENENG_TIMESCALEDB": "auto"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "jieneng.cli", "db", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    applied = sorted(out.startswith("applied ") for out, _ in outs)
    assert applied == [False, False, True], outs
    assert m.status(empty_db_url).pending == []


def test_timezone_mismatch_is_refused(empty_db_url):
    m.migrate(empty_db_url, timezone=TIMEZONE, timescaledb="off")
    with pytest.raises(ValueError, match="Asia/Shanghai"):
        m.migrate(empty_db_url, timezone="Europe/Berlin", timescaledb="off")


def test_timescale_off_never_touches_extension(empty_db_url):
    res = m.migrate(empty_db_url, timezone=TIMEZONE, timescaledb="off")
    assert res.timescale.startswith("off")
    with psycopg.connect(empty_db_url) as conn:
        assert timescale.extension_installed(conn) is None


def test_timescale_auto_falls_back_to_plain_postgres(empty_db_url):
    with psycopg.connect(empty_db_url) as conn:
        available = timescale.extension_available(conn)
    res = m.migrate(empty_db_url, timezone=TIMEZONE, timescaledb="auto")
    if available:
        assert res.timescale.startswith("on"), res.timescale
    else:
        assert res.timescale == "off (extension not available: plain PostgreSQL)"
        assert CORE_TABLES <= _tables(empty_db_url)


def test_timescale_require_fails_clearly_without_extension(empty_db_url):
    with psycopg.connect(empty_db_url) as conn:
        if timescale.extension_available(conn):
            pytest.skip("this server has TimescaleDB; the refusal path cannot be exercised")
    with pytest.raises(timescale.TimescaleUnavailable, match="timescaledb extension is not available"):
        m.migrate(empty_db_url, timezone=TIMEZONE, timescaledb="require")


def _render(stmts, conn) -> list[str]:
    return [s.as_string(conn) if hasattr(s, "as_string") else str(s) for s in stmts]


def test_timescale_statements_follow_documented_api(empty_db_url):
    """Inspection test of the SQL the TimescaleDB path issues (no extension on CI's PostgreSQL)."""
    with psycopg.connect(empty_db_url) as conn:
        sqls = _render(timescale.hypertable_statements(timescale.TimescalePlan("30 days", None)), conn)
        with_retention = _render(
            timescale.hypertable_statements(timescale.TimescalePlan("7 days", "3 years")), conn
        )
    assert sqls[0] == "CREATE EXTENSION IF NOT EXISTS timescaledb"
    assert sqls[1] == (
        "SELECT create_hypertable('reading', by_range('ts', INTERVAL '7 days'), "
        "if_not_exists => TRUE, migrate_data => TRUE)"
    )
    assert "timescaledb.compress_segmentby = 'meter_id'" in sqls[2]
    assert "timescaledb.compress_orderby = 'ts'" in sqls[2]
    assert "SELECT add_compression_policy('reading', compress_after => INTERVAL '30 days')" in sqls
    # No retention unless configured, but an earlier policy is always removed so unsetting takes effect.
    assert "SELECT remove_retention_policy('reading', if_exists => TRUE)" in sqls
    assert not any("add_retention_policy" in s for s in sqls)
    assert with_retention[-1] == "SELECT add_retention_policy('reading', drop_after => INTERVAL '3 years')"
    assert "SELECT add_compression_policy('reading', compress_after => INTERVAL '7 days')" in with_retention


def test_timescale_interval_is_quoted_not_spliced(empty_db_url):
    with psycopg.connect(empty_db_url) as conn:
        sqls = _render(
            timescale.hypertable_statements(timescale.TimescalePlan("1 day'); DROP TABLE reading; --", None)),
            conn,
        )
    assert "INTERVAL '1 day''); DROP TABLE reading; --'" in " ".join(sqls)


def test_timescale_compression_settings_are_not_altered_twice(empty_db_url):
    """Once compression is on, re-running migrate only replaces policies (altering would fail on compressed chunks)."""
    with psycopg.connect(empty_db_url) as conn:
        again = _render(
            timescale.hypertable_statements(
                timescale.TimescalePlan("30 days", None), compression_enabled=True
            ),
            conn,
        )
    assert not any(s.startswith("ALTER TABLE reading") for s in again)
    assert "SELECT add_compression_policy('reading', compress_after => INTERVAL '30 days')" in again


def _rollup_sqls(conn, plan, **kw) -> list[str]:
    return _render(timescale.rollup_statements(plan, **kw), conn)


def test_rollup_hypertables_before_columnstore_names(empty_db_url):
    """2.13–2.17: compression API; hourly and daily segmented by meter, monthly left a plain table."""
    plan = timescale.TimescalePlan("30 days", None, rollup_compress_after="45 days")
    with psycopg.connect(empty_db_url) as conn:
        sqls = _rollup_sqls(conn, plan, version="2.15.3")
    assert (
        "SELECT create_hypertable('usage_hourly', by_range('hour', INTERVAL '7 days'), "
        "if_not_exists => TRUE, migrate_data => TRUE)"
    ) in sqls
    assert (
        "SELECT create_hypertable('usage_daily', by_range('day', INTERVAL '91 days'), "
        "if_not_exists => TRUE, migrate_data => TRUE)"
    ) in sqls
    assert not any("usage_monthly" in s for s in sqls)
    assert (
        "ALTER TABLE \"usage_hourly\" SET (timescaledb.compress, timescaledb.compress_segmentby = 'meter_id', "
        "timescaledb.compress_orderby = 'hour')"
    ) in sqls
    assert "SELECT add_compression_policy('usage_hourly', compress_after => INTERVAL '45 days')" in sqls
    assert "SELECT add_compression_policy('usage_daily', compress_after => INTERVAL '45 days')" in sqls
    # Old policies go first so a changed interval takes effect; no retention unless configured.
    hourly_remove = sqls.index("SELECT remove_compression_policy('usage_hourly', if_exists => TRUE)")
    assert hourly_remove < sqls.index(
        "SELECT add_compression_policy('usage_hourly', compress_after => INTERVAL '45 days')"
    )
    assert "SELECT remove_retention_policy('usage_daily', if_exists => TRUE)" in sqls
    assert not any("add_retention_policy" in s or "columnstore" in s for s in sqls)


def test_rollup_hypertables_use_columnstore_names_from_2_18(empty_db_url):
    plan = timescale.TimescalePlan(
        "30 days", "400 days", rollup_compress_after="30 days", hourly_retention="13 months"
    )
    with psycopg.connect(empty_db_url) as conn:
        sqls = _rollup_sqls(conn, plan, version="2.28.0", database="jieneng")
    assert (
        "ALTER TABLE \"usage_daily\" SET (timescaledb.enable_columnstore = true, timescaledb.segmentby = 'meter_id', "
        "timescaledb.orderby = 'day')"
    ) in sqls
    assert "CALL remove_columnstore_policy('usage_hourly', if_exists => TRUE)" in sqls
    assert "CALL add_columnstore_policy('usage_hourly', after => INTERVAL '30 days')" in sqls
    assert "CALL add_columnstore_policy('usage_daily', after => INTERVAL '30 days')" in sqls
    assert not any("compression_policy" in s for s in sqls)
    # Hourly usage alone gets the retention; daily (and monthly, untouched) are kept forever.
    assert "SELECT add_retention_policy('usage_hourly', drop_after => INTERVAL '13 months')" in sqls
    assert not any("add_retention_policy('usage_daily'" in s for s in sqls)
    # The rollup rewrites whole late windows: the per-transaction decompression limit is lifted.
    assert (
        sqls[-1] == 'ALTER DATABASE "jieneng" SET timescaledb.max_tuples_decompressed_per_dml_transaction = 0'
    )


def test_rollup_hypertables_are_not_compressed_unless_configured(empty_db_url):
    """The rollup's join DELETEs would decompress every compressed chunk: compression is opt-in."""
    with psycopg.connect(empty_db_url) as conn:
        fresh = _rollup_sqls(conn, timescale.TimescalePlan("30 days", None), version="2.28.0")
        before = _rollup_sqls(
            conn,
            timescale.TimescalePlan("30 days", None),
            version="2.15.0",
            compressed=frozenset({"usage_hourly"}),
        )
    assert any(s.startswith("SELECT create_hypertable('usage_hourly'") for s in fresh)
    assert not any("compress" in s or "columnstore" in s for s in fresh)
    # Unsetting it stops the policy; chunks already compressed stay as they are.
    assert [s for s in before if "compress" in s] == [
        "SELECT remove_compression_policy('usage_hourly', if_exists => TRUE)"
    ]


def test_rollup_compression_settings_are_not_altered_twice(empty_db_url):
    plan = timescale.TimescalePlan("30 days", None, rollup_compress_after="30 days")
    with psycopg.connect(empty_db_url) as conn:
        sqls = _rollup_sqls(conn, plan, version="2.18.0", compressed=frozenset({"usage_hourly"}))
        old = _rollup_sqls(conn, plan, version="2.13.1", database="jieneng")
    assert not any(s.startswith('ALTER TABLE "usage_hourly"') for s in sqls)
    assert any(s.startswith('ALTER TABLE "usage_daily"') for s in sqls)
    # 2.13 has no decompression limit to lift (setting an unknown timescaledb.* name would fail).
    assert not any("max_tuples_decompressed" in s for s in old)


def test_rollup_intervals_are_quoted_not_spliced(empty_db_url):
    plan = timescale.TimescalePlan(
        "30 days",
        "1 day",
        rollup_compress_after="1 day'); DROP TABLE meter; --",
        hourly_retention="2 days'); --",
    )
    with psycopg.connect(empty_db_url) as conn:
        joined = " ".join(_rollup_sqls(conn, plan, version="2.18.0"))
    assert "INTERVAL '1 day''); DROP TABLE meter; --'" in joined
    assert "INTERVAL '2 days''); --'" in joined


@pytest.mark.parametrize(
    ("raw", "hourly", "fragment"),
    [
        (None, "13 months", "needs JIENENG_RAW_RETENTION"),
        ("13 months", "13 months", "must be at least JIENENG_RAW_RETENTION"),
        ("400 days", "401 days", "plus 2 days"),
    ],
)
def test_hourly_retention_the_rollup_could_see_through_is_refused(empty_db_url, raw, hourly, fragment):
    plan = timescale.TimescalePlan("30 days", raw, hourly_retention=hourly)
    with psycopg.connect(empty_db_url) as conn, pytest.raises(ValueError, match=fragment):
        timescale.check_hourly_retention(conn, plan)


def test_hourly_retention_longer_than_raw_is_accepted(empty_db_url):
    with psycopg.connect(empty_db_url) as conn:
        timescale.check_hourly_retention(
            conn, timescale.TimescalePlan("30 days", "12 months", hourly_retention="13 months")
        )
        timescale.check_hourly_retention(conn, timescale.TimescalePlan("30 days", None))


def test_version_parsing():
    assert timescale.parse_version("2.18.1") == (2, 18)
    assert timescale.parse_version("2.9.0-dev") == (2, 9)
    assert timescale.parse_version(None) == (2, 13)
