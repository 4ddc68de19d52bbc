"""Benchmark: the example province at 1×, 10× and 100× — queries, a scoring run, bytes per row (issue 15).

For each scale a fresh database gets the example registry (examples/: 91 institutions, 377 meters)
copied ``scale`` times under new ids, then rollups synthesised directly in SQL (no readings, no
rollup): for every meter a year of daily usage up to today (local), monthly usage summed from it,
and hourly usage for the last ``--hourly-days`` days. Then, on that database:

- every Grafana panel's query (dashboards/build.py, expanded by dashboards/macros.py as Grafana
  sends it, variables resolved in order) for four variable states (everything; one city; one
  institution; three of its meters) over 7 days at 1 h and a year at 1 d, each ``--repeat`` times;
- the API in-process (FastAPI TestClient, the real app and pool): rankings page (100 rows),
  an institution's report, and its daily usage series over a year, ``--requests`` each on random
  institutions;
- one full scoring run of the current year (scoring/runner.py), methodology jiangsu-2026 with
  ``min_coverage = 0`` (there are no raw readings, so data quality has no coverage to find);
- bytes per row of ``usage_hourly``, ``usage_daily``, ``usage_monthly`` and ``reading`` (table +
  indexes), and where the server has TimescaleDB, compressed (the deployment's own setup from
  store/timescale.py, every chunk compressed, ``hypertable_size``); raw readings are synthesised too, every 15 minutes for every meter over the last
  ``--raw-days`` days, so the meter-health panels (which read them) have something to read.

Prints each figure per scale and its growth from the smallest to the largest scale.

    .venv/bin/python bench/province.py [--scales 1,10,100] [--hourly-days 30] [--repeat 3]
        [--requests 40] [--admin-url postgresql://postgres@127.0.0.1:5432/postgres] [--keep]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TZ = "Asia/Shanghai"
ZONE = ZoneInfo(TZ)
RANGES = {"7d@1h": (timedelta(days=7), timedelta(hours=1)), "1y@1d": (timedelta(days=365), timedelta(days=1))}
USAGE_TABLES = ("usage_hourly", "usage_daily", "usage_monthly")


# --- synthesis ------------------------------------------------------------------------------------
def _copy_registry(conn: psycopg.Connection, scale: int) -> None:
    """Copies 1..scale-1 of the imported example registry, ids suffixed ``.c{n}``."""
    if scale <= 1:
        return
    copies = f"generate_series(1, {scale - 1}) c"
    conn.execute(f"""INSERT INTO institution (id, name, category, sub_kind, admin_level, region_code, climate_zone,
                                             baseline_year, address)
        SELECT i.id || '.c' || c, i.name || ' ' || c, i.category, i.sub_kind, i.admin_level, i.region_code,
               i.climate_zone, i.baseline_year, i.address
        FROM institution i, {copies} WHERE i.id NOT LIKE '%.c%'""")
    conn.execute(f"""INSERT INTO institution_year
        SELECT y.institution_id || '.c' || c, y.year, y.floor_area_m2 * (0.8 + (c % 5) * 0.1), y.occupants
        FROM institution_year y, {copies} WHERE y.institution_id NOT LIKE '%.c%'""")
    conn.execute(f"""INSERT INTO reported_usage
        SELECT r.institution_id || '.c' || c, r.year, r.energy_type, r.end_use, r.unit,
               r.quantity * (0.8 + (c % 5) * 0.1), r.source
        FROM reported_usage r, {copies} WHERE r.institution_id NOT LIKE '%.c%'""")
    # Parents before children: top-level meters first.
    for parents in (True, False):
        cond = "m.parent_meter_id IS NULL" if parents else "m.parent_meter_id IS NOT NULL"
        conn.execute(f"""INSERT INTO meter (id, institution_id, name, energy_type, unit, register, end_use,
                                           parent_meter_id, multiplier, rollover, max_rate_per_h, installed_at,
                                           retired_at, config_from)
            SELECT m.id || '.c' || c, m.institution_id || '.c' || c, m.name, m.energy_type, m.unit, m.register,
                   m.end_use, m.parent_meter_id || '.c' || c, m.multiplier, m.rollover, m.max_rate_per_h,
                   m.installed_at, m.retired_at, m.config_from
            FROM meter m, {copies} WHERE m.id NOT LIKE '%.c%' AND {cond}""")


def _drop_indexes(conn: psycopg.Connection, table: str) -> list[str]:
    """Drop a table's primary key and indexes for a bulk load; returns the statements that restore them."""
    restore = []
    for name, definition in conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
        (table,),
    ).fetchall():
        conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.Identifier(table), sql.Identifier(name))
        )
        restore.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for name, definition in conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", (table,)
    ).fetchall():
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        restore.append(definition)
    return restore


