"""Savings verified end to end on a real database: a building of known truth in usage_hourly and
weather_daily, a project in the registry, `jieneng savings compute|show|export`."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from savings.service import verify_project
from store.registry import import_files

from .synthetic import building

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Asia/Shanghai")
CUT = 0.2
HEADER = (
    "id,institution_id,kind,name,energy_types,meter_ids,baseline_from,baseline_to,install_from,install_to,"
    "reporting_from,reporting_to,description,contract_ref,prices"
)


def _registry(baseline_from: str = "2025-01-01") -> list[tuple[str, bytes]]:
    return [
        (
            "institutions.csv",
            b"id,name,category,sub_kind,admin_level,region_code,climate_zone\n"
            b"b1,Test office,government,,city,320100,hot_summer_cold_winter\n",
        ),
        (
            "meters.csv",
            b"id,institution_id,energy_type,unit,register,end_use,installed_at\n"
            b"b1.e,b1,electricity,kWh,cumulative,main,2024-01-01\n"
            b"b1.g,b1,natural_gas,m3,cumulative,main,2024-01-01\n",
        ),
        (
            "projects.csv",
            (
                f"{HEADER}\np1,b1,epc,LED and chiller,electricity;natural_gas,,{baseline_from},2025-12-31,"
                "2026-01-01,2026-01-31,2026-02-01,2026-11-30,,C-1,electricity=0.7\n"
            ).encode(),
        ),
    ]


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url) as c:
        import_files(c, _registry(), TZ)
        temp, metered, _work, cf = building(
            42, dt.date(2025, 1, 1), dt.date(2026, 11, 30), dt.date(2026, 2, 1), CUT
        )
        with c.cursor() as cur:
            cur.executemany(
                "INSERT INTO weather_daily (region_code, day, mean_temp_c) VALUES ('320100', %s, %s)",
                list(temp.items()),
            )
            with cur.copy("COPY usage_hourly (meter_id, hour, consumption) FROM STDIN") as cp:
                for d, v in metered.items():
                    t0 = dt.datetime(d.year, d.month, d.day, tzinfo=TZ)
                    for h in range(24):
                        cp.write_row(("b1.e", t0 + dt.timedelta(hours=h), v / 24))
        c.commit()
        c.info_cf = cf  # type: ignore[attr-defined]
        yield c


def jieneng(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIENENG_")}
    env.update(JIENENG_DATABASE_URL=db_url, JIENENG_TIMEZONE="Asia/Shanghai")
    return subprocess.run(
        [sys.executable, "-m", "jieneng.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_known_savings_recovered_and_gas_refused(conn):
    out = {o.energy_type: o for o in verify_project(conn, "p1", as_of=dt.date(2026, 12, 1))}
    conn.commit()
    e = out["electricity"].result
    truth = sum(v * CUT for d, v in conn.info_cf.items() if dt.date(2026, 2, 1) <= d <= dt.date(2026, 11, 30))
    assert e["status"] == "ok" and e["reporting_days"] == 303
    assert abs(e["avoided"] - truth) <= e["avoided_uncertainty"]
    assert e["avoided_kgce"] == pytest.approx(e["avoided"] * 0.1229)
    assert e["avoided_cost_yuan"] == pytest.approx(e["avoided"] * 0.7)
    # the simple year-on-year change shows the cut and the weather together
    assert -0.3 < e["year_on_year_change"] < -0.1
    g = out["natural_gas"]
    assert g.status == "insufficient"
    assert g.reasons[0] == "baseline has use and temperature on 0 of 365 days (0%); the method needs 90%"
    rows = conn.execute(
        "SELECT count(*), count(metered), sum(avoided) FROM savings_daily WHERE energy_type = 'electricity'"
    ).fetchone()
    assert rows[:2] == (303, 303) and rows[2] == pytest.approx(e["avoided"])


def test_refit_is_reproducible(conn):
    verify_project(conn, "p1", as_of=dt.date(2026, 12, 1))
    verify_project(conn, "p1", as_of=dt.date(2026, 12, 1))
    conn.commit()
    a, b = conn.execute(
        "SELECT params, data_sha256, methodology_sha256 FROM baseline_model WHERE "
        "energy_type = 'electricity' ORDER BY id"
    ).fetchall()
    assert a == b


def test_short_baseline_refused_with_reason(db_url):
    with psycopg.connect(db_url) as c:
        import_files(c, _registry(baseline_from="2025-06-01"), TZ)
        c.commit()
        out = verify_project(c, "p1", as_of=dt.date(2026, 12, 1))
    assert out[0].status == "insufficient"
    assert out[0].reasons[0] == "no weather for region 320100 (import it: `jieneng weather import`)"
    assert out[0].reasons[1] == "baseline period 2025-06-01..2025-12-31 spans 214 days; the method needs 365"


def test_cli_compute_show_export(conn, db_url, tmp_path):
    r = jieneng(db_url, "savings", "compute", "--as-of", "2026-12-01")
    assert r.returncode == 2, r.stderr  # gas refused
    assert "electricity: 2026-02-01..2026-11-30 (303 metered days)" in r.stdout
    assert "natural_gas: refused, data insufficient:" in r.stdout
    r = jieneng(db_url, "savings", "show", "p1")
    assert r.returncode == 0 and "avoided" in r.stdout and "kgce" in r.stdout
    assert jieneng(db_url, "savings", "show", "nope").returncode == 2
    x = tmp_path / "p1.xlsx"
    r = jieneng(db_url, "savings", "export", "p1", "--out", str(x))
    assert r.returncode == 0, r.stderr
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(x.read_bytes()))
    assert book.sheetnames == ["summary", "model electricity", "daily electricity"]
    daily = list(book["daily electricity"].iter_rows(values_only=True))
    assert daily[0][:8] == (
        "date",
        "working day",
        "mean temperature °C",
        "HDD",
        "CDD",
        "predicted",
        "metered",
        "avoided",
    )
    assert len(daily) == 304
    first = daily[1]
    assert first[7] == pytest.approx(first[5] - first[6])
    assert str(first[9]).startswith("=IF(B2,'model electricity'!$C$3")
    # what the formula computes, from the model sheet's numbers, is the stored prediction of every day
    model = {r[0]: r for r in book["model electricity"].iter_rows(values_only=True) if r and r[0]}
    for row in daily[1:]:
        _, _typ, b0, bh, hbp, bc, cbp, *_ = model["workday" if row[1] else "non_workday"]
        t = row[2]
        assert b0 + bh * max(hbp - t, 0) + bc * max(t - cbp, 0) == pytest.approx(row[5], rel=1e-9)


def test_report_section_and_pdf(conn):
    from pypdf import PdfReader
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import SimpleDocTemplate

    from savings.report import institution_section, pdf_flowables

    verify_project(conn, "p1", as_of=dt.date(2026, 12, 1))
    conn.commit()
    s = institution_section(conn, "b1", 2026)
    assert [w.year for w in s.weather] == [2026, 2025] and s.weather[1].days_with_temperature == 365
    assert s.weather[1].hdd > 0 and (s.hdd_base_c, s.cdd_base_c) == (18.0, 26.0)
    assert [p["id"] for p in s.projects] == ["p1"]
    assert {r["energy_type"]: r["status"] for r in s.projects[0]["savings"]} == {
        "electricity": "ok",
        "natural_gas": "insufficient",
    }
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=A4).build(pdf_flowables(s))
    text = PdfReader(io.BytesIO(buf.getvalue())).pages[0].extract_text()
    assert "Verified savings (2026)" in text and "C-1" in text
    assert institution_section(conn, "b1", 2024).projects == []


def test_zero_baseline_refused(db_url):
    with psycopg.connect(db_url) as c:
        import_files(c, _registry(), TZ)
        days = [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(365)]
        with c.cursor() as cur:
            cur.executemany(
                "INSERT INTO weather_daily (region_code, day, mean_temp_c) VALUES ('320100', %s, 10)",
                [(d,) for d in days],
            )
            with cur.copy("COPY usage_hourly (meter_id, hour, consumption) FROM STDIN") as cp:
                for d in days:
                    for h in range(24):
                        cp.write_row(("b1.e", dt.datetime(d.year, d.month, d.day, h, tzinfo=TZ), 0.0))
                        cp.write_row(("b1.g", dt.datetime(d.year, d.month, d.day, h, tzinfo=TZ), 0.0))
        out = {o.energy_type: o for o in verify_project(c, "p1", as_of=dt.date(2026, 12, 1))}
    # zero electricity is a stuck meter (missing data); zero gas is real use, and nothing to save against
    e = out["electricity"].reasons
    assert e[0] == "baseline has use and temperature on 0 of 365 days (0%); the method needs 90%"
    assert e[-1] == "365 day(s) of zero or negative metered use in 2025-01-01..2025-12-31 count as missing"
    assert out["natural_gas"].reasons == [
        "baseline use is 0 m3 a day on average; there is nothing to save against"
    ]


def test_zero_and_negative_metered_days_are_missing_not_savings(conn):
    # A stuck meter reading 0 kWh for 20 days of June, and a day of negative use, are not a building that used nothing:
    # CalTRACK treats such days as missing data, so they neither count as avoided energy nor as metered days.
    conn.execute(
        "UPDATE usage_hourly SET consumption = 0 WHERE meter_id = 'b1.e' AND hour >= '2026-06-01 00:00+08' "
        "AND hour < '2026-06-21 00:00+08'"
    )
    conn.execute(
        "UPDATE usage_hourly SET consumption = -5 WHERE meter_id = 'b1.e' AND hour >= '2026-08-03 00:00+08' "
        "AND hour < '2026-08-04 00:00+08'"
    )
    conn.execute(
        "UPDATE usage_hourly SET consumption = -1 WHERE meter_id = 'b1.e' AND hour >= '2025-03-03 00:00+08' "
        "AND hour < '2025-03-04 00:00+08'"
    )
    e = {o.energy_type: o for o in verify_project(conn, "p1", as_of=dt.date(2026, 12, 1))}[
        "electricity"
    ].result
    assert e["status"] == "ok"
    assert e["reporting_days"] == 303 - 20 - 1
    truth = sum(
        v * CUT
        for d, v in conn.info_cf.items()
        if dt.date(2026, 2, 1) <= d <= dt.date(2026, 11, 30)
        and not dt.date(2026, 6, 1) <= d <= dt.date(2026, 6, 20)
        and d != dt.date(2026, 8, 3)
    )
    assert abs(e["avoided"] - truth) <= e["avoided_uncertainty"]
    model = conn.execute("SELECT n_days FROM baseline_model WHERE id = %s", (e["model_id"],)).fetchone()
    assert model[0] == 364
    june = conn.execute(
        "SELECT count(*) FROM savings_daily WHERE energy_type = 'electricity' AND metered IS NOT NULL "
        "AND day BETWEEN '2026-06-01' AND '2026-06-20'"
    ).fetchone()
    assert june[0] == 0


def test_reporting_period_in_the_future_refused_with_reason(conn):
    out = {o.energy_type: o for o in verify_project(conn, "p1", as_of=dt.date(2026, 1, 15))}
    e = out["electricity"]
    assert e.status == "insufficient"
    assert e.reasons == ["reporting period starts 2026-02-01; no reporting day before 2026-01-15 yet"]
    assert e.result.get("avoided") is None
    stored = conn.execute(
        "SELECT status, avoided FROM savings_result WHERE energy_type = 'electricity'"
    ).fetchone()
    assert stored == ("insufficient", None)
