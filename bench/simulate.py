"""Simulator benchmark (issue 4): backfill of the example province, readings per second and wall time.

Not a test: prints one table of figures, with ratios against a baseline measured in the same run.

    .venv/bin/python bench/simulate.py --pg postgresql://postgres@127.0.0.1:5432/postgres [--months 13]

A fresh database gets the example province (`examples/*.csv`); a private Mosquitto (no queue caps) takes
the messages and a bare paho subscriber (QoS 1) counts what arrives, so "lost" is measured, not assumed.

Scenarios
- baseline: generate every message of the period (registers, faults, JSON), no broker;
- backfill 15 min: `sim.run.backfill` at the default interval, published and acknowledged;
- backfill 60 min: the same at hourly readings (what the demo may use to stay fast).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import start_broker  # noqa: E402
from sim.run import backfill, make_simulator  # noqa: E402
from store.db import with_dbname  # noqa: E402
from store.migrate import migrate  # noqa: E402
from store.registry import import_files  # noqa: E402

TZ = "Asia/Shanghai"


def fresh_db(admin: str) -> tuple[str, str]:
    name = f"jieneng_bench_sim_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(admin, name)
    try:
        migrate(url, timezone=TZ, timescaledb="off")
        files = [(p.name, p.read_bytes()) for p in sorted((ROOT / "examples").glob("*.csv"))]
        with psycopg.connect(url) as conn:
            import_files(conn, files, ZoneInfo(TZ))
    except BaseException:
        drop_db(admin, name)
        raise
    return name, url


def drop_db(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Counter:
    """A bare subscriber: counts messages and the readings inside them."""

    def __init__(self, url: str, topic: str):
        u = urlparse(url)
        self.messages = 0
        self.items = 0
        self.ready = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-count-{uuid.uuid4().hex[:6]}")
        c.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        c.on_subscribe = lambda *_: self.ready.set()
        c.on_message = self._on_message
        c.connect(u.hostname, u.port)
        c.loop_start()
        self.ready.wait(10)
        self.client = c

    def _on_message(self, client, userdata, msg) -> None:
        self.messages += 1
        try:
            body = json.loads(msg.payload)
            self.items += len(body) if isinstance(body, list) else 1
        except ValueError:
            self.items += 1

    def wait(self, n: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while self.messages < n and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", required=True, help="PostgreSQL admin URL (a database is created and dropped)")
    ap.add_argument("--months", type=int, default=13)
    ap.add_argument("--end", default="2026-11-01", help="end of the backfill (local date)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    z = ZoneInfo(TZ)
    end = dt.datetime.fromisoformat(args.end).replace(tzinfo=z)
    y, m = end.year, end.month - args.months
    while m < 1:
        y, m = y - 1, m + 12
    start = end.replace(year=y, month=m)
    name, url = fresh_db(args.pg)
    tmp = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    proc, mqtt_url = start_broker(tmp)
    rows = []
    try:
        with psycopg.connect(url) as conn:
            n_inst, n_meters = conn.execute(
                "SELECT count(DISTINCT institution_id), count(*) FROM meter"
            ).fetchone()
        print(f"example province: {n_inst} institutions, {n_meters} meters; {start.date()} .. {end.date()}")

        t0 = time.monotonic()
        sim = make_simulator(url, seed=args.seed, tz=TZ)
        sim.start_at(start)
        warm = time.monotonic() - t0
        n_msgs = n_bytes = 0
        for chunk_end in _weeks(start, end):
            for msg in sim.advance(chunk_end, chunk_days=7):
                n_msgs += 1
                n_bytes += len(msg.payload)
        for msg in sim.flush():
            n_msgs += 1
            n_bytes += len(msg.payload)
        wall = time.monotonic() - t0
        base_rate = sim.stats["readings"] / wall
        rows.append(
            (
                "baseline: generate only (15 min)",
                sim.stats["readings"],
                n_msgs,
                n_bytes,
                wall,
                warm,
                base_rate,
                "-",
                "-",
            )
        )

        for minutes in (15, 60):
            prefix = f"bench-{uuid.uuid4().hex[:6]}/v1"
            counter = Counter(mqtt_url, f"{prefix}/#")
            r = backfill(url, mqtt_url, prefix, start, end, args.seed, interval_s=minutes * 60)
            counter.wait(r.messages)
            lost = r.messages - counter.messages
            counter.close()
            rows.append(
                (
                    f"backfill {minutes} min, published + acked",
                    r.readings,
                    r.messages,
                    None,
                    r.wall_s,
                    None,
                    r.readings_per_s,
                    f"{r.readings_per_s / base_rate:.2f}",
                    str(lost),
                )
            )
    finally:
        proc.terminate()
        proc.wait(10)
        drop_db(args.pg, name)

    print()
    print(
        "| scenario | readings | messages | MB | wall s | of which warm-up s | readings/s | vs baseline | "
        "messages lost |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, n, msgs, nbytes, wall, warm_s, rate, ratio, lost in rows:
        mb = f"{nbytes / 1e6:.0f}" if nbytes else "-"
        ws = f"{warm_s:.1f}" if warm_s is not None else "-"
        print(f"| {label} | {n:,} | {msgs:,} | {mb} | {wall:.1f} | {ws} | {rate:,.0f} | {ratio} | {lost} |")


def _weeks(start: dt.datetime, end: dt.datetime):
    t = start
    while t < end:
        t = min(end, t + dt.timedelta(days=7))
        yield t


if __name__ == "__main__":
    main()
