"""The deployment time zone is looked up in one place (store.deployment), which refuses to guess."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from store.deployment import TIMEZONE_SQL, TimezoneNotRecorded, deployment_timezone, recorded_timezone

ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = ("api", "dashboards", "ingest", "jieneng", "savings", "scoring", "sim", "store", "bench")


def test_the_timezone_lookup_has_one_home():
    lookup = re.compile(r"FROM\s+deployment_setting\s+WHERE", re.IGNORECASE)
    found = [
        str(p.relative_to(ROOT))
        for d in CODE_DIRS
        for p in (ROOT / d).rglob("*.py")
        if p.name != "deployment.py" and lookup.search(p.read_text(encoding="utf-8"))
    ]
    assert found == [], f"deployment time zone looked up outside store/deployment.py: {found}"
    defined = [
        str(p.relative_to(ROOT))
        for d in CODE_DIRS
        for p in (ROOT / d).rglob("*.py")
        if re.search(r"^def deployment_timezone\b", p.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert defined == ["store/deployment.py"]


def test_recorded_zone_in_python_and_sql(db_url):
    with psycopg.connect(db_url) as conn:
        zone = deployment_timezone(conn)
        assert zone == recorded_timezone(conn) and zone
        assert conn.execute(f"SELECT {TIMEZONE_SQL}").fetchone()[0] == zone


def test_missing_zone_is_refused_not_guessed(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM deployment_setting WHERE key = 'timezone'")
        assert recorded_timezone(conn) is None
        with pytest.raises(TimezoneNotRecorded, match="run `jieneng db migrate`"):
            deployment_timezone(conn)
        assert isinstance(TimezoneNotRecorded(), RuntimeError)
