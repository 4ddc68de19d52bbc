"""At province size every panel must be bounded by an index or a rollup, never scan a whole raw or rollup table.

The planner is told that sequential scans are prohibitively expensive (``enable_seqscan = off``). A
query must then neither scan ``reading`` or a usage rollup sequentially nor walk a primary key
(meter_id, time) without a meter condition, which reads the whole table in index order. Run for
the All state, where a missing index hurts most.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from dashboards import alerting, build
from dashboards.macros import ALL

BIG = ("reading", "usage_hourly", "usage_daily", "usage_monthly")
DASHBOARDS = {d["uid"]: d for d in build.dashboards()}
_NODE = re.compile(
    r"(?:Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)?(?: using (\S+))? on (\S+)"
)


def unbounded_scans(plan: list[str]) -> list[str]:
    """Plan nodes that read a big table without a bound: a sequential scan, or its primary key
    without a meter condition."""
    bad = []
    for i, line in enumerate(plan):
        seq = re.search(r"Seq Scan on (\w+)", line)
        if seq and seq.group(1) in BIG:
            bad.append(line.strip())
            continue
        node = _NODE.search(line)
        if not node:
            continue
        index = node.group(1) or node.group(2)
        if index.removesuffix("_pkey") not in BIG or not index.endswith("_pkey"):
            continue
        cond = next((p for p in plan[i + 1 : i + 4] if "Index Cond" in p and "->" not in p), "")
        if "meter_id" not in cond:
            bad.append(f"{line.strip()} [{cond.strip()}]")
    return bad


def _explain(conn, sql: str) -> list[str]:
    return [r[0] for r in conn.execute("EXPLAIN " + sql).fetchall()]


@pytest.fixture(scope="module")
def planner(seeded_db_url):
    with psycopg.connect(seeded_db_url, autocommit=True) as conn:
        conn.execute("SET ROLE jieneng_grafana")
        conn.execute("SET enable_seqscan = off")
        yield conn


STATES = {
    "all": {"region": ALL, "institution": ALL, "meter": ALL},
    "one-institution": {"region": ["320100"], "institution": ["gov-nj-01"], "meter": ALL},
}
CASES = [(uid, s) for uid in DASHBOARDS for s in STATES]


@pytest.mark.parametrize(("uid", "state"), CASES, ids=[f"{u}-{s}" for u, s in CASES])
def test_no_panel_reads_a_big_table_unbounded(planner, grafana, uid, state):
    to = datetime.now(UTC).replace(microsecond=0)
    for p, _t, sql in grafana.panel_queries(
        planner, DASHBOARDS[uid], STATES[state], to - timedelta(days=7), to, timedelta(hours=1)
    ):
        plan = _explain(planner, sql)
        assert not unbounded_scans(plan), f"{p['title']}: {unbounded_scans(plan)}\n" + "\n".join(plan)


def test_alert_queries_are_bounded(planner):
    doc = alerting.rules(silent_hours=24, night_load_share=0.5)
    for g in doc["groups"]:
        for r in g["rules"]:
            plan = _explain(planner, r["data"][0]["model"]["rawSql"])
            assert not unbounded_scans(plan), f"{r['uid']}: {unbounded_scans(plan)}\n" + "\n".join(plan)
