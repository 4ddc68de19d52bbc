"""Every panel and variable query, expanded as Grafana expands it, runs on PostgreSQL with demo data.

Runs as the read-only ``jieneng_grafana`` role (migration 0007), so the grants are checked too.
For several variable states (All everywhere; one city; two institutions; one institution with its
meters; selections held as lone strings) and five time ranges (6 h at 1 m, 7 d and 30 d at 1 h,
1 y and 2 y at 1 d), each query must return its columns and at least one row (empty states:
test_edge_states.py).
"""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from dashboards import build
from dashboards.macros import ALL, expand
from scoring.runner import stored_figures
from store import scoring as S

DASHBOARDS = {d["uid"]: d for d in build.dashboards()}

STATES = {
    "all": {"region": ALL, "institution": ALL, "meter": ALL},
    "one-city": {"region": ["320100"], "institution": ALL, "meter": ALL},
    "two-institutions": {
        "region": ["320100", "320300"],
        "institution": ["gov-nj-01", "hos-xz-01"],
        "meter": ALL,
    },
    "one-institution": {"region": ["320100"], "institution": ["gov-nj-01"], "meter": ALL},
    # A multi-value selection Grafana holds as a lone string (a URL's single var-… parameter).
    "lone-strings": {"region": "320100", "institution": "gov-nj-01", "meter": ALL},
    "some-meters": {
        "region": ["320100"],
        "institution": ["gov-nj-01"],
        "meter": ["gov-nj-01.e-main", "gov-nj-01.water", "gov-nj-01.gas"],
    },
}
RANGES = {
    "6h": (timedelta(hours=6), timedelta(minutes=1)),
    "7d": (timedelta(days=7), timedelta(hours=1)),
    "30d": (timedelta(days=30), timedelta(hours=1)),
    "1y": (timedelta(days=365), timedelta(days=1)),
    "2y": (timedelta(days=730), timedelta(days=1)),
}


def _time_range(span: timedelta) -> tuple[datetime, datetime]:
    to = datetime.now(UTC).replace(microsecond=0)
    return to - span, to


def _run(conn: psycopg.Connection, sql: str) -> tuple[list[str], list[tuple]]:
    cur = conn.execute(sql)
    return [d.name for d in cur.description], cur.fetchall()


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
def test_every_panel_query_returns_rows(reader, grafana, uid, state, rng):
    dashboard = DASHBOARDS[uid]
    t_from, t_to = _time_range(RANGES[rng][0])
    interval = RANGES[rng][1]
    variables = grafana.resolve(reader, dashboard, STATES[state], t_from, t_to, interval)
    for p in dashboard["panels"]:
        for t in p["targets"]:
            sql = expand(t["rawSql"], variables, time_from=t_from, time_to=t_to, interval=interval)
            assert "$" not in sql.replace("$$", ""), f"unexpanded macro or variable in {p['title']}: {sql}"
            cols, rows = _run(reader, sql)
            # Per-meter detail waits for institutions chosen by name, and says so.
            waits = STATES[state]["institution"] == ALL and "Choose" in p["fieldConfig"]["defaults"].get(
                "noValue", ""
            )
            assert rows or waits, f"{uid} / {p['title']} returned no rows for {state} over {rng}:\n{sql}"
            if t["format"] == "time_series":
                assert cols[0] == "time", (p["title"], cols)
                assert all(r[0] is not None for r in rows)
            assert len(set(cols)) == len(cols), (p["title"], cols)


def test_series_values_follow_the_selection(reader, grafana):
    """Narrowing the institution variable narrows the numbers, not just the query text."""
    d = DASHBOARDS["jieneng-institution"]
    daily = next(p for p in d["panels"] if p["title"].startswith("逐日用量"))["targets"][0]["rawSql"]
    t_from, t_to = _time_range(timedelta(days=7))
    totals = {}
    two = {"region": ["320100", "320300"], "institution": ["gov-nj-01", "hos-xz-01"], "meter": ALL}
    for name, state in (("two", two), ("one-institution", STATES["one-institution"])):
        variables = grafana.resolve(reader, d, state, t_from, t_to, timedelta(hours=1))
        _, rows = _run(reader, expand(daily, variables, time_from=t_from, time_to=t_to))
        totals[name] = sum(r[2] for r in rows if r[1] == "电力 electricity (kWh)")
    assert 0 < totals["one-institution"] < totals["two"]


