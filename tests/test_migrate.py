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
        subprocess.Popen([sys.executable, "-m", "jieneng.cli", "db", "migrate"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
            timescale.hypertable_statements(timescale.TimescalePlan("1 day'); DROP TABLE reading; --", None)), conn
        )
    assert "INTERVAL '1 day''); DROP TABLE reading; --'" in " ".join(sqls)


def test_timescale_compression_settings_are_not_altered_twice(empty_db_url):
    """Once compression is on, re-running migrate only replaces policies (altering would fail on compressed chunks)."""
    with psycopg.connect(empty_db_url) as conn:
        again = _render(
            timescale.hypertable_statements(timescale.TimescalePlan("30 days", None), compression_enabled=True), conn
        )
    assert not any(s.startswith("ALTER TABLE reading") for s in again)
    assert "SELECT add_compression_policy('reading', compress_after => INTERVAL '30 days')" in again