# A meter's size from its type and a hash of its id; a working-day profile with weather-ish noise.
_BASE = """CASE m.energy_type WHEN 'electricity' THEN 40 WHEN 'water' THEN 1.5 WHEN 'natural_gas' THEN 4
                               WHEN 'steam' THEN 0.3 WHEN 'heat' THEN 0.5 ELSE 0.8 END
           * (0.4 + (hashtext(m.id) & 1023) / 1024.0)
           * CASE WHEN m.parent_meter_id IS NULL THEN 1 ELSE 0.4 END"""


def synthesise(url: str, scale: int, hourly_days: int, raw_days: float) -> dict:
    from store import meter_activity
    from store.registry import import_files

    t0 = time.perf_counter()
    files = [(p.name, p.read_bytes()) for p in sorted((ROOT / "examples").glob("*.csv"))]
    with psycopg.connect(url) as conn:
        import_files(conn, files, ZONE)
        _copy_registry(conn, scale)
        conn.commit()
    today = datetime.now(ZONE).date()
    day0 = today - timedelta(days=364)
    hour1 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hour0 = hour1 - timedelta(days=hourly_days)
    raw0 = hour1 - timedelta(days=raw_days)
    with psycopg.connect(url, autocommit=True) as conn:
        # Registry rows came in through triggers; usage goes in with them off and indexes rebuilt after.
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET maintenance_work_mem = '256MB'")
        restore = [s for t in USAGE_TABLES for s in _drop_indexes(conn, t)]
        conn.execute(
            f"""INSERT INTO usage_hourly (meter_id, hour, consumption)
            SELECT m.id, h, round(({_BASE}
                   * (CASE WHEN extract(isodow FROM h AT TIME ZONE '{TZ}') < 6
                            AND extract(hour FROM h AT TIME ZONE '{TZ}') BETWEEN 8 AND 18 THEN 2.2 ELSE 0.7 END)
                   * (0.85 + (hashtext(m.id || h::text) & 255) / 850.0))::numeric, 3)::float8
            FROM meter m, generate_series(%s::timestamptz, %s::timestamptz, interval '1 hour') h
            WHERE m.retired_at IS NULL""",
            (hour0, hour1 - timedelta(hours=1)),
        )
        conn.execute(
            f"""INSERT INTO usage_daily (meter_id, day, consumption)
            SELECT m.id, d::date, round(({_BASE} * 24
                   * (CASE WHEN extract(isodow FROM d) < 6 THEN 1.35 ELSE 0.8 END)
                   * (1 + 0.3 * cos(2 * pi() * (extract(doy FROM d) - 200) / 365.0))
                   * (0.9 + (hashtext(m.id || d::text) & 255) / 1280.0))::numeric, 3)::float8
            FROM meter m, generate_series(%s::date, %s::date, interval '1 day') d
            WHERE m.retired_at IS NULL""",
            (day0, today),
        )
        conn.execute("""INSERT INTO usage_monthly (meter_id, month, consumption)
            SELECT meter_id, date_trunc('month', day)::date, sum(consumption) FROM usage_daily GROUP BY 1, 2""")
        restore += _drop_indexes(conn, "reading")
        conn.execute(
            f"""INSERT INTO reading (meter_id, ts, value, received_at)
            SELECT m.id, t, round((1000 + {_BASE} * extract(epoch FROM t - %s::timestamptz) / 3600.0)::numeric, 3)::float8,
                   t + interval '40 s'
            FROM meter m, generate_series(%s::timestamptz, %s::timestamptz, interval '15 min') t
            WHERE m.retired_at IS NULL""",
            (raw0, raw0, hour1),
        )
        for stmt in restore:
            conn.execute(stmt)
        conn.execute("RESET session_replication_role")
        conn.execute("TRUNCATE usage_dirty")
        meter_activity.refresh(conn)  # what ingest notes as it writes the readings
        conn.execute("VACUUM ANALYZE")
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM institution), (SELECT count(*) FROM meter),"
            " (SELECT count(*) FROM usage_hourly), (SELECT count(*) FROM usage_daily),"
            " (SELECT count(*) FROM usage_monthly), (SELECT count(*) FROM reading)"
        ).fetchone()
    keys = ("institutions", "meters", "hourly_rows", "daily_rows", "monthly_rows", "readings")
    return {
        **dict(zip(keys, counts, strict=True)),
        "synthesis_s": time.perf_counter() - t0,
        "hour0": hour0.isoformat(),
        "day0": day0.isoformat(),
        "today": today.isoformat(),
    }


