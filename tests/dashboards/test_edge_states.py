"""Dashboards in the states a real deployment passes through: no scoring run, empty lists, one city only.

Each query is expanded as Grafana expands it and run as ``jieneng_grafana``; none may error.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from dashboards import build
from dashboards.macros import ALL

DASHBOARDS = {d["uid"]: d for d in build.dashboards()}


def _reader(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET ROLE jieneng_grafana")
    conn.execute("SET statement_timeout = '20s'")
    return conn


def _range(days: float = 7) -> tuple[datetime, datetime]:
    to = datetime.now(UTC).replace(microsecond=0)
    return to - timedelta(days=days), to


def test_province_without_any_scoring_run(db_url, grafana):
    """A new deployment has no run: the year variable is empty, and the ranking panels say so instead of failing."""
    t_from, t_to = _range(365)
    d = DASHBOARDS["jieneng-province"]
    with _reader(db_url) as conn:
        for p, _t, sql in grafana.panel_queries(conn, d, {"region": ALL}, t_from, t_to, timedelta(days=1)):
            cols, rows = grafana.run(conn, sql)
            if p["title"].startswith(("达标单位数", "最新排名")):
                assert rows == [], p["title"]
                assert "暂无评分" in p["fieldConfig"]["defaults"]["noValue"]


EMPTY_STATES = {
    "city-without-institutions": {"region": ["320200"]},
    "institution-without-meters": {"region": ["320500"], "institution": ["gov-sz-01"]},
    # every option unticked: Grafana sends an empty array, whose sqlstring is nothing (ARRAY[])
    "nothing-chosen": {"region": [], "institution": [], "meter": []},
}
EMPTY_CASES = [(uid, s) for uid, d in DASHBOARDS.items() if d["templating"]["list"] for s in EMPTY_STATES]


@pytest.fixture(scope="module")
def seeded_reader(seeded_db_url):
    with _reader(seeded_db_url) as conn:
        yield conn


@pytest.mark.parametrize(("uid", "state"), EMPTY_CASES, ids=[f"{u}-{s}" for u, s in EMPTY_CASES])
def test_all_over_an_empty_list_runs(seeded_reader, grafana, uid, state):
    """All over no options (the custom all value) and the filters' ARRAY[${var:sqlstring}] never give a
    syntax error such as ``IN ()``, which Grafana's default formatting of an empty array would."""
    t_from, t_to = _range(7)
    for p, _t, sql in grafana.panel_queries(
        seeded_reader, DASHBOARDS[uid], EMPTY_STATES[state], t_from, t_to, timedelta(hours=1)
    ):
        assert not re.search(r"\bIN\s*\(\s*\)", sql, re.IGNORECASE), p["title"]
        grafana.run(seeded_reader, sql)


@pytest.mark.parametrize("uid", list(DASHBOARDS))
def test_a_new_deployment_runs_every_query(db_url, grafana, uid):
    """Migrated, nothing imported: no institution, meter, reading or run. Every query runs."""
    t_from, t_to = _range(7)
    with _reader(db_url) as conn:
        for state in ({"region": ALL, "institution": ALL, "meter": ALL}, {"region": ["320100"]}):
            for _p, _t, sql in grafana.panel_queries(
                conn, DASHBOARDS[uid], state, t_from, t_to, timedelta(hours=1)
            ):
                grafana.run(conn, sql)