def test_intensity_excludes_sub_meters_and_vehicle_fuel(reader, grafana):
    """Per-area energy counts top-level non-vehicle meters only (docs/design.md §5), checked against a hand sum."""
    d = DASHBOARDS["jieneng-institution"]
    sql = next(p for p in d["panels"] if p["title"].startswith("单位面积"))["targets"][0]["rawSql"]
    t_from, t_to = _time_range(timedelta(days=7))
    variables = grafana.resolve(reader, d, STATES["one-institution"], t_from, t_to, timedelta(hours=1))
    cols, rows = _run(reader, expand(sql, variables, time_from=t_from, time_to=t_to))
    (row,) = rows
    per_m2 = row[cols.index("单位面积能耗 kgce/m²")]
    day_from = (t_from + timedelta(hours=8)).date()
    day_to = (t_to + timedelta(hours=8)).date()
    _, ((elec, gas),) = _run(
        reader,
        f"""
        SELECT sum(consumption) FILTER (WHERE meter_id = 'gov-nj-01.e-main'),
               sum(consumption) FILTER (WHERE meter_id = 'gov-nj-01.gas')
        FROM usage_daily WHERE day BETWEEN '{day_from}' AND '{day_to}'""",
    )
    assert per_m2 == pytest.approx((elec * 0.1229 + gas * 1.2143) / 18000, rel=1e-9)


def test_variable_queries_chain(reader, grafana):
    """region → institution → meter: a city's institutions once a city is chosen, its meters once an
    institution is; under All a list stays empty (just "All"), so no dropdown lists the whole province."""
    d = DASHBOARDS["jieneng-meters"]
    t_from, t_to = _time_range(timedelta(days=1))
    everything = grafana.resolve(reader, d, STATES["all"], t_from, t_to, timedelta(minutes=1))
    assert everything["institution"].options == [] and everything["meter"].options == []
    one_city = grafana.resolve(
        reader,
        d,
        {"region": ["320300"], "institution": ALL, "meter": ALL},
        t_from,
        t_to,
        timedelta(minutes=1),
    )
    assert one_city["institution"].options == ["hos-xz-01"] and one_city["meter"].options == []
    one = grafana.resolve(
        reader,
        d,
        {"region": ["320300"], "institution": ["hos-xz-01"], "meter": ALL},
        t_from,
        t_to,
        timedelta(minutes=1),
    )
    assert set(one["meter"].options) == {"hos-xz-01.e-main", "hos-xz-01.steam"}


def test_all_is_one_marker_not_every_id(reader, grafana):
    """All expands to the custom all value: the SQL does not grow with the registry."""
    d = DASHBOARDS["jieneng-meters"]
    t_from, t_to = _time_range(timedelta(days=1))
    variables = grafana.resolve(reader, d, STATES["all"], t_from, t_to, timedelta(minutes=1))
    for p in d["panels"]:
        sql = expand(p["targets"][0]["rawSql"], variables, time_from=t_from, time_to=t_to)
        assert "gov-nj-01" not in sql, p["title"]


def _panel_sql(uid: str, prefix: str) -> str:
    return next(p for p in DASHBOARDS[uid]["panels"] if p["title"].startswith(prefix))["targets"][0]["rawSql"]


def _local_today(reader, grafana):
    _, ((today,),) = grafana.run(reader, "SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date")
    return today


def _panel_on_one_local_day(reader, grafana, uid, prefix, state, time_range, step):
    """The panel's (columns, rows) for the range ``time_range()`` returns, and the local date it ran on; run
    again when local midnight fell during it (the panels read the clock themselves, so a test comparing
    with "today" must know they saw the same day)."""
    d = DASHBOARDS[uid]
    for _ in range(3):
        before = _local_today(reader, grafana)
        t_from, t_to = time_range()
        variables = grafana.resolve(reader, d, STATES[state], t_from, t_to, step)
        out = grafana.run(reader, expand(_panel_sql(uid, prefix), variables, time_from=t_from, time_to=t_to))
        if _local_today(reader, grafana) == before:
            return out, before
    raise AssertionError("the local date changed during each of three runs")


