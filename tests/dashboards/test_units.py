"""Every figure carries its unit: one per axis, percent for fractions, bilingual series names."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from dashboards import build
from store.codes import UNITS

DASHBOARDS = {d["uid"]: d for d in build.dashboards()}


def _panel(uid: str, prefix: str) -> dict:
    return next(p for p in DASHBOARDS[uid]["panels"] if p["title"].startswith(prefix))


def _field_unit(p: dict, field: str) -> str | None:
    for o in p["fieldConfig"]["overrides"]:
        m = o["matcher"]
        if (m["id"] == "byName" and m["options"] == field) or (
            m["id"] == "byRegexp" and re.fullmatch(m["options"], field)
        ):
            for prop in o["properties"]:
                if prop["id"] == "unit":
                    return prop["value"]
    return p["fieldConfig"]["defaults"].get("unit")


def test_rollup_lag_seconds_do_not_apply_to_the_meter_hours_count():
    p = _panel("jieneng-ingest", "汇总滞后")
    assert _field_unit(p, "最大滞后 Max lag s") == "s"
    assert _field_unit(p, "汇总表时 Meter-hours") not in ("s", None)


@pytest.mark.parametrize("prefix", ["分能源逐时用量", "逐日用量"])
def test_usage_series_get_their_own_unit(prefix):
    p = _panel("jieneng-institution", prefix)
    for unit in UNITS:
        assert _field_unit(p, f"电力 electricity ({unit})") == f"suffix: {unit}", unit


def test_fractions_are_percent():
    assert _field_unit(_panel("jieneng-institution", "数据质量"), "覆盖率 Hourly coverage") == "percentunit"
    assert (
        _field_unit(_panel("jieneng-institution", "夜间与周末基荷"), "夜间/白天 Night share") == "percentunit"
    )


def test_series_and_energy_names_are_bilingual(seeded_db_url, grafana):
    d = DASHBOARDS["jieneng-institution"]
    to = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(seeded_db_url, autocommit=True) as conn:
        conn.execute("SET ROLE jieneng_grafana")
        for p, _t, sql in grafana.panel_queries(
            conn,
            d,
            {"region": ["320100", "320300"], "institution": ["gov-nj-01", "sch-nj-02", "hos-xz-01"]},
            to - timedelta(days=7),
            to,
            timedelta(hours=1),
        ):
            cols, rows = grafana.run(conn, sql)
            for name in ("metric", "能源 Energy"):
                if name in cols:
                    assert all(re.match(r"[\u4e00-\u9fff]+ [a-z_]+", r[cols.index(name)]) for r in rows), p[
                        "title"
                    ]
