"""`jieneng registry import|export` end to end, as a subprocess against a real database."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg

from tests.registry.conftest import EXAMPLE_CSVS, EXAMPLES, INST_HEADER, ROOT, counts


def jieneng(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIENENG_")}
    env.update(JIENENG_DATABASE_URL=db_url, JIENENG_TIMEZONE="Asia/Shanghai")
    return subprocess.run(
        [sys.executable, "-m", "jieneng.cli", "registry", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_then_export(db_url, tmp_path):
    paths = [str(EXAMPLES / n) for n in EXAMPLE_CSVS]
    r = jieneng(db_url, "import", "--dry-run", *paths)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-3:] == [
        "meters: 377 inserted, 0 updated, 0 unchanged",
        "reported usage: 720 inserted, 0 updated, 0 unchanged",
        "dry run: nothing written",
    ]
    with psycopg.connect(db_url) as conn:
        assert counts(conn) == {"institution": 0, "institution_year": 0, "meter": 0, "reported_usage": 0}
    r = jieneng(db_url, "import", *paths)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-4:] == [
        "institutions: 91 inserted, 0 updated, 0 unchanged",
        "institution years: 455 inserted, 0 updated, 0 unchanged",
        "meters: 377 inserted, 0 updated, 0 unchanged",
        "reported usage: 720 inserted, 0 updated, 0 unchanged",
    ]
    r = jieneng(db_url, "import", str(EXAMPLES / "province.xlsx"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-2:] == [
        "meters: 0 inserted, 0 updated, 377 unchanged",
        "reported usage: 0 inserted, 0 updated, 720 unchanged",
    ]

    r = jieneng(db_url, "export", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    for n in EXAMPLE_CSVS:
        assert (tmp_path / "out" / n).read_bytes() == (EXAMPLES / n).read_bytes()
    r = jieneng(db_url, "export", "--format", "xlsx", str(tmp_path / "x"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"wrote {tmp_path / 'x' / 'registry.xlsx'}"
    assert (tmp_path / "x" / "registry.xlsx").read_bytes() == (EXAMPLES / "province.xlsx").read_bytes()


def test_bad_files_exit_2_with_every_error(db_url, tmp_path):
    bad = tmp_path / "institutions.csv"
    bad.write_text(
        INST_HEADER + "\n"
        "ok1,某局,government,,city,320100,cold,2020,\n"
        "x1,某局,government,,city,330100,cold,2020,\n"
        "x2,某局,government,,city,320100,tundra,2020,\n",
        encoding="utf-8",
    )
    r = jieneng(db_url, "import", str(bad), str(EXAMPLES / "meters.csv"))
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert lines[0] == f"{bad}:3:region_code: unknown region code '330100'"
    assert lines[1] == (
        f"{bad}:4:climate_zone: 'tundra' is not a valid climate_zone; allowed: cold (寒冷), hot_summer_cold_winter (夏热冬冷)"
    )
    # Every example meter names an institution that neither the database nor this import has.
    meter_errors = [x for x in lines if x.startswith(str(EXAMPLES / "meters.csv"))]
    assert len(meter_errors) == 377
    assert lines[-1] == "379 error(s); nothing imported"
    assert r.stdout == ""
    with psycopg.connect(db_url) as conn:
        assert counts(conn) == {"institution": 0, "institution_year": 0, "meter": 0, "reported_usage": 0}


def test_unreadable_path_and_unmigrated_database(db_url, empty_db_url, tmp_path):
    r = jieneng(db_url, "import", str(tmp_path / "missing.csv"))
    assert r.returncode == 2
    assert r.stderr.startswith(f"error: {tmp_path / 'missing.csv'}: cannot read: No such file or directory")
    r = jieneng(empty_db_url, "import", str(EXAMPLES / "institutions.csv"))
    assert r.returncode == 2
    assert (
        r.stderr.strip() == "error: the database has no registry tables yet: run `jieneng db migrate` first"
    )
