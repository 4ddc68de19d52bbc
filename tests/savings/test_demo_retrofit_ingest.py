"""The demo's retrofit through the whole path: simulator (with its faults) → MQTT → ingest → rollups →
weather → `verify_project`. The verified savings of examples/projects.csv match the cut the simulator made,
within the stated uncertainty; the result is visible over the API."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import pytest

from jieneng.demo import DEMO_RETROFITS
from savings.service import verify_project
from sim import weather
from sim.meters import InstitutionModel, step_of, time_grid
from sim.registry import load_registry
from sim.retrofit import parse
from sim.run import backfill
from store.registry import import_files
from store.weather import WeatherRow, upsert

ingest_service = pytest.importorskip("ingest.service")
from ingest.rollup import rollup_until_idle  # noqa: E402
from ingest.transport import BrokerConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TZ = "Asia/Shanghai"
Z = ZoneInfo(TZ)
SEED = 2026
FILES = ("institutions.csv", "institution_years.csv", "meters.csv", "projects.csv")


def _true_avoided(
    db_url: str, iid: str, meter_id: str, first: dt.date, last: dt.date, retrofit
) -> dict[dt.date, float]:
    """What the retrofit took off the meter each local day, from the simulator's own model."""
    (spec,) = load_registry(db_url, [iid])
    g = time_grid(
        step_of(dt.datetime(first.year, first.month, first.day, tzinfo=Z)),
        step_of(dt.datetime(last.year, last.month, last.day, tzinfo=Z) + dt.timedelta(days=1)),
        TZ,
    )
    m = next(m for m in spec.meters if m.id == meter_id)
    plain = InstitutionModel(spec, SEED, TZ).consumption(g)[meter_id]
    cut = InstitutionModel(spec, SEED, TZ, retrofits=(retrofit,)).consumption(g)[meter_id]
    days, inv = np.unique(g.ordinal, return_inverse=True)
    per_day = np.bincount(inv, weights=(plain - cut) * m.multiplier)
    return {dt.date.fromordinal(int(o)): float(v) for o, v in zip(days, per_day, strict=True)}


def test_demo_retrofit_verified_through_ingest(db_url, mqtt_url, topic_prefix):
    with psycopg.connect(db_url) as c:
        import_files(c, [(n, (ROOT / "examples" / n).read_bytes()) for n in FILES], Z)
        c.commit()
    retrofit = parse(DEMO_RETROFITS[0])
    cfg = ingest_service.IngestConfig(
        database_url=db_url,
        broker=BrokerConfig(
            url=mqtt_url,
            client_id=f"sav-ingest-{uuid.uuid4().hex[:8]}",
            topic_prefix=topic_prefix,
            session_expiry_s=300,
            receive_maximum=2000,
        ),
        timezone=TZ,
        batch_max_ms=50,
        rollup_interval_ms=100,
    )
    svc = ingest_service.IngestService(cfg)
    t = threading.Thread(target=svc.run, daemon=True)
    t.start()
    try:
        assert svc.transport.wait_connected(15)
        start, end = dt.datetime(2025, 1, 1, tzinfo=Z), dt.datetime(2026, 12, 1, tzinfo=Z)
        result = backfill(
            db_url,
            mqtt_url,
            topic_prefix,
            start,
            end,
            seed=SEED,
            interval_s=3600,
            institution_ids=[retrofit.institution_id],
            retrofits=(retrofit,),
        )
        assert result.readings > 50_000
        deadline, last, since = time.monotonic() + 300, -1, time.monotonic()
        with psycopg.connect(db_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                n = conn.execute("SELECT coalesce(sum(messages), 0) FROM ingest_batch").fetchone()[0]
                if n != last:
                    last, since = n, time.monotonic()
                elif time.monotonic() - since > 5:
                    break
                time.sleep(0.5)
    finally:
        svc.stop()
        t.join(60)
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(700)]
    with psycopg.connect(db_url, autocommit=True) as conn:
        rollup_until_idle(conn, TZ)
    with psycopg.connect(db_url) as conn:
        temps = weather.daily_mean_c(SEED, "320100", "", days)
        upsert(
            conn, [WeatherRow("320100", d, float(x), "simulated") for d, x in zip(days, temps, strict=True)]
        )
        (out,) = verify_project(conn, "nj-fgw-epc-2026", as_of=dt.date(2026, 12, 1))
        conn.commit()
        verified = [
            d
            for (d,) in conn.execute(
                "SELECT day FROM savings_daily WHERE project_id = 'nj-fgw-epc-2026' AND metered IS NOT NULL"
            )
        ]
    r = out.result
    assert out.status == "ok", out.reasons
    assert r["reporting_days"] == len(verified) >= 0.9 * 303
    truth = _true_avoided(
        db_url, "nj-fgw", "nj-fgw.e-main", dt.date(2026, 2, 1), dt.date(2026, 11, 30), retrofit
    )
    true_avoided = sum(truth[d] for d in verified)
    assert abs(r["avoided"] - true_avoided) <= r["avoided_uncertainty"], (r, true_avoided)
    assert r["avoided"] / r["predicted"] == pytest.approx(retrofit.share, abs=0.02)
    # the year-on-year change sees the cut and the weather together
    assert r["year_on_year_change"] < 0
