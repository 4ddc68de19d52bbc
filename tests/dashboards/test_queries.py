"""Every panel and variable query, expanded as Grafana expands it, runs on PostgreSQL with demo data.

Runs as the read-only ``jieneng_grafana`` role (migration 0007), so the grants are checked too.
For several variable states (All everywhere; one city; two institutions; one institution with its
meters) and time ranges (6 h at 1 m, 7 d at 1 h, 1 y at 1 d), each query must return its
columns and at least one row.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from dashboards import build
from dashboards.macros import ALL, Variable, expand

DASHBOARDS = {d["uid"]: d for d in build.dashboards()}

STATES = {
    "all": {"region": ALL, "institution": ALL, "meter": ALL},
    "one-city": {"region": ["320100"], "institution": ALL, "meter": ALL},
    "two-institutions": {"region": ALL, "institution": ["gov-nj-01", "hos-xz-01"], "meter": ALL},
    "one-institution": {"region": ["320100"], "institution": ["gov-nj-01"], "meter": ALL},
    "some-meters": {"region": ["320100"], "institution": ["gov-nj-01"],
                    "meter": ["gov-nj-01.e-main", "gov-nj-01.water", "gov-nj-01.gas"]},
}
RANGES = {
    "6h": (timedelta(hours=6), timedelta(minutes=1)),
    "7d": (timedelta(days=7), timedelta(hours=1)),
    "1y": (timedelta(days=365), timedelta(days=1)),
}


def _time_range(span: timedelta) -> tuple[datetime, datetime]:
    to = datetime.now(UTC).replace(microsecond=0)
    return to - span, to


def _run(conn: psycopg.Connection, sql: str) -> tuple[list[str], list[tuple]]:
    cur = conn.execute(sql)
    return [d.name for d in cur.description], cur.fetchall()


def _resolve(conn, dashboard: dict, state: dict, t_from, t_to, interval) -> dict[str, Variable]:
    """Evaluate the variables in order, as Grafana does: each query sees the ones before it."""
    resolved: dict[str, Variable] = {}
    for v in dashboard["templating"]["list"]:
        if v["type"] == "query":
            sql = expand(v["query"], resolved, time_from=t_from, time_to=t_to, interval=interval)
            cols, rows = _run(conn, sql)
            value_col = cols.index("__value") if "__value" in cols else 0
            options = [str(r[value_col]) for r in rows]
            assert options, f"variable {v['name']} has no options"
            if v.get("multi"):
                current = state.get(v["name"], ALL)
                if current != ALL:
                    assert set(current) <= set(options), (v["name"], current, options)
            else:
                current = options[0]
            resolved[v["name"]] = Variable(v["name"], current, multi=v["multi"], include_all=v["includeAll"],
                                           options=options)
        elif v["type"] == "custom":
            resolved[v["name"]] = Variable(v["name"], v["current"]["value"], multi=False, include_all=False,
                                           options=[o["value"] for o in v["options"]])
    return resolved


@pytest.fixture(scope="module")
def reader(seeded_db_url):
    with psycopg.connect(seeded_db_url, autocommit=True) as conn:
        conn.execute("SET ROLE jieneng_grafana")
        conn.execute("SET statement_timeout = '20s'")
        yield conn


CASES = [
    (uid, state, rng)
    for uid in DASHBOARDS
    if uid != "jieneng-savings"  # needs verified projects; tests/savings/test_dashboard.py runs its queries
    for state in (STATES if uid != "jieneng-ingest" else {"all": STATES["all"]})
    for rng in RANGES
]


@pytest.mark.parametrize(("uid", "state", "rng"), CASES, ids=[f"{u}-{s}-{r}" for u, s, r in CASES])
def test_every_panel_query_returns_rows(reader, uid, state, rng):
    dashboard = DASHBOARDS[uid]
    t_from, t_to = _time_range(RANGES[rng][0])
    interval = RANGES[rng][1]
    variables = _resolve(reader, dashboard, STATES[state], t_from, t_to, interval)
    for p in dashboard["panels"]:
        for t in p["targets"]:
            sql = expand(t["rawSql"], variables, time_from=t_from, time_to=t_to, interval=interval)
            assert "$" not in sql.replace("$$", ""), f"unexpanded macro or variable in {p['title']}: {sql}"
            cols, rows = _run(reader, sql)
            assert rows, f"{uid} / {p['title']} returned no rows for {state} over {rng}:\n{sql}"
            if t["format"] == "time_series":
                assert cols[0] == "time", (p["title"], cols)
                assert all(r[0] is not None for r in rows)
            assert len(set(cols)) == len(cols), (p["title"], cols)


def test_series_values_follow_the_selection(reader):
    """Narrowing the institution variable narrows the numbers, not just the query text."""
    d = DASHBOARDS["jieneng-institution"]
    daily = next(p for p in d["panels"] if p["title"].startswith("逐日用量"))["targets"][0]["rawSql"]
    t_from, t_to = _time_range(timedelta(days=7))
    totals = {}
    for name in ("all", "one-institution"):
        variables = _resolve(reader, d, STATES[name], t_from, t_to, timedelta(hours=1))
        _, rows = _run(reader, expand(daily, variables, time_from=t_from, time_to=t_to))
        totals[name] = sum(r[2] for r in rows if r[1] == "electricity (kWh)")
    assert 0 < totals["one-institution"] < totals["all"]


def test_intensity_excludes_sub_meters_and_vehicle_fuel(reader):
    """Per-area energy counts top-level non-vehicle meters only (DESIGN §5), checked against a hand sum."""
    d = DASHBOARDS["jieneng-institution"]
    sql = next(p for p in d["panels"] if p["title"].startswith("单位面积"))["targets"][0]["rawSql"]
    t_from, t_to = _time_range(timedelta(days=7))
    variables = _resolve(reader, d, STATES["one-institution"], t_from, t_to, timedelta(hours=1))
    cols, rows = _run(reader, expand(sql, variables, time_from=t_from, time_to=t_to))
    (row,) = rows
    per_m2 = row[cols.index("单位面积能耗 kgce/m²")]
    day_from = (t_from + timedelta(hours=8)).date()
    day_to = (t_to + timedelta(hours=8)).date()
    _, ((elec, gas),) = _run(reader, f"""
        SELECT sum(consumption) FILTER (WHERE meter_id = 'gov-nj-01.e-main'),
               sum(consumption) FILTER (WHERE meter_id = 'gov-nj-01.gas')
        FROM usage_daily WHERE day BETWEEN '{day_from}' AND '{day_to}'""")
    assert per_m2 == pytest.approx((elec * 0.1229 + gas * 1.2143) / 18000, rel=1e-9)


def test_variable_queries_chain(reader):
    """region → institution → meter: choosing a city limits institutions, and those limit meters."""
    d = DASHBOARDS["jieneng-meters"]
    t_from, t_to = _time_range(timedelta(days=1))
    everything = _resolve(reader, d, STATES["all"], t_from, t_to, timedelta(minutes=1))
    one_city = _resolve(reader, d, {"region": ["320300"], "institution": ALL, "meter": ALL},
                        t_from, t_to, timedelta(minutes=1))
    assert one_city["institution"].options == ["hos-xz-01"]
    assert set(one_city["meter"].options) == {"hos-xz-01.e-main", "hos-xz-01.steam"}
    assert len(everything["meter"].options) == 9
