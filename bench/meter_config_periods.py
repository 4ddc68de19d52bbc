"""One configuration change of a meter with many configuration periods: the trigger's cost and the rollup's.

A fresh migrated database, one cumulative meter with 400 days of hourly readings and ``n`` periods
(one an hour, the multiplier cycling 1-3), then one ``UPDATE meter`` that takes effect after the
last period (the registry import's statement; migration 0011's trigger finds the changed spans
through ``meter_config_changes``, migration 0017), and a rollup of everything under that history.

    .venv/bin/python bench/meter_config_periods.py --pg postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ingest.py would shadow the package

from ingest.rollup import rollup_until_idle  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", required=True)
    ap.add_argument("--periods", type=int, nargs="+", default=[500, 2000, 10000])
    args = ap.parse_args()
    from store.migrate import migrate

    name = f"jieneng_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = args.pg.rsplit("/", 1)[0] + "/" + name
    try:
        migrate(url, timezone="Asia/Shanghai", timescaledb="off")
        with psycopg.connect(url, autocommit=True) as c:
            c.execute(
                "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone)"
                " VALUES ('I', 'bench', 'government', 'city', '320100', 'hot_summer_cold_winter')"
            )
            c.execute(
                "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at)"
                " VALUES ('M', 'I', 'electricity', 'kWh', 'cumulative', 'main', '2020-01-01Z')"
            )
            c.execute(
                "INSERT INTO reading (meter_id, ts, value) SELECT 'M', %s + g * interval '1 hour', g * 10.0"
                " FROM generate_series(0, 9600) g",
                (T0,),
            )
            print("periods | UPDATE meter (trigger) s | rollup of all readings s")
            for n in args.periods:
                c.execute("DELETE FROM meter_config WHERE meter_id = 'M' AND valid_from > '-infinity'")
                c.execute(
                    "INSERT INTO meter_config SELECT 'M', %s + g * interval '1 hour', 'kWh', 'cumulative',"
                    " 1 + (g %% 3), NULL, NULL FROM generate_series(1, %s) g",
                    (T0, n),
                )
                t = time.perf_counter()
                c.execute(
                    "UPDATE meter SET multiplier = 7, config_from = %s WHERE id = 'M'", (T0 + (n + 5) * H,)
                )
                trigger_s = time.perf_counter() - t
                c.execute(
                    "INSERT INTO usage_dirty (meter_id, ts_min, ts_max) VALUES ('M', %s, %s)",
                    (T0, T0 + 9600 * H),
                )
                t = time.perf_counter()
                rollup_until_idle(c, "Asia/Shanghai")
                print(f"{n} | {trigger_s:.3f} | {time.perf_counter() - t:.3f}")
    finally:
        with psycopg.connect(args.pg, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
