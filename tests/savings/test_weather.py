"""Weather per city: `jieneng weather import` with row-level errors, and the simulator's daily means."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import psycopg
import pytest

from savings.degree_days import cooling_degree_days, heating_degree_days
from savings.report import institution_section
from sim import weather as sim_weather
from store.regions import city_of
from store.savings import section_reads
from store.weather import daily_temperatures

ROOT = Path(__file__).resolve().parents[2]


def jieneng(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIENENG_")}
    env.update(JIENENG_DATABASE_URL=db_url, JIENENG_TIMEZONE="Asia/Shanghai")
    return subprocess.run(
        [sys.executable, "-m", "jieneng.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_degree_days():
    t = np.array([-2.0, 18.0, 20.5, 30.0])
    assert heating_degree_days(t, 18.0).tolist() == [20.0, 0.0, 0.0, 0.0]
    assert cooling_degree_days(t, 26.0).tolist() == [0.0, 0.0, 0.0, 4.0]


def test_import_good_file(db_url, tmp_path):
    f = tmp_path / "w.csv"
    f.write_text("region_code,date,mean_temp_c,source\n320100,2025-01-01,1.5,NMC\n320100,2025-01-02,-0.5,\n")
    r = jieneng(db_url, "weather", "import", str(f))
    assert r.returncode == 0, r.stderr
    assert "2 day(s) read and stored" in r.stdout
    with psycopg.connect(db_url) as conn:
        assert daily_temperatures(conn, "320100", dt.date(2025, 1, 1), dt.date(2025, 1, 31)) == {
            dt.date(2025, 1, 1): 1.5,
            dt.date(2025, 1, 2): -0.5,
        }
        # a county uses its city's weather: the city the region hierarchy puts it under
        conn.execute(
            "INSERT INTO region (code, name, level, parent_code) VALUES ('320115', '江宁区', 'county', '320100') "
            "ON CONFLICT DO NOTHING"
        )
        assert daily_temperatures(conn, "320115", dt.date(2025, 1, 1), dt.date(2025, 1, 1)) == {
            dt.date(2025, 1, 1): 1.5
        }
    # importing again changes the value of a day, not the count
    f.write_text("region_code,date,mean_temp_c\n320100,2025-01-01,2.0\n")
    assert jieneng(db_url, "weather", "import", str(f)).returncode == 0
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*), max(mean_temp_c) FROM weather_daily").fetchone() == (2, 2.0)


def test_bad_rows_reported_nothing_imported(db_url, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("region_code,date,mean_temp_c\n320200,2025-03-01,9\n")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "region_code,date,mean_temp_c\n"
        "320100,2025-01-01,1.5\n"
        "999999,2025-01-02,1\n"
        "320100,2025-02-30,1\n"
        "320100,2025-01-03,warm\n"
        "320100,2025-01-04,75\n"
        "320100,2025-01-01,1.6\n"
        ",2025-01-05,\n"
    )
    r = jieneng(db_url, "weather", "import", str(good), str(bad))
    assert r.returncode == 2
    b = str(bad)
    assert r.stderr.splitlines() == [
        f"{b}:3:region_code: unknown region code '999999'",
        f"{b}:4:date: not an ISO 8601 date (YYYY-MM-DD): '2025-02-30'",
        f"{b}:5:mean_temp_c: not a number: 'warm'",
        f"{b}:6:mean_temp_c: 75 °C is outside -60..60 °C",
        f"{b}:7:date: duplicate day 2025-01-01 for region 320100 (first at {b}:2)",
        f"{b}:8:region_code: required value missing",
        f"{b}:8:mean_temp_c: required value missing",
        "7 error(s); nothing imported",
    ]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM weather_daily").fetchone()[0] == 0


def test_bad_header(db_url, tmp_path):
    f = tmp_path / "h.csv"
    f.write_text("city,date,temp\n320100,2025-01-01,1\n")
    r = jieneng(db_url, "weather", "import", str(f))
    assert r.returncode == 2
    assert (
        f"{f}:1:city: unknown column 'city' (weather columns: region_code, date, mean_temp_c, source)"
        in r.stderr
    )
    assert f"{f}:1:region_code: missing required column 'region_code'" in r.stderr


@pytest.mark.parametrize("region", ["320300", "320500"])
def test_simulated_daily_mean_follows_the_city_normals(region):
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    t = sim_weather.daily_mean_c(1, region, "", days)
    jan, jul = sim_weather.CITY_NORMALS_C[region]
    assert abs(t[:31].mean() - jan) < 2.5 and abs(t[181:212].mean() - jul) < 2.5
    # the same numbers whatever range is asked for
    assert np.allclose(sim_weather.daily_mean_c(1, region, "", days[100:110]), t[100:110])


def test_weather_simulate_cli(db_url):
    r = jieneng(db_url, "weather", "simulate", "--from", "2025-01-01", "--to", "2025-01-10", "--seed", "3")
    assert r.returncode == 0, r.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT region_code) FROM weather_daily").fetchone() == (
            130,
            13,
        )


def _add_jiangning(conn) -> None:
    conn.execute(
        "INSERT INTO region (code, name, level, parent_code) VALUES ('320115', '江宁区', 'county', '320100') "
        "ON CONFLICT DO NOTHING"
    )


def test_county_rows_fill_in_over_the_city_day_by_day(db_url):
    # A few days of a county station must not hide the city's record on every other day (the baseline would
    # then be refused for missing temperature although the city has every day).
    with psycopg.connect(db_url) as conn:
        _add_jiangning(conn)
        conn.execute(
            "INSERT INTO weather_daily (region_code, day, mean_temp_c) VALUES "
            "('320100', '2025-01-01', 1.5), ('320100', '2025-01-02', 2.5), ('320115', '2025-01-02', 9.0)"
        )
        assert daily_temperatures(conn, "320115", dt.date(2025, 1, 1), dt.date(2025, 1, 31)) == {
            dt.date(2025, 1, 1): 1.5,
            dt.date(2025, 1, 2): 9.0,
        }
        assert daily_temperatures(conn, "320100", dt.date(2025, 1, 1), dt.date(2025, 1, 31)) == {
            dt.date(2025, 1, 1): 1.5,
            dt.date(2025, 1, 2): 2.5,
        }


def test_a_county_uses_the_weather_of_the_city_the_hierarchy_puts_it_under(db_url):
    # A re-coded county: its code starts with Wuxi's digits (3202) but it now lies under Nanjing (320100).
    # The city is the region hierarchy's (store.regions), not the code's first four digits.
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO region (code, name, level, parent_code) VALUES ('320211', '改划区', 'county', '320100')"
        )
        conn.execute(
            "INSERT INTO weather_daily (region_code, day, mean_temp_c) VALUES "
            "('320100', '2025-01-01', 1.5), ('320200', '2025-01-01', 7.0)"
        )
        assert daily_temperatures(conn, "320211", dt.date(2025, 1, 1), dt.date(2025, 1, 31)) == {
            dt.date(2025, 1, 1): 1.5
        }
        # The savings section of a report names the region whose weather it read: the same city.
        section = institution_section(conn, "NO-SUCH-INSTITUTION", 2025, region_code="320211")
        assert {w.region_code for w in section.weather} == {"320100"}
        assert [city_of(conn, c) for c in ("320211", "320100", "320000")] == ["320100", "320100", "320000"]


def test_the_report_sections_one_read_is_the_three_reads(db_url):
    # store.savings.section_reads sends the temperatures, the city and "has a project" as one statement; it must
    # give what daily_temperatures and city_of give, for a county with rows of its own, its city and a region
    # the table does not hold.
    with psycopg.connect(db_url) as conn:
        _add_jiangning(conn)
        conn.execute(
            "INSERT INTO weather_daily (region_code, day, mean_temp_c) VALUES "
            "('320100', '2024-12-31', -1.25), ('320100', '2025-01-01', 1.5), ('320115', '2025-01-01', 9.0), "
            "('320100', '2026-01-01', 3.0)"
        )
        first, last = dt.date(2024, 1, 1), dt.date(2025, 12, 31)
        for region in ("320115", "320100", "999999"):
            reads = section_reads(conn, "NO-SUCH-INSTITUTION", region, 2025)
            days = sorted(daily_temperatures(conn, region, first, last).items())
            assert {y: sorted(t) for y, t in reads.temperatures.items()} == {
                y: sorted(t for d, t in days if d.year == y) for y in (2024, 2025)
            }
            assert reads.city == city_of(conn, region) and reads.has_projects is False
        assert section_reads(conn, "x", "320100", 2025).temperatures == {2024: [-1.25], 2025: [1.5]}
        assert section_reads(conn, "x", "320115", 2025).temperatures == {2024: [-1.25], 2025: [9.0]}