def _this_month_rows(reader, grafana, rng):
    """The institution table's electricity row for the running local month (None when it has none), and today."""
    (cols, rows), today = _panel_on_one_local_day(
        reader,
        grafana,
        "jieneng-institution",
        "逐月用量",
        "one-institution",
        (lambda: _time_range(timedelta(days=7))) if rng == "last 7 days" else _month_end_range,
        timedelta(hours=1),
    )
    this_month = today.strftime("%Y-%m")
    row = next(
        (r for r in rows if r[0] == this_month and r[cols.index("能源 Energy")] == "电力 electricity"), None
    )
    return cols, row, today


def _month_end_range() -> tuple[datetime, datetime]:
    """Grafana's "This month": from the local month's start to its last second, in the future."""
    local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1) - timedelta(seconds=1)
    return start.astimezone(UTC), end.astimezone(UTC)


@pytest.mark.parametrize("rng", ["last 7 days", "this month"])
def test_monthly_table_compares_the_same_days_last_year(reader, grafana, rng):
    """A month still running is compared over its complete days with the same days last year: not the whole
    month last year (a range ending in the future), not a full day last year against today's first hours."""
    cols, row, today = _this_month_rows(reader, grafana, rng)
    if today.day == 1:
        assert row is None, "the first of the month has no complete day to compare yet"
        return
    # As many days from last year's month start (on 29 February: 28 days, to 1 March of a common year).
    month = today.replace(day=1)
    last_from = month.replace(year=month.year - 1)
    last_to = last_from + (today - month)
    _, ((cur, prev),) = grafana.run(
        reader,
        f"""
        SELECT sum(consumption) FILTER (WHERE day >= '{month}' AND day < '{today}'),
               sum(consumption) FILTER (WHERE day >= '{last_from}' AND day < '{last_to}')
        FROM usage_daily WHERE meter_id = 'gov-nj-01.e-main'""",
    )
    assert row[cols.index("天数 Days")] == today.day - 1
    assert row[cols.index("本期 This period")] == pytest.approx(cur)
    assert row[cols.index("上年同期 Same days last year")] == pytest.approx(prev)


def test_leap_february_is_compared_day_for_day(reader, grafana):
    """A range ending on 29 February: its 28 complete days against all 28 of February the year before."""
    d = DASHBOARDS["jieneng-institution"]
    t_from = datetime(2024, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)
    t_to = datetime(2024, 2, 29, 10, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)
    variables = grafana.resolve(reader, d, STATES["one-institution"], t_from, t_to, timedelta(hours=1))
    cols, rows = grafana.run(
        reader,
        expand(_panel_sql("jieneng-institution", "逐月用量"), variables, time_from=t_from, time_to=t_to),
    )
    row = next(r for r in rows if r[0] == "2024-02" and r[cols.index("能源 Energy")] == "电力 electricity")
    _, ((cur, prev),) = grafana.run(
        reader,
        """SELECT sum(consumption) FILTER (WHERE day BETWEEN '2024-02-01' AND '2024-02-28'),
                  sum(consumption) FILTER (WHERE day BETWEEN '2023-02-01' AND '2023-02-28')
           FROM usage_daily WHERE meter_id = 'gov-nj-01.e-main'""",
    )
    assert row[cols.index("天数 Days")] == 28
    assert row[cols.index("本期 This period")] == pytest.approx(cur)
    assert row[cols.index("上年同期 Same days last year")] == pytest.approx(prev)


@pytest.mark.parametrize("rng", ["last 365 days", "this month"])
def test_trend_last_point_is_like_for_like(reader, grafana, rng):
    """The trend's last point against a hand computation over the same days of both years. Every seeded
    meter's day is its base times one factor of the date (season, year, weekend), and each institution's
    floor area is the same both years, so the point's ratio is that factor's sum over this year's days over
    its sum over last year's (a running month: as many days from the month's start), whichever meters and
    coefficients enter it."""
    (cols, rows), today = _panel_on_one_local_day(
        reader,
        grafana,
        "jieneng-province",
        "能耗强度趋势",
        "all",
        (lambda: _time_range(timedelta(days=365))) if rng == "last 365 days" else _month_end_range,
        timedelta(days=1),
    )
    if not rows:
        assert rng == "this month" and today.day == 1, "only the first of the month has no complete day"
        return
    last = rows[-1]
    month = last[0].astimezone(ZoneInfo("Asia/Shanghai")).date()
    running = (month.year, month.month) == (today.year, today.month)
    assert not running or today.day > 1
    end = today if running else (month + timedelta(days=32)).replace(day=1)
    last_from = month.replace(year=month.year - 1)
    # A running month: as many days from last year's month start; a whole month: the whole month.
    last_to = last_from + (end - month) if running else end.replace(year=end.year - 1)
    _, ((expected,),) = grafana.run(
        reader,
        f"""
        SELECT sum(consumption) FILTER (WHERE day >= '{month}' AND day < '{end}')
               / sum(consumption) FILTER (WHERE day >= '{last_from}' AND day < '{last_to}')
        FROM usage_daily WHERE meter_id = 'gov-nj-01.e-main'""",
    )
    ratio = last[cols.index("本期 This period kgce/m²")] / last[cols.index("上年同期 Last year kgce/m²")]
    assert ratio == pytest.approx(expected, rel=1e-9)