# --- measurements ---------------------------------------------------------------------------------
def _pcts(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    p50 = statistics.median(s)
    p95 = s[min(len(s) - 1, max(0, round(0.95 * len(s) + 0.5) - 1))]
    return p50, p95


def bytes_per_row(url: str) -> dict:
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for t in (*USAGE_TABLES, "reading"):
            size, n = conn.execute(
                sql.SQL("SELECT pg_total_relation_size({}), (SELECT count(*) FROM {})").format(
                    sql.Literal(t), sql.Identifier(t)
                )
            ).fetchone()
            out[t] = size / n if n else float("nan")
    return out


def compressed_bytes_per_row(url: str) -> dict | None:
    """Where TimescaleDB is installed: the deployment's own setup (store/timescale.py), every chunk
    compressed, then bytes per row from ``hypertable_size``. None without the extension."""
    from store import timescale

    with psycopg.connect(url) as conn:
        if not timescale.extension_available(conn):
            return None
        timescale.apply(conn, timescale.TimescalePlan("30 days", None, rollup_compress_after="30 days"))
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for t in ("reading", "usage_hourly", "usage_daily"):
            conn.execute(
                sql.SQL(
                    "SELECT count(compress_chunk(c, if_not_compressed => TRUE)) FROM show_chunks({}) c"
                ).format(sql.Literal(t))
            )
            size, n = conn.execute(
                sql.SQL("SELECT hypertable_size({}), (SELECT count(*) FROM {})").format(
                    sql.Literal(t), sql.Identifier(t)
                )
            ).fetchone()
            out[t] = size / n if n else float("nan")
    return out


def _variables(conn, dashboard: dict, state: dict, t_from, t_to, interval, timings: list):
    """Resolve the dashboard's variables in order, as Grafana does (their queries are timed too)."""
    from dashboards.macros import ALL, Variable, expand

    resolved = {}
    for v in dashboard["templating"]["list"]:
        if v["type"] == "query":
            q = expand(v["query"], resolved, time_from=t_from, time_to=t_to, interval=interval)
            t = time.perf_counter()
            cur = conn.execute(q)
            rows = cur.fetchall()
            timings.append(time.perf_counter() - t)
            cols = [d.name for d in cur.description]
            value_col = cols.index("__value") if "__value" in cols else 0
            options = [str(r[value_col]) for r in rows]
            current = state.get(v["name"], ALL) if v.get("multi") else (options[0] if options else "")
            if current != ALL and v.get("multi"):
                current = [c for c in current if c in options] or ALL
            resolved[v["name"]] = Variable(
                v["name"],
                current,
                multi=v.get("multi", False),
                include_all=v.get("includeAll", False),
                options=options,
                # Grafana sends the custom all value (one marker), not every option.
                all_value=v.get("allValue") or None,
            )
        elif v["type"] == "custom":
            resolved[v["name"]] = Variable(
                v["name"],
                v["current"]["value"],
                multi=False,
                include_all=False,
                options=[o["value"] for o in v["options"]],
            )
    return resolved


_READER_SETTINGS = """
SELECT unnest(s.setconfig) FROM pg_db_role_setting s
WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
  AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
ORDER BY s.setdatabase
"""


def panel_timings(url: str, repeat: int) -> dict:
    """{(dashboard uid, panel title, state): [seconds...]} over both ranges and ``repeat`` runs."""
    from dashboards import build
    from dashboards.macros import ALL, expand
    from store.reader_role import READER_ROLE
    from store.regions import city_of

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET statement_timeout = '60s'")
        # Grafana logs in as the reader role: take its session settings (jit, migration 0023) as a login would.
        for (setting,) in conn.execute(_READER_SETTINGS, {"role": READER_ROLE}).fetchall():
            name, _, value = setting.partition("=")
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        inst, city = conn.execute(
            "SELECT id, region_code FROM institution WHERE id NOT LIKE '%.c%' ORDER BY id LIMIT 1"
        ).fetchone()
        meters = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM meter WHERE institution_id = %s ORDER BY parent_meter_id NULLS FIRST, id LIMIT 3",
                (inst,),
            )
        ]
        city = city_of(conn, city)
        states = {
            "all": {"region": ALL, "institution": ALL, "meter": ALL},
            "one-city": {"region": [city], "institution": ALL, "meter": ALL},
            "one-institution": {"region": [city], "institution": [inst], "meter": ALL},
            "three-meters": {"region": [city], "institution": [inst], "meter": meters},
        }
        out: dict[tuple[str, str, str], list[float]] = {}
        variables_t: list[float] = []
        now = datetime.now(UTC).replace(microsecond=0)
        for d in build.dashboards():
            for sname, state in states.items():
                if d["uid"] == "jieneng-ingest" and sname != "all":
                    continue
                for span, interval in RANGES.values():
                    t_from, t_to = now - span, now
                    variables = _variables(conn, d, state, t_from, t_to, interval, variables_t)
                    for p in d["panels"]:
                        for tg in p.get("targets", []):
                            q = expand(
                                tg["rawSql"], variables, time_from=t_from, time_to=t_to, interval=interval
                            )
                            key = (d["uid"], p["title"], sname)
                            for _ in range(repeat):
                                t = time.perf_counter()
                                try:
                                    conn.execute(q).fetchall()
                                except psycopg.errors.QueryCanceled:
                                    out.setdefault(key, []).append(60.0)
                                    continue
                                out.setdefault(key, []).append(time.perf_counter() - t)
        out[("(variables)", "all variable queries", "all")] = variables_t
    return out


