"""The institution dashboard reads only the chosen institutions' rows, so it costs the same at any province size.

Each panel's query runs under EXPLAIN ANALYZE as Grafana would send it; the rows its plan reads from ``reading``
and the usage rollups are counted. On All (the province, or a whole city) the panels wait for a choice and read
none; for one institution each scan of one of those tables reads at most that institution's own rows of it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from dashboards import build
from dashboards.macros import ALL

BIG = ("reading", "usage_hourly", "usage_daily", "usage_monthly")
DASHBOARD = next(d for d in build.dashboards() if d["uid"] == "jieneng-institution")
STATES = {
    "all": {"region": ALL, "institution": ALL},
    "one-city": {"region": ["320100"], "institution": ALL},
}
ONE = {"region": ["320100"], "institution": ["gov-nj-01"]}


def rows_read(plan: dict) -> dict[str, tuple[float, int]]:
    """Rows each big table's scan nodes returned over all their loops, and how many such nodes the plan has."""
    out: dict[str, tuple[float, int]] = {}

    def walk(node: dict) -> None:
        rel = node.get("Relation Name")
        if rel in BIG:
            rows, nodes = out.get(rel, (0, 0))
            out[rel] = (rows + node.get("Actual Rows", 0) * node.get("Actual Loops", 1), nodes + 1)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return out


@pytest.fixture(scope="module")
def reader(seeded_db_url):
    with psycopg.connect(seeded_db_url, autocommit=True) as conn:
        conn.execute("SET ROLE jieneng_grafana")
        yield conn


def _plans(reader, grafana, state):
    to = datetime.now(UTC).replace(microsecond=0)
    for p, _t, sql in grafana.panel_queries(
        reader, DASHBOARD, state, to - timedelta(days=7), to, timedelta(hours=1)
    ):
        (plan,) = reader.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql).fetchone()[0]
        yield p, rows_read(plan)


@pytest.mark.parametrize("state", STATES)
def test_all_reads_no_rows_and_asks_for_a_choice(reader, grafana, state):
    for p, read in _plans(reader, grafana, STATES[state]):
        assert not any(rows for rows, _ in read.values()), f"{p['title']} on {state} read {read}"
        assert "Choose" in p["fieldConfig"]["defaults"]["noValue"], p["title"]


def test_one_institution_reads_only_its_own_rows(reader, grafana):
    own = {
        t: reader.execute(
            f"SELECT count(*) FROM {t} x JOIN meter m ON m.id = x.meter_id WHERE m.institution_id = 'gov-nj-01'"
        ).fetchone()[0]
        for t in BIG
    }
    everyone = {t: reader.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in BIG}
    assert all(everyone[t] > own[t] for t in BIG), (own, everyone)  # other institutions have rows to avoid
    for p, read in _plans(reader, grafana, ONE):
        # Per-area compares with the peer group's median, so it reads the peers' rows too (a province view's
        # cost inside an institution's panel, bounded by one peer group).
        if p["title"].startswith("单位面积"):
            continue
        assert all(rows <= nodes * own[t] for t, (rows, nodes) in read.items()), (p["title"], read, own)