def test_by_city_divides_by_institutions_with_data_only(reader, grafana):
    """南京's kgce/person counts the occupants of its two institutions with data, not of gov-nj-03 (none yet)."""
    d = DASHBOARDS["jieneng-province"]
    t_from, t_to = _time_range(timedelta(days=30))
    variables = grafana.resolve(reader, d, STATES["all"], t_from, t_to, timedelta(hours=1))
    energy = {
        r[0]: r[1]
        for r in grafana.run(
            reader,
            expand(_panel_sql("jieneng-province", "各市综合能耗"), variables, time_from=t_from, time_to=t_to),
        )[1]
    }
    cols, rows = grafana.run(
        reader,
        expand(_panel_sql("jieneng-province", "各市能耗强度"), variables, time_from=t_from, time_to=t_to),
    )
    nanjing = next(r for r in rows if r[0] == "南京市")
    assert nanjing[cols.index("人均能耗 kgce/person")] * (420 + 1600) == pytest.approx(
        energy["南京市"] * 1000
    )


def test_by_city_panels_have_one_unit_per_axis():
    d = DASHBOARDS["jieneng-province"]
    for p in d["panels"]:
        if p["title"].startswith("各市"):
            units = {
                o["properties"][0]["value"]
                for o in p["fieldConfig"]["overrides"]
                if o["properties"][0]["id"] == "unit"
            } | {p["fieldConfig"]["defaults"].get("unit")}
            placements = [
                pr["value"]
                for o in p["fieldConfig"]["overrides"]
                for pr in o["properties"]
                if pr["id"] == "custom.axisPlacement"
            ]
            assert None not in units, p["title"]
            # A second unit gets its own axis on the right; never more than two measures on one chart.
            assert len(units) == 1 or (len(units) == 2 and placements == ["right"]), p["title"]


# A newer province run of eight institutions: gov-nj-01 and five more in one peer group (one without occupants,
# one with no building energy), two in another. (building kgce, total kgce, water m³, floor m², occupants)
PEER_RUN = {
    "gov-nj-01": ("g", 90_000.0, 95_000.0, 4_000.0, 18_000.0, 300),
    "peer-1": ("g", 50_000.0, 52_500.0, 1_000.0, 10_000.0, 100),
    "peer-2": ("g", 120_000.0, 121_000.0, 9_000.0, 8_000.0, 450),
    "peer-3": ("g", 33_333.3, 40_000.0, None, 2_500.0, None),
    "peer-4": ("g", None, None, 700.0, 5_000.0, 70),
    "peer-5": ("g", 71_000.0, 71_000.0, 3_000.0, 6_100.0, 200),
    "other-1": ("h", 1.0, 1.0, 1.0, 1.0, 1),
    "other-2": ("h", 9e9, 9e9, 9e9, 1.0, 1),
}


