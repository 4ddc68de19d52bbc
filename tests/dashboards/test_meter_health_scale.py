"""The meter-health dashboard reads raw readings only for meters chosen by name.

Each panel's query runs under EXPLAIN ANALYZE as Grafana would send it, and the rows its plan reads from
``reading`` are counted. Silent meters and last-seen read each meter's latest reading from
``meter_last_reading``, readings received from ``reading_received_hourly`` (migration 0024): on All no
panel reads a raw reading, however many meters the province has; for one institution a panel reads at
most that institution's own readings. The received counts are the count of ``reading`` per hour.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from dashboards import build
from dashboards.macros import ALL

from .test_institution_scope import rows_read

DASHBOARD = next(d for d in build.dashboards() if d["uid"] == "jieneng-meters")
ALL_STATE = {"region": ALL, "institution": ALL, "meter": ALL}
ONE = {"region": ["320100"], "institution": ["gov-nj-01"], "meter": ALL}
RECEIVED_TITLE = "接收读数 Readings received"


@pytest.fixture(scope="module")
def reader(seeded_db_url):
    with psycopg.connect(seeded_db_url, autocommit=True) as conn:
        conn.execute("SET ROLE jieneng_grafana")
        yield conn


def _window():
    to = datetime.now(UTC).replace(microsecond=0)
    return to - timedelta(days=7), to


def _plans(reader, grafana, state):
    t_from, t_to = _window()
    for p, _t, sql in grafana.panel_queries(reader, DASHBOARD, state, t_from, t_to, timedelta(hours=1)):
        (plan,) = reader.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql).fetchone()[0]
        yield p, rows_read(plan)


def test_on_all_no_panel_reads_a_raw_reading(reader, grafana):
    assert reader.execute("SELECT count(*) FROM reading").fetchone()[0] > 0
    titles = set()
    for p, read in _plans(reader, grafana, ALL_STATE):
        titles.add(p["title"])
        assert read.get("reading", (0, 0))[0] == 0, f"{p['title']} on All read {read}"
    assert {"静默计量表 Silent meters", "静默计量表 Silent meters (list)", RECEIVED_TITLE} <= titles


def test_one_institution_reads_only_its_own_readings(reader, grafana):
    own = reader.execute(
        "SELECT count(*) FROM reading r JOIN meter m ON m.id = r.meter_id WHERE m.institution_id = 'gov-nj-01'"
    ).fetchone()[0]
    assert reader.execute("SELECT count(*) FROM reading").fetchone()[0] > own
    for p, read in _plans(reader, grafana, ONE):
        rows, nodes = read.get("reading", (0, 0))
        assert rows <= nodes * own, (p["title"], read, own)


def _received(reader, grafana, state) -> dict:
    t_from, t_to = _window()
    for p, _t, sql in grafana.panel_queries(reader, DASHBOARD, state, t_from, t_to, timedelta(hours=1)):
        if p["title"] == RECEIVED_TITLE:
            return {t: n for t, n in reader.execute(sql).fetchall()}
    raise AssertionError("no readings-received panel")


def test_readings_received_are_the_count_of_reading_per_hour(reader, grafana):
    t_from, t_to = _window()
    want = dict(
        reader.execute(
            "SELECT date_bin('1 hour', r.received_at, timestamptz '2000-01-01 00:00:00+00') AS h, count(*)"
            " FROM reading r JOIN meter m ON m.id = r.meter_id WHERE m.institution_id = 'gov-nj-01'"
            " AND r.received_at >= %s - interval '1 hour' AND r.received_at < %s GROUP BY 1",
            (t_from, t_to),
        ).fetchall()
    )
    got = _received(reader, grafana, ONE)
    # $__timeGroupAlias gives each bucket's start as epoch seconds.
    assert want and {datetime.fromtimestamp(float(t), UTC): int(n) for t, n in got.items()} == {
        h.astimezone(UTC): n for h, n in want.items() if h > t_from - timedelta(hours=1)
    }
    # On All the panel waits for a choice, and says so.
    assert _received(reader, grafana, ALL_STATE) == {}
    panel = next(p for p in DASHBOARD["panels"] if p["title"] == RECEIVED_TITLE)
    assert "Choose" in panel["fieldConfig"]["defaults"]["noValue"]
