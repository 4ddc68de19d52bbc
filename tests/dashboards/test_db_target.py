"""The host and database Grafana's datasource gets from a PostgreSQL URL, read by libpq's parser."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from jieneng.cli_dashboards import _db_target


@pytest.mark.parametrize(
    ("url", "host", "database"),
    [
        ("postgresql://jieneng@db.internal:5433/jieneng", "db.internal:5433", "jieneng"),
        ("postgresql://jieneng@/jieneng?host=/run/postgresql", "/run/postgresql", "jieneng"),
        (
            "postgresql://jieneng@[::1]:5433/jieneng",
            "[::1]:5433",
            "jieneng",
        ),  # Grafana splits host:port like Go
        ("postgresql://jieneng@/jieneng?hostaddr=10.0.0.7&port=5434", "10.0.0.7:5434", "jieneng"),
        ("postgresql://jieneng@db.internal/x?dbname=jieneng", "db.internal:5432", "jieneng"),
        ("host=db.internal port=5433 dbname=jieneng user=jieneng", "db.internal:5433", "jieneng"),
    ],
)
def test_db_target(url, host, database):
    assert _db_target(url) == (host, database)


def test_several_hosts_are_refused_in_one_line(tmp_path):
    env = {**os.environ, "JIENENG_DATABASE_URL": "postgresql://jieneng@h1:5432,h2:5433/jieneng"}
    env.pop("JIENENG_DATABASE_READ_URL", None)
    res = subprocess.run(
        [sys.executable, "-m", "jieneng.cli", "dashboards", "provision", "--out", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.strip().count("\n") == 0 and "one host" in res.stderr, res.stderr
    assert not (tmp_path / "datasources").exists()
