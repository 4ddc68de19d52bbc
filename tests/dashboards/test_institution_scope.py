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


def rows_read(plan: dict, tables: tuple[str, ...] = BIG) -> dict[str, tuple[float, int]]:
    """Rows each big table's scan nodes returned over all their loops, and how many such nodes the plan has."""
    out: dict[str, tuple[float, int]] = {}

    def walk(node: dict) -> None:
        rel = node.get("Relation Name")
        if rel in tables:
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


def _plans(reader, grafana, state, tables: tuple[str, ...] = BIG):
    to = datetime.now(UTC).replace(microsecond=0)
    for p, _t, sql in grafana.panel_queries(
        reader, DASHBOARD, state, to - timedelta(days=7), to, timedelta(hours=1)
    ):
        (plan,) = reader.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql).fetchone()[0]
        yield p, rows_read(plan, tables)


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
        assert all(rows <= nodes * own[t] for t, (rows, nodes) in read.items()), (p["title"], read, own)
    # nor every institution's registry row (a hash join of the whole table grew with the province)
    (institutions,) = reader.execute("SELECT count(*) FROM institution").fetchone()
    assert institutions > 1
    for p, read in _plans(reader, grafana, ONE, ("institution",)):
        assert all(rows <= nodes for rows, nodes in read.values()), (p["title"], read)


def test_the_peer_median_reads_one_row_of_its_group_whatever_its_size(reader, grafana):
    # The peer panel reads the institution's own result and its group's medians, stored with the run
    # (scoring_run_peer): never the group's other results, nor any usage, so it costs the same at any size.
    tables = (*BIG, "scoring_result", "scoring_run_peer")
    (read,) = [r for p, r in _plans(reader, grafana, ONE, tables) if p["title"].startswith("同组对比")]
    assert set(read) == {"scoring_result", "scoring_run_peer"}, read
    assert read["scoring_result"][0] <= 1 and read["scoring_run_peer"][0] <= 1, read