def api_timings(url: str, requests: int, year: int, today: str) -> dict:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.config import ApiConfig
    from store import api_keys

    with psycopg.connect(url) as conn:
        token = api_keys.create_key(conn, role="admin", name="bench")[1]
        ids = [r[0] for r in conn.execute("SELECT id FROM institution ORDER BY id")]
        conn.commit()
    rng = random.Random(15)
    start = (date.fromisoformat(today) - timedelta(days=364)).isoformat()
    end = (date.fromisoformat(today) + timedelta(days=1)).isoformat()
    calls = {
        "rankings page (100)": lambda: (
            f"/v1/rankings?year={year}&limit=100&offset={rng.randrange(0, max(1, len(ids) - 100))}"
        ),
        "institution report": lambda: f"/v1/institutions/{rng.choice(ids)}/report?year={year}",
        "usage series (a year, daily)": lambda: (
            f"/v1/institutions/{rng.choice(ids)}/usage?start={start}&end={end}&bucket=day"
        ),
    }
    out = {}
    app = create_app(ApiConfig(database_url=url, timezone=TZ, pool_min_size=1, pool_max_size=4))
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {token}"}
        for name, path in calls.items():
            client.get(path(), headers=headers)  # warm
            samples = []
            for _ in range(requests):
                t = time.perf_counter()
                r = client.get(path(), headers=headers)
                samples.append(time.perf_counter() - t)
                if r.status_code != 200:
                    raise RuntimeError(f"{name}: {r.status_code} {r.text[:300]}")
            out[name] = samples
    return out


def scoring_run(url: str, year: int) -> float:
    from scoring.runner import run_scoring

    text = (ROOT / "scoring/methodologies/jiangsu-2026.toml").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench-province.toml"
        path.write_text(text.replace("min_coverage = 0.9", "min_coverage = 0.0"), encoding="utf-8")
        with psycopg.connect(url) as conn:
            t = time.perf_counter()
            run_scoring(conn, year=year, methodology_path=str(path), created_by="bench")
            conn.commit()
            return time.perf_counter() - t


def run_scale(admin_url: str, scale: int, args) -> dict:
    from store.db import with_dbname
    from store.migrate import migrate

    name = f"jieneng_bench_province_{scale}x_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(admin_url, name)
    try:
        t0 = time.perf_counter()
        migrate(url, timezone=TZ, timescaledb="off")
        info = synthesise(url, scale, args.hourly_days, args.raw_days)
        print(
            f"{scale}×: {info['institutions']:,} institutions, {info['meters']:,} meters, "
            f"{info['hourly_rows']:,} hourly, {info['daily_rows']:,} daily, {info['monthly_rows']:,} monthly rows, "
            f"{info['readings']:,} readings "
            f"in {info['synthesis_s']:.0f} s",
            flush=True,
        )
        year = date.fromisoformat(info["today"]).year
        info["scoring_s"] = scoring_run(url, year)
        print(f"  scoring run {year}: {info['scoring_s']:.2f} s", flush=True)
        info["bytes"] = bytes_per_row(url)
        info["api"] = api_timings(url, args.requests, year, info["today"])
        print(
            "  api: " + ", ".join(f"{k} p50 {_pcts(v)[0] * 1000:.0f} ms" for k, v in info["api"].items()),
            flush=True,
        )
        info["panels"] = {"\t".join(k): v for k, v in panel_timings(url, args.repeat).items()}
        # Last, as it turns the tables into hypertables: the figures above are plain PostgreSQL's.
        info["compressed_bytes"] = compressed_bytes_per_row(url)
        info["total_s"] = time.perf_counter() - t0
        print(f"  done in {info['total_s']:.0f} s", flush=True)
        return info
    finally:
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


