"""Rollup memory benchmark (issue 10): a year-old backlog for many meters, recomputed at once.

Not a test: prints the rollup's peak resident memory and time for one pass over the whole backlog,
streamed in pieces (the default ``chunk_rows``) against everything loaded at once (``chunk_rows``
larger than the backlog, which is what the rollup did before), measured in the same run.

    .venv/bin/python bench/rollup.py --pg postgresql://postgres@127.0.0.1:5432/postgres

One fresh database (migrated), ``--meters`` cumulative meters with a year of 15-minute readings
each, one queued range per meter covering its year. Each rollup runs in a fresh process, so its
peak RSS (VmHWM) is its own; before each, usage is emptied and the queue refilled.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

T0 = datetime(2025, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)


def make_db(admin_url: str, meters: int, days: int) -> str:
    from store.db import with_dbname
    from store.migrate import migrate

    name = f"jieneng_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(admin_url, name)
    migrate(url, timezone="Asia/Shanghai", timescaledb="off")
    n = days * 96
    with psycopg.connect(url) as c:
        c.execute(
            "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone)"
            " VALUES ('I', 'bench', 'government', 'city', '320100', 'hot_summer_cold_winter')"
        )
        for j in range(meters):
            c.execute(
                "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at)"
                " VALUES (%s, 'I', 'electricity', 'kWh', 'cumulative', 'main', '2020-01-01Z')",
                (f"M{j}",),
            )
        with c.cursor().copy("COPY reading (meter_id, ts, value) FROM STDIN") as copy:
            for j in range(meters):
                v = 0.0
                for k in range(n):
                    v += 1.0 + (k * 7919 + j) % 13
                    copy.write_row((f"M{j}", T0 + k * STEP, v))
    return url


def drop_db(admin_url: str, url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def requeue(url: str) -> None:
    with psycopg.connect(url) as c:
        c.execute(
            "TRUNCATE usage_hourly, usage_daily, usage_monthly, usage_quarantine, usage_counter_event,"
            " usage_dirty"
        )
        c.execute(
            "INSERT INTO usage_dirty (meter_id, ts_min, ts_max)"
            " SELECT meter_id, min(ts), max(ts) FROM reading GROUP BY meter_id"
        )


def _rollup_child(url: str, chunk_rows: int, out) -> None:
    from ingest.rollup import run_rollup
    from store.deployment import deployment_timezone

    with psycopg.connect(url, autocommit=True) as c:
        tz = deployment_timezone(c)
        t = time.perf_counter()
        stats = run_rollup(c, tz, chunk_rows=chunk_rows)
        elapsed = time.perf_counter() - t
    hwm_kb = next(
        int(line.split()[1]) for line in open(f"/proc/{os.getpid()}/status") if line.startswith("VmHWM")
    )
    out.put(
        {
            "s": elapsed,
            "rss_mb": hwm_kb / 1024,
            "hours": stats.meter_hours,
            "pieces": stats.pieces,
            "held": stats.max_rows_held,
        }
    )


def measure(url: str, chunk_rows: int) -> dict:
    requeue(url)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_rollup_child, args=(url, chunk_rows, q))
    p.start()
    res = q.get()
    p.join()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--pg",
        default=os.environ.get("JIENENG_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    ap.add_argument("--meters", type=int, default=40)
    ap.add_argument("--days", type=int, default=365)
    args = ap.parse_args()
    from ingest.rollup import CHUNK_ROWS

    t = time.perf_counter()
    url = make_db(args.pg, args.meters, args.days)
    readings = args.meters * args.days * 96
    print(
        f"{readings:,} readings ({args.meters} meters x {args.days} days at 15 min) in {time.perf_counter() - t:.0f} s"
    )
    try:
        measure(url, CHUNK_ROWS)  # warm the cache, so neither measured pass reads from disk
        rows = [
            ("all at once", readings * 2, measure(url, readings * 2)),
            ("streamed", CHUNK_ROWS, measure(url, CHUNK_ROWS)),
        ]
    finally:
        drop_db(args.pg, url)
    print("| rollup | chunk_rows | readings held at most | pieces | meter-hours | peak RSS | time |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, chunk, r in rows:
        print(
            f"| {name} | {chunk:,} | {r['held']:,} | {r['pieces']:,} | {r['hours']:,} | {r['rss_mb']:.0f} MB"
            f" | {r['s']:.1f} s |"
        )


if __name__ == "__main__":
    main()
