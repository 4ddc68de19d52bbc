"""Registry file kind projects.csv: imported through `registry import`, every bad row named, nothing imported."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from store.registry import RegistryImportError, export_files, import_files

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TZ = ZoneInfo("Asia/Shanghai")
REGISTRY = ("institutions.csv", "institution_years.csv", "meters.csv")
HEADER = (
    "id,institution_id,kind,name,energy_types,meter_ids,baseline_from,baseline_to,install_from,install_to,"
    "reporting_from,reporting_to,description,contract_ref,prices"
)


def _files(*extra: tuple[str, bytes]) -> list[tuple[str, bytes]]:
    return [(n, (EXAMPLES / n).read_bytes()) for n in REGISTRY] + list(extra)


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


def test_example_project_imports_and_exports_unchanged(conn):
    s = import_files(conn, _files(("projects.csv", (EXAMPLES / "projects.csv").read_bytes())), TZ)
    assert (s.projects.inserted, s.projects.updated) == (1, 0)
    row = conn.execute(
        "SELECT institution_id, kind, energy_types, meter_ids, baseline_from, reporting_to, prices "
        "FROM project"
    ).fetchone()
    assert row == (
        "nj-fgw",
        "epc",
        "electricity",
        "nj-fgw.e-main",
        dt.date(2025, 1, 1),
        dt.date(2026, 11, 30),
        "electricity=0.68",
    )
    out = export_files(conn, TZ)
    assert out["projects.csv"] == (EXAMPLES / "projects.csv").read_bytes()
    again = import_files(conn, [("projects.csv", out["projects.csv"])], TZ)
    assert again.projects.unchanged == 1
    # and through a workbook
    xlsx = export_files(conn, TZ, "xlsx")["registry.xlsx"]
    assert import_files(conn, [("r.xlsx", xlsx)], TZ).projects.unchanged == 1


def test_chinese_labels_accepted(conn):
    body = (
        f"{HEADER}\np1,nj-fgw,合同能源管理,x,电力；天然气,,2025-01-01,2025-12-31,2026-01-01,2026-01-31,"
        "2026-02-01,2026-12-31,,,\n"
    ).encode()
    import_files(conn, _files(("projects.csv", body)), TZ)
    assert conn.execute("SELECT kind, energy_types FROM project").fetchone() == (
        "epc",
        "electricity;natural_gas",
    )


def test_bad_rows_each_named_nothing_imported(conn):
    rows = [
        "p1,nj-fgw,epc,ok,electricity,,2025-01-01,2025-12-31,2026-01-01,2026-01-31,2026-02-01,2026-12-31,,,",
        "p2,nobody,lease,x,electricity,,2025-01-01,2025-12-31,2026-01-01,2026-01-31,2026-02-01,2026-12-31,,,",
        "p3,nj-fgw,epc,x,steam;sunshine,,2025-01-01,2025-12-31,2026-01-01,2026-01-31,2026-02-01,2026-12-31,,,",
        "p4,nj-fgw,epc,x,electricity,nj-fgw.gas;sz-xx.e-main,2025-01-01,2025-12-31,2026-01-01,2026-01-31,"
        "2026-02-01,2026-12-31,,,",
        "p5,nj-fgw,epc,x,electricity,,2025-01-01,2025-12-31,2025-12-31,2026-01-31,2026-02-01,2026-12-31,,,",
        "p6,nj-fgw,epc,x,electricity,,2025-01-01,2025-13-31,2026-01-01,2026-01-31,2026-02-01,2026-12-31,,,",
        "p7,nj-fgw,epc,x,electricity,,2025-01-01,2025-12-31,2026-01-01,2026-01-31,2026-02-01,2026-12-31,,,"
        "electricity=cheap",
        "p1,nj-fgw,epc,dup,electricity,,2025-01-01,2025-12-31,2026-01-01,2026-01-31,2026-02-01,2026-12-31,,,",
    ]
    body = ("\n".join([HEADER, *rows]) + "\n").encode()
    with pytest.raises(RegistryImportError) as exc:
        import_files(conn, _files(("projects.csv", body)), TZ)
    got = [str(e) for e in exc.value.errors]
    assert got == [
        "projects.csv:3:institution_id: institution 'nobody' is not in the registry or this import",
        "projects.csv:3:kind: 'lease' is not a valid project kind; allowed: retrofit (节能改造), "
        "epc (合同能源管理), trusteeship (能源托管)",
        "projects.csv:4:energy_types: 'sunshine' is not a valid energy_type; allowed: "
        + ", ".join(f"{k} ({v})" for k, v in __import__("store.codes").codes.ENERGY_TYPES.items()),
        "projects.csv:5:meter_ids: meter 'nj-fgw.gas' measures natural_gas, which is not in energy_types",
        "projects.csv:5:meter_ids: meter 'sz-xx.e-main' is not in the registry or this import",
        "projects.csv:6:install_from: install_from 2025-12-31 must be after baseline_to 2025-12-31 "
        "(baseline, installation, then reporting)",
        "projects.csv:7:baseline_to: not an ISO 8601 date (YYYY-MM-DD): '2025-13-31'",
        "projects.csv:8:prices: 'electricity=cheap' is not energy_type=price (yuan per canonical unit, ≥ 0)",
        "projects.csv:9:id: duplicate project id 'p1' (first at projects.csv:2)",
    ]
    assert conn.execute("SELECT count(*) FROM institution").fetchone()[0] == 0


def test_cli_import_reports_projects(db_url):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("JIENENG_")}
    env.update(JIENENG_DATABASE_URL=db_url, JIENENG_TIMEZONE="Asia/Shanghai")
    paths = [str(EXAMPLES / n) for n in (*REGISTRY, "projects.csv")]
    r = subprocess.run(
        [sys.executable, "-m", "jieneng.cli", "registry", "import", *paths],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "projects: 1 inserted, 0 updated, 0 unchanged"
