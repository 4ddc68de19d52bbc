"""API throughput and latency with 10,000 institutions scored (issue 6).

Seeds a fresh database (10,000 institutions across Jiangsu's 13 cities, a meter each with two years of
monthly usage, each city's daily temperatures of both years, one scoring run with a full `InstitutionResult`
per institution), starts `uvicorn` on
127.0.0.1 in a subprocess, and drives it with 50 concurrent httpx clients for a fixed time per endpoint:

- trivial: GET /v1/health (no auth, `SELECT 1`), the baseline of the same app in the same run;
- me: GET /v1/me (key lookup only);
- rankings: a page of 100 rows of the run (admin; and a city assessor, whose scope is a recursive CTE);
- report: an institution's report in JSON (random institutions).

Prints throughput, p50 and p99 per endpoint and the throughput ratio to the trivial endpoint.
Targets (issue 6): ratio ≥ 0.5, p99 < 100 ms. The load generator shares the machine with the server,
so absolute figures are a floor; the ratios are the comparable part.

    .venv/bin/python bench/api.py [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
                                  [--seconds 8] [--clients 50] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scoring.canonical import DETAIL_FORMAT, canonical_bytes  # noqa: E402
from scoring.model import (  # noqa: E402
    BlockResult,
    EnergyLine,
    Indicator,
    Inputs,
    InstitutionResult,
    MeterQualityInfo,
    MethodologyRef,
    PeerGroupInfo,
    Ranks,
    YearInputs,
)
from store import api_keys, codes  # noqa: E402
from store.db import with_dbname  # noqa: E402
from store.migrate import migrate  # noqa: E402

CITIES = [
    "320100",
    "320200",
    "320300",
    "320400",
    "320500",
    "320600",
    "320700",
    "320800",
    "320900",
    "321000",
    "321100",
    "321200",
    "321300",
]
CATEGORIES = list(codes.CATEGORIES)
N_INST = 10_000


def _url(admin_url: str, db: str) -> str:
    return with_dbname(admin_url, db)


def _detail(inst_id: str, city: str, category: str, rank: int, points: float, kwh: float) -> str:
    def yi(year: int, factor: float) -> YearInputs:
        qty = kwh * factor
        return YearInputs(
            year=year,
            floor_area_m2=8000.0,
            occupants=250,
            energy=[
                EnergyLine(
                    energy_type="electricity",
                    vehicle=False,
                    quantity=qty,
                    unit="kWh",
                    quantity_in_coef_unit=qty,
                    coef_unit="kWh",
                    kgce_per_unit=0.1229,
                    coef_basis="当量值",
                    coef_source="GB/T 2589-2020",
                    energy_kgce=qty * 0.1229,
                    kgco2_per_unit=0.5703,
                    carbon_source="bench",
                    carbon_kgco2=qty * 0.5703,
                    meter_ids=[f"{inst_id}-e"],
                )
            ],
            water_m3=2000.0,
            total_energy_kgce=qty * 0.1229,
            vehicle_energy_kgce=0.0,
            building_energy_kgce=qty * 0.1229,
            building_carbon_kgco2=qty * 0.5703,
            has_data=True,
        )

    blocks = [
        BlockResult(
            code=f"b{i}",
            label=f"评分项{i}",
            kind="measured",
            max_points=10,
            points=points / 10,
            method="peer_percentile",
            indicator="energy_per_area",
            reason="同类组百分位 0.62,线性插值",
        )
        for i in range(10)
    ]
    indicators = [
        Indicator(
            code=f"ind{i}",
            label=f"指标{i}",
            value=12.3 + i,
            unit="kgce/m²",
            formula="123456.7 kgce / 8000 m²",
        )
        for i in range(8)
    ]
    res = InstitutionResult(
        institution_id=inst_id,
        name=f"基准机构{inst_id}",
        region_code=city,
        city_code=city,
        category=category,
        sub_kind=None,
        admin_level="city",
        climate_zone="hot_summer_cold_winter",
        year=2026,
        baseline_year=2020,
        baseline_year_source="methodology",
        methodology=MethodologyRef(name="bench", version="1", hash="cd" * 32),
        inputs=Inputs(
            current=yi(2026, 1.0),
            baseline=yi(2020, 1.1),
            previous=yi(2025, 1.05),
            meters=[
                MeterQualityInfo(
                    meter_id=f"{inst_id}-e",
                    energy_type="electricity",
                    end_use="main",
                    counted=True,
                    coverage=0.99,
                    longest_gap_hours=3,
                    resets=0,
                    rollovers=0,
                    quarantined=0,
                    conflicts=0,
                    rejects=0,
                )
            ],
        ),
        indicators=indicators,
        peer_group=PeerGroupInfo(
            key=f"{category}/hscw", label=category, wanted=category, size=2000, fallback=[]
        ),
        blocks=blocks,
        base_points=points,
        bonus_points=0.0,
        total_points=points,
        scored=True,
        missing_inputs=[],
        vetoes=[],
        threshold=85.0,
        eligible=points >= 85,
        ineligible_reasons=[],
        leader=False,
        leader_reason="-",
        ranks=Ranks(
            peer=rank,
            peer_size=2000,
            city=rank,
            city_size=800,
            province=rank,
            province_size=N_INST,
            tie_break="total_points",
        ),
    )
    return canonical_bytes(res).decode("utf-8")  # as a run stores it (scoring.canonical)


def seed(url: str) -> tuple[int, dict[str, str]]:
    rng = random.Random(7)
    insts = [(f"I{i:05d}", CITIES[i % len(CITIES)], CATEGORIES[i % len(CATEGORIES)]) for i in range(N_INST)]
    points = sorted(((rng.uniform(50, 100), i) for i in range(N_INST)), reverse=True)
    with psycopg.connect(url) as conn:
        with conn.cursor().copy(
            "COPY institution (id, name, category, admin_level, region_code, climate_zone) FROM STDIN"
        ) as cp:
            for iid, city, cat in insts:
                cp.write_row((iid, f"基准机构{iid}", cat, "city", city, "hot_summer_cold_winter"))
        with conn.cursor().copy(
            "COPY meter (id, institution_id, energy_type, unit, register, end_use, installed_at) FROM STDIN"
        ) as cp:
            for iid, _, _ in insts:
                cp.write_row(
                    (f"{iid}-e", iid, "electricity", "kWh", "cumulative", "main", "2024-01-01T00:00+08:00")
                )
        with conn.cursor().copy("COPY usage_monthly (meter_id, month, consumption) FROM STDIN") as cp:
            for iid, _, _ in insts:
                for y in (2025, 2026):
                    for m in range(1, 13):
                        cp.write_row((f"{iid}-e", date(y, m, 1), 10_000.0 + m))
        # Each city's daily mean temperature for both years, as `jieneng weather import` would hold them: a
        # report reads its region's two years for the degree days beside per-area energy.
        with conn.cursor().copy("COPY weather_daily (region_code, day, mean_temp_c) FROM STDIN") as cp:
            day, last = date(2025, 1, 1), date(2026, 12, 31)
            while day <= last:
                t = round(16.0 - 12.0 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 20) / 365.0), 1)
                for city in CITIES:
                    cp.write_row((city, day, t))
                day += timedelta(days=1)
        run_id = conn.execute(
            "INSERT INTO scoring_run (year, methodology_name, methodology_version, methodology_hash, methodology_text,"
            " results_hash, created_by, detail_format) VALUES (2026, 'bench', '1', %s, '#', 'r', 'bench', %s)"
            " RETURNING id",
            ("cd" * 32, DETAIL_FORMAT),
        ).fetchone()[0]
        with conn.cursor().copy(
            "COPY scoring_result (run_id, institution_id, region_code, category, peer_group,"
            " total_points, eligible, rank_peer, rank_city, rank_province, vetoes, detail)"
            " FROM STDIN"
        ) as cp:
            for rank, (pts, i) in enumerate(points, start=1):
                iid, city, cat = insts[i]
                cp.write_row(
                    (
                        run_id,
                        iid,
                        city,
                        cat,
                        f"{cat}/hscw",
                        pts,
                        pts >= 85,
                        rank,
                        rank,
                        rank,
                        "[]",
                        _detail(iid, city, cat, rank, pts, 120_000.0),
                    )
                )
        tokens = {
            "admin": api_keys.create_key(conn, role="admin", name="bench-admin")[1],
            "city": api_keys.create_key(conn, role="city_assessor", region_code="320500", name="bench-city")[
                1
            ],
        }
    with psycopg.connect(url, autocommit=True) as conn:
        # What autovacuum does soon after a bulk insert: statistics and the visibility map (index-only scans).
        conn.execute("VACUUM ANALYZE")
    return run_id, tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# uvicorn's HTTP parser and event loop: the pure-Python h11 on asyncio, or httptools on uvloop (what
# uvicorn picks when both are installed, as `pip install 'jieneng[fast]'` does).
STACKS = {"h11": ("h11", "asyncio"), "httptools": ("httptools", "uvloop")}


def start_server(url: str, port: int, workers: int, pool_max: int, stack: str = "h11") -> subprocess.Popen:
    http, loop = STACKS[stack]
    code = (
        "import uvicorn\n"
        "from api.app import create_app\nfrom api.config import ApiConfig\n"
        f"app = create_app(ApiConfig(database_url={url!r}, pool_min_size=2, pool_max_size={pool_max}))\n"
    )
    if workers == 1:
        cmd = [
            sys.executable,
            "-c",
            code + f"uvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning', access_log=False,"
            f" http={http!r}, loop={loop!r})",
        ]
    else:
        # Several workers need an import string; a tiny module built from the same code.
        mod = ROOT / "bench" / f"_api_bench_app_{port}.py"
        mod.write_text(code)
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            f"bench._api_bench_app_{port}:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
            "--http",
            http,
            "--loop",
            loop,
        ]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the API did not start within 30 s")


async def drive(base: str, make_request, *, clients: int, seconds: float, max_requests: int) -> dict:
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:

        async def worker(seed_: int):
            nonlocal errors
            rng = random.Random(seed_)
            while time.monotonic() < stop_at and len(latencies) + errors < max_requests:
                path, headers = make_request(rng)
                t0 = time.perf_counter()
                try:
                    r = await client.get(path, headers=headers)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.monotonic() - started
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "errors": errors,
        "rps": n / elapsed,
        "p50_ms": 1000 * statistics.median(latencies) if n else float("nan"),
        "p99_ms": 1000 * latencies[min(n - 1, int(n * 0.99))] if n else float("nan"),
    }


WRK_SCRIPT = """
math.randomseed(%(seed)d)
local auth = "%(auth)s"
local kind = "%(kind)s"
request = function()
  local path
  if kind == "health" then path = "/v1/health"
  elseif kind == "me" then path = "/v1/me"
  elseif kind == "rank_admin" then path = string.format("/v1/runs/%(run)d/rankings?limit=100&offset=%%d", 100 * math.random(0, 99))
  elseif kind == "rank_city" then path = string.format("/v1/runs/%(run)d/rankings?limit=100&offset=%%d", 100 * math.random(0, 6))
  else path = string.format("/v1/institutions/I%%05d/report?year=2026", math.random(0, %(n)d - 1)) end
  if auth == "" then return wrk.format("GET", path) end
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. auth})
end
"""


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def drive_wrk(
    base: str, kind: str, auth: str, run_id: int, *, clients: int, seconds: float, threads: int
) -> dict:
    """wrk (C, event loop) as the load generator: it costs the shared CPUs far less than Python does."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % {"seed": 7, "auth": auth, "kind": kind, "run": run_id, "n": N_INST})
        script = f.name
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{clients}",
                f"-d{seconds:g}s",
                "--latency",
                "--timeout",
                "10s",
                "-s",
                script,
                base,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        ).stdout
    finally:
        os.unlink(script)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(int(x) for x in sock.groups()) if sock else 0)
    return {
        "requests": total - (int(bad.group(1)) if bad else 0),
        "errors": errors,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
        "p99_ms": _ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--seconds", type=float, default=8.0, help="duration per endpoint")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument(
        "--pool-max", type=int, default=10, help="connections per worker (settings pool_max_size)"
    )
    ap.add_argument(
        "--max-requests", type=int, default=200_000, help="per endpoint, a bound besides time (httpx)"
    )
    ap.add_argument(
        "--generator",
        choices=["auto", "wrk", "httpx"],
        default="auto",
        help="load generator: wrk when installed (auto), else httpx async",
    )
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument(
        "--stacks",
        default="h11",
        help="comma-separated uvicorn stacks to measure one after the other on the same data: "
        + ", ".join(f"{k} ({h} on {lp})" for k, (h, lp) in STACKS.items()),
    )
    args = ap.parse_args()
    stacks = [x.strip() for x in args.stacks.split(",") if x.strip()]
    unknown = [x for x in stacks if x not in STACKS]
    if unknown:
        ap.error(f"unknown stack(s) {', '.join(unknown)}; choose from {', '.join(STACKS)}")
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "httpx"

    db = f"jieneng_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    url = _url(args.admin_url, db)
    proc = None
    try:
        t0 = time.perf_counter()
        migrate(url, timezone="Asia/Shanghai", timescaledb="off")
        run_id, tokens = seed(url)
        print(f"seeded {N_INST} institutions and run {run_id} in {time.perf_counter() - t0:.1f} s")
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        city = {"Authorization": f"Bearer {tokens['city']}"}
        wrk_kinds = {
            "trivial GET /v1/health": ("health", ""),
            "GET /v1/me (auth only)": ("me", tokens["admin"]),
            "rankings page 100 (admin)": ("rank_admin", tokens["admin"]),
            "rankings page 100 (city)": ("rank_city", tokens["city"]),
            "report JSON (admin)": ("report", tokens["admin"]),
        }
        scenarios = {
            "trivial GET /v1/health": lambda rng: ("/v1/health", {}),
            "GET /v1/me (auth only)": lambda rng: ("/v1/me", admin),
            "rankings page 100 (admin)": lambda rng: (
                f"/v1/runs/{run_id}/rankings?limit=100&offset={100 * rng.randrange(100)}",
                admin,
            ),
            "rankings page 100 (city)": lambda rng: (
                f"/v1/runs/{run_id}/rankings?limit=100&offset={100 * rng.randrange(7)}",
                city,
            ),
            "report JSON (admin)": lambda rng: (
                f"/v1/institutions/I{rng.randrange(N_INST):05d}/report?year=2026",
                admin,
            ),
        }
        for stack in stacks:
            port = free_port()
            proc = start_server(url, port, args.workers, args.pool_max, stack)
            base = f"http://127.0.0.1:{port}"
            # Warm up connections and caches so the first measured endpoint is not penalised.
            asyncio.run(
                drive(
                    base, scenarios["report JSON (admin)"], clients=args.clients, seconds=2, max_requests=2000
                )
            )
            results = {}
            for name, make in scenarios.items():
                if generator == "wrk":
                    kind, auth = wrk_kinds[name]
                    results[name] = drive_wrk(
                        base,
                        kind,
                        auth,
                        run_id,
                        clients=args.clients,
                        seconds=args.seconds,
                        threads=args.wrk_threads,
                    )
                else:
                    results[name] = asyncio.run(
                        drive(
                            base,
                            make,
                            clients=args.clients,
                            seconds=args.seconds,
                            max_requests=args.max_requests,
                        )
                    )
            base_rps = results["trivial GET /v1/health"]["rps"]
            print(
                f"\n{args.clients} concurrent clients ({generator}), {args.seconds:g} s per endpoint,"
                f" uvicorn {stack} workers={args.workers}, pool_max_size={args.pool_max}, load average before:"
                f" {os.getloadavg()[0]:.1f}\n"
            )
            print("| endpoint | requests | errors | req/s | p50 ms | p99 ms | throughput vs trivial |")
            print("|---|---:|---:|---:|---:|---:|---:|")
            for name, r in results.items():
                print(
                    f"| {name} | {r['requests']} | {r['errors']} | {r['rps']:.0f} | {r['p50_ms']:.1f} |"
                    f" {r['p99_ms']:.1f} | {r['rps'] / base_rps:.2f} |"
                )
            print("\ntargets: throughput vs trivial >= 0.5, p99 < 100 ms")
            print(json.dumps({k: {kk: round(vv, 2) for kk, vv in v.items()} for k, v in results.items()}))
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            proc = None
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for f in (ROOT / "bench").glob("_api_bench_app_*.py"):
            f.unlink()
        with psycopg.connect(args.admin_url, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


if __name__ == "__main__":
    main()