def test_per_area_peers_are_the_latest_runs_peer_groups(seeded_db_url, grafana):
    """The peer panel against a hand computation from the latest province run's details: the institution's
    figures of the scored year (inputs.current) and the medians of its peer group's, whatever else the run
    holds; the columns it reads are written from the details by the runner's own function."""
    names = (
        ("单位面积能耗 kgce/m²", "同组中位数 Peer median kgce/m²"),
        ("人均能耗 kgce/person", "同组中位数 Peer median kgce/person"),
        ("人均用水 m³/person", "同组中位数 Peer median m³/person"),
    )

    def figures(c: dict) -> tuple:
        def per_person(x):
            return None if x is None or not c["occupants"] else x / c["occupants"]

        per_m2 = None if c["building_energy_kgce"] is None else c["building_energy_kgce"] / c["floor_area_m2"]
        return per_m2, per_person(c["total_energy_kgce"]), per_person(c["water_m3"])

    d = DASHBOARDS["jieneng-institution"]
    t_from, t_to = _time_range(timedelta(days=7))
    details = {}
    with psycopg.connect(seeded_db_url) as conn:
        for iid, (group, kgce_b, kgce, water, area, people) in PEER_RUN.items():
            if iid != "gov-nj-01":
                conn.execute(
                    "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone) "
                    "VALUES (%s, %s, 'government', 'city', '320100', 'cold')",
                    (iid, iid),
                )
            current = dict(
                building_energy_kgce=kgce_b,
                total_energy_kgce=kgce,
                water_m3=water,
                floor_area_m2=area,
                occupants=people,
            )
            details[iid] = {"peer_group": {"key": group}, "inputs": {"current": current, "baseline": None}}
        S.insert_run(
            conn,
            year=2031,
            region_code=None,
            methodology_name="m",
            methodology_version="1",
            methodology_hash="h",
            methodology_text="",
            results_hash="r",
            created_by="test",
            results=[
                dict(
                    institution_id=iid,
                    region_code="320100",
                    category="government",
                    peer_group=x["peer_group"]["key"],
                    total_points=None,
                    eligible=False,
                    leader=False,
                    rank_peer=None,
                    rank_city=None,
                    rank_province=None,
                    vetoes=[],
                    detail=json.dumps(x),
                    **stored_figures(x),
                )
                for iid, x in details.items()
            ],
        )
        conn.execute("SET LOCAL ROLE jieneng_grafana")
        variables = grafana.resolve(conn, d, STATES["one-institution"], t_from, t_to, timedelta(hours=1))
        cols, rows = grafana.run(
            conn,
            expand(_panel_sql("jieneng-institution", "同组对比"), variables, time_from=t_from, time_to=t_to),
        )
        range_cols, range_rows = grafana.run(
            conn,
            expand(_panel_sql("jieneng-institution", "单位面积"), variables, time_from=t_from, time_to=t_to),
        )
        conn.rollback()
    (row,) = rows
    assert row[cols.index("组别 Peer group (scoring year)")] == "g (2031)"
    peers = [figures(x["inputs"]["current"]) for x in details.values() if x["peer_group"]["key"] == "g"]
    assert row[cols.index("同组单位数 Peers")] == len(peers) == 6
    own = figures(details["gov-nj-01"]["inputs"]["current"])
    for k, ((name, median_name), n) in enumerate(zip(names, (5, 4, 5), strict=True)):
        values = [p[k] for p in peers if p[k] is not None]
        assert len(values) == n, name  # a missing figure is no peer's figure (4: the median of an even count)
        assert row[cols.index(name)] == pytest.approx(own[k], rel=1e-9), name
        assert row[cols.index(median_name)] == pytest.approx(statistics.median(values), rel=1e-9), name
    # the range panel: the institution's own meters over the range, its period named
    (row,) = range_rows
    day_from, day_to = (t_from + timedelta(hours=8)).date(), (t_to + timedelta(hours=8)).date()
    assert row[range_cols.index("期间 Period")] == f"{day_from} – {day_to}"


def test_latest_ranking_ignores_a_newer_city_only_run(seeded_db_url, grafana):
    """A run limited to one city must not replace the province view (rolled back afterwards)."""
    d = DASHBOARDS["jieneng-province"]
    t_from, t_to = _time_range(timedelta(days=365))
    with psycopg.connect(seeded_db_url) as conn:
        run_id = conn.execute(
            "INSERT INTO scoring_run (year, region_code, methodology_name, methodology_version, methodology_hash, "
            "methodology_text, results_hash, created_by) VALUES (2026, '320300', 'x', '1', 'h', '', 'r', 'test') "
            "RETURNING id"
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO scoring_result (run_id, institution_id, region_code, category, peer_group, total_points, "
            "eligible, rank_province, detail) VALUES (%s, 'hos-xz-01', '320300', 'hospital', 'hospital/cold', 99, "
            "true, 1, '{}')",
            (run_id,),
        )
        conn.execute("SET LOCAL ROLE jieneng_grafana")
        variables = grafana.resolve(conn, d, STATES["all"], t_from, t_to, timedelta(days=1))
        _, rows = grafana.run(
            conn,
            expand(_panel_sql("jieneng-province", "最新排名"), variables, time_from=t_from, time_to=t_to),
        )
        conn.rollback()
    assert len(rows) == 3