# --- report ---------------------------------------------------------------------------------------
def _ms(x: float) -> str:
    return f"{x * 1000:.1f}" if x < 10 else f"{x * 1000:.0f}"


def report(results: dict[int, dict]) -> None:
    scales = sorted(results)
    lo, hi = scales[0], scales[-1]
    growth = f"{hi}×/{lo}×"
    head = " | ".join(f"{s}× p50 / p95 (ms)" for s in scales)
    print()
    print("| size | " + " | ".join(f"{s}×" for s in scales) + " |")
    print("|---|" + "---|" * len(scales))
    for key, label in (
        ("institutions", "institutions"),
        ("meters", "meters"),
        ("hourly_rows", "hourly rows"),
        ("daily_rows", "daily rows"),
        ("monthly_rows", "monthly rows"),
        ("readings", "raw readings"),
    ):
        print(f"| {label} | " + " | ".join(f"{results[s][key]:,}" for s in scales) + " |")
    print("| synthesis + bench (s) | " + " | ".join(f"{results[s]['total_s']:.0f}" for s in scales) + " |")
    print()
    print(f"| API (in-process) | {head} | p50 {growth} |")
    print("|---|" + "---|" * len(scales) + "---|")
    for name in results[lo]["api"]:
        cells = [_pcts(results[s]["api"][name]) for s in scales]
        print(
            f"| {name} | "
            + " | ".join(f"{_ms(a)} / {_ms(b)}" for a, b in cells)
            + f" | {cells[-1][0] / cells[0][0]:.2f} |"
        )
    print()
    print("| run and storage | " + " | ".join(f"{s}×" for s in scales) + f" | {growth} |")
    print("|---|" + "---|" * len(scales) + "---|")
    sc = [results[s]["scoring_s"] for s in scales]
    print("| full scoring run (s) | " + " | ".join(f"{x:.2f}" for x in sc) + f" | {sc[-1] / sc[0]:.1f} |")
    for t in (*USAGE_TABLES, "reading"):
        b = [results[s]["bytes"][t] for s in scales]
        print(
            f"| bytes per {t} row (table + indexes) | "
            + " | ".join(f"{x:.0f}" for x in b)
            + f" | {b[-1] / b[0]:.2f} |"
        )
    if all(results[s].get("compressed_bytes") for s in scales):
        for t in ("reading", "usage_hourly", "usage_daily"):
            b = [results[s]["compressed_bytes"][t] for s in scales]
            print(
                f"| bytes per {t} row, TimescaleDB compressed | "
                + " | ".join(f"{x:.1f}" for x in b)
                + f" | {b[-1] / b[0]:.2f} |"
            )
    else:
        print("| TimescaleDB compressed | extension not available on this server: not measured |")
    print()
    print(f"| dashboard / panel / variable state | {head} | p50 {growth} |")
    print("|---|" + "---|" * len(scales) + "---|")
    for key in results[lo]["panels"]:
        if not all(key in results[s]["panels"] for s in scales):
            continue
        cells = [_pcts(results[s]["panels"][key]) for s in scales]
        uid, title, state = key.split("\t")
        g = cells[-1][0] / cells[0][0] if cells[0][0] > 0 else float("nan")
        # Institution views should stay flat; sub-millisecond figures are timer noise.
        flag = (
            " **" if g > 2 and cells[-1][0] >= 0.001 and state in ("one-institution", "three-meters") else ""
        )
        print(
            f"| {uid.removeprefix('jieneng-')} / {title} / {state} | "
            + " | ".join(f"{_ms(a)} / {_ms(b)}" for a, b in cells)
            + f" | {g:.1f}{flag} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--scales", default="1,10,100", help="comma-separated multiples of the example province")
    ap.add_argument("--hourly-days", type=int, default=30, help="days of hourly usage up to now")
    ap.add_argument("--raw-days", type=float, default=2, help="days of 15-minute raw readings up to now")
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs of each panel query per variable state and range"
    )
    ap.add_argument("--requests", type=int, default=40, help="API requests per endpoint")
    ap.add_argument("--json", type=Path, help="also write every sample here")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    args = ap.parse_args()
    results = {}
    for s in (int(x) for x in args.scales.split(",")):
        results[s] = run_scale(args.admin_url, s, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    report(results)


if __name__ == "__main__":
    main()
