"""Registry test helpers: a connection to the per-test database and small file builders."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TZ = ZoneInfo("Asia/Shanghai")
EXAMPLE_CSVS = ("institutions.csv", "institution_years.csv", "meters.csv", "reported_usage.csv")

INST_HEADER = "id,name,category,sub_kind,admin_level,region_code,climate_zone,baseline_year,address"
YEAR_HEADER = "institution_id,year,floor_area_m2,occupants"
METER_HEADER = (
    "id,institution_id,name,energy_type,unit,register,end_use,parent_meter_id,multiplier,rollover,"
    "max_rate_per_h,installed_at,retired_at"
)

REPORTED_HEADER = "institution_id,year,energy_type,end_use,unit,quantity,source"


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


def example_files(names=EXAMPLE_CSVS) -> list[tuple[str, bytes]]:
    return [(n, (EXAMPLES / n).read_bytes()) for n in names]


def csv_file(name: str, header: str, *rows: str) -> tuple[str, bytes]:
    return name, ("\n".join((header, *rows)) + "\n").encode("utf-8")


def counts(conn) -> dict[str, int]:
    return {
        t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("institution", "institution_year", "meter", "reported_usage")
    }


def snapshot(conn) -> dict[str, list[tuple]]:
    """Every registry row, for before/after comparisons."""
    return {
        t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall()
        for t in ("institution", "institution_year", "meter", "reported_usage")
    }
