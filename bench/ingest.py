"""Ingest benchmark (issue 3): publish-to-commit throughput against ceilings and a naive baseline.

Not a test: prints one table of figures and ratios measured in the same run, on this machine.

    .venv/bin/python bench/ingest.py --pg postgresql://postgres@127.0.0.1:5432/postgres

Every scenario gets a fresh database (migrated, 1,000 meters in 50 institutions) and a private
Mosquitto (persistence on, no inflight/queue caps). Load generators are separate processes that
prepare their payloads first, then publish QoS 1 as fast as the broker takes them.

Scenarios
- client ceiling: a bare paho subscriber (QoS 1, auto-ack) that only counts messages;
- (a) `jieneng ingest` with 1 reading per message; (b) with 100-reading gateway batches;
- COPY ceiling: the same rows COPYed into ``reading`` in 5,000-row transactions, no broker;
- naive: a subscriber that INSERTs each reading with autocommit (acks on receipt).
Also: ingest peak RSS (VmHWM) and rollup lag (``rollup_run.lag_s``) at the sustained rate.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_INST, METERS_PER_INST = 50, 20
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=30)


# --- setup ---------------------------------------------------------------------------------


def make_db(admin_url: str) -> str:
    from store.db import with_dbname
    from store.migrate import migrate

    name = f"jieneng_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(admin_url, name)
    migrate(url, timezone="Asia/Shanghai", timescaledb="off")
    with psycopg.connect(url) as c:
        for i in range(N_INST):
            c.execute(
                "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone)"
                " VALUES (%s, %s, 'school', 'city', '320100', 'hot_summer_cold_winter')",
                (f"I{i}", f"inst {i}"),
            )
            for j in range(METERS_PER_INST):
                c.execute(
                    "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at)"
                    " VALUES (%s, %s, 'electricity', 'kWh', 'cumulative', 'main', '2020-01-01Z')",
                    (f"I{i}M{j}", f"I{i}"),
                )
    return url


def drop_db(admin_url: str, url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def start_broker(tmp: Path) -> tuple[subprocess.Popen, str]:
    from jieneng.embedded import free_port

    port = free_port()
    d = tmp / f"mosq-{port}"
    d.mkdir()
    (d / "m.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {d}/\n"
        "max_queued_messages 0\nmax_inflight_messages 0\n"
    )
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(d / "m.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(0.5)
    return proc, f"mqtt://127.0.0.1:{port}"


def readings(n: int) -> list[tuple[str, str, datetime, float]]:
    """(institution, meter, ts, value): each meter counts up once a minute."""
    meters = [(f"I{i}", f"I{i}M{j}") for i in range(N_INST) for j in range(METERS_PER_INST)]
    out = []
    for k in range(n):
        inst, meter = meters[k % len(meters)]
        step = k // len(meters)
        out.append((inst, meter, T0 + timedelta(minutes=step), float(step * 3 + 1)))
    return out


def messages(n: int, per_msg: int, prefix: str) -> list[tuple[str, bytes]]:
    rows = readings(n)
    if per_msg == 1:
        return [
            (f"{prefix}/{i}/{m}", json.dumps({"ts": ts.isoformat(), "value": v}).encode())
            for i, m, ts, v in rows
        ]
    by_inst: dict[str, list] = {}
    for i, m, ts, v in rows:
        by_inst.setdefault(i, []).append({"meter": m, "ts": ts.isoformat(), "value": v})
    out = []
    for i, items in by_inst.items():
        for k in range(0, len(items), per_msg):
            out.append((f"{prefix}/{i}/_batch", json.dumps(items[k : k + per_msg]).encode()))
    return out


# --- processes -----------------------------------------------------------------------------


def _mqtt_client(url: str, client_id: str, **kw):
    import paho.mqtt.client as mqtt

    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 1883
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, **kw)
    return c, host, int(port)


def publisher(url: str, msgs: list[tuple[str, bytes]], go, done_q) -> None:
    c, host, port = _mqtt_client(url, f"bench-pub-{uuid.uuid4().hex[:6]}")
    c.max_inflight_messages_set(500)
    c.max_queued_messages_set(0)
    c.connect(host, port)
    c.loop_start()
    go.wait()
    infos = [c.publish(t, p, qos=1) for t, p in msgs]
    for info in infos:
        info.wait_for_publish(300)
    done_q.put(time.time())
    c.disconnect()
    c.loop_stop()


def bare_subscriber(url: str, prefix: str, expect_msgs: int, ready, result_q) -> None:
    from paho.mqtt.properties import PacketTypes, Properties

    c, host, port = _mqtt_client(url, f"bench-bare-{uuid.uuid4().hex[:6]}")
    state = {"n": 0, "last": 0.0}

    def on_message(client, userdata, msg):
        state["n"] += 1
        if state["n"] >= expect_msgs:
            state["last"] = time.time()

    c.on_message = on_message
    c.on_connect = lambda cl, *a: (cl.subscribe(f"{prefix}/#", qos=1), ready.set())
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = 10000
    c.connect(host, port, clean_start=True, properties=props)
    c.loop_start()
    while not state["last"]:
        time.sleep(0.01)
    result_q.put(state["last"])
    c.disconnect()
    c.loop_stop()


def naive_ingester(url: str, db_url: str, prefix: str, expect_readings: int, ready, result_q) -> None:
    """The baseline: parse, INSERT each reading with autocommit, ack on receipt (what §9 warns about)."""
    conn = psycopg.connect(db_url, autocommit=True)
    c, host, port = _mqtt_client(url, f"bench-naive-{uuid.uuid4().hex[:6]}")
    state = {"n": 0, "last": 0.0}

    def on_message(client, userdata, msg):
        doc = json.loads(msg.payload)
        items = doc if isinstance(doc, list) else [doc]
        meter = msg.topic.rsplit("/", 1)[1]
        for it in items:
            conn.execute(
                "INSERT INTO reading (meter_id, ts, value) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (it.get("meter", meter), it["ts"], it["value"]),
            )
            state["n"] += 1
        if state["n"] >= expect_readings:
            state["last"] = time.time()

    c.on_message = on_message
    c.on_connect = lambda cl, *a: (cl.subscribe(f"{prefix}/#", qos=1), ready.set())
    c.connect(host, port)
    c.loop_start()
    while not state["last"]:
        time.sleep(0.01)
    result_q.put(state["last"])
    c.disconnect()
    c.loop_stop()


def publish_all(url: str, msgs, n_pub: int) -> tuple[float, float]:
    go = mp.Event()
    done_q = mp.Queue()
    parts = [msgs[k::n_pub] for k in range(n_pub)]
    procs = [mp.Process(target=publisher, args=(url, p, go, done_q)) for p in parts]
    for p in procs:
        p.start()
    time.sleep(1.0 + len(msgs) / 200_000)  # connected, payloads ready
    t0 = time.time()
    go.set()
    ends = [done_q.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return t0, max(ends)


# --- scenarios -----------------------------------------------------------------------------


def run_bare(tmp: Path, n: int, per_msg: int, n_pub: int) -> float:
    broker, url = start_broker(tmp)
    try:
        prefix = f"b{uuid.uuid4().hex[:6]}/v1"
        msgs = messages(n, per_msg, prefix)
        ready, q = mp.Event(), mp.Queue()
        sub = mp.Process(target=bare_subscriber, args=(url, prefix, len(msgs), ready, q))
        sub.start()
        ready.wait(10)
        time.sleep(0.3)
        t0, _ = publish_all(url, msgs, n_pub)
        last = q.get(timeout=600)
        sub.join()
        return n / (last - t0)
    finally:
        broker.terminate()


def run_naive(tmp: Path, admin_url: str, n: int, per_msg: int, n_pub: int) -> float:
    db = make_db(admin_url)
    broker, url = start_broker(tmp)
    try:
        prefix = f"n{uuid.uuid4().hex[:6]}/v1"
        msgs = messages(n, per_msg, prefix)
        ready, q = mp.Event(), mp.Queue()
        sub = mp.Process(target=naive_ingester, args=(url, db, prefix, n, ready, q))
        sub.start()
        ready.wait(10)
        time.sleep(0.3)
        t0, _ = publish_all(url, msgs, n_pub)
        last = q.get(timeout=900)
        sub.join()
        return n / (last - t0)
    finally:
        broker.terminate()
        drop_db(admin_url, db)


def run_copy(admin_url: str, n: int, batch: int = 5000) -> float:
    db = make_db(admin_url)
    try:
        rows = [(m, ts, v) for _, m, ts, v in readings(n)]
        with psycopg.connect(db) as c:
            t0 = time.perf_counter()
            for k in range(0, n, batch):
                with c.cursor() as cur, cur.copy("COPY reading (meter_id, ts, value) FROM STDIN") as cp:
                    for r in rows[k : k + batch]:
                        cp.write_row(r)
                c.commit()
            return n / (time.perf_counter() - t0)
    finally:
        drop_db(admin_url, db)


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def run_ingest(tmp: Path, admin_url: str, n: int, per_msg: int, n_pub: int) -> dict:
    from jieneng.embedded import free_port

    db = make_db(admin_url)
    broker, url = start_broker(tmp)
    prefix = f"i{uuid.uuid4().hex[:6]}/v1"
    env = {
        **os.environ,
        "JIENENG_DATABASE_URL": db,
        "JIENENG_MQTT_URL": url,
        "JIENENG_MQTT_TOPIC_PREFIX": prefix,
        "JIENENG_MQTT_CLIENT_ID": f"bench-ingest-{uuid.uuid4().hex[:6]}",
        "JIENENG_METRICS_PORT": str(free_port()),
        "JIENENG_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen([sys.executable, "-m", "jieneng.cli", "ingest"], env=env, cwd=ROOT)
    try:
        msgs = messages(n, per_msg, prefix)
        time.sleep(2.0)  # connected and subscribed
        with psycopg.connect(db, autocommit=True) as c:
            t0, t_pub = publish_all(url, msgs, n_pub)
            while True:
                got = c.execute("SELECT coalesce(sum(inserted), 0) FROM ingest_batch").fetchone()[0]
                if got >= n:
                    t_commit = c.execute(
                        "SELECT extract(epoch FROM max(committed_at)) FROM ingest_batch"
                    ).fetchone()[0]
                    break
                time.sleep(0.05)
            while c.execute("SELECT count(*) FROM usage_dirty").fetchone()[0]:
                time.sleep(0.05)
            t_rolled = time.time()
            lags = [r[0] for r in c.execute("SELECT lag_s FROM rollup_run WHERE meter_hours > 0")]
            batches = c.execute("SELECT count(*), avg(readings), avg(commit_ms) FROM ingest_batch").fetchone()
        import psutil  # installed with pgserver

        # The ingest process and its rollup child, each at its peak.
        rss = vm_hwm_mb(proc.pid) + sum(
            vm_hwm_mb(ch.pid) for ch in psutil.Process(proc.pid).children(recursive=True)
        )
        return {
            "rate": n / (float(t_commit) - t0),
            "publish_rate": n / (t_pub - t0),
            "rss_mb": rss,
            "lag_max": max(lags) if lags else float("nan"),
            "lag_p95": statistics.quantiles(lags, n=20, method="inclusive")[-1]
            if len(lags) >= 2
            else (lags[0] if lags else float("nan")),
            "rollup_tail_s": t_rolled - float(t_commit),
            "batches": batches[0],
            "avg_batch": float(batches[1] or 0),
            "avg_commit_ms": float(batches[2] or 0),
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        broker.terminate()
        drop_db(admin_url, db)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--pg",
        default=os.environ.get("JIENENG_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    ap.add_argument("--n-single", type=int, default=30_000, help="readings for (a), 1 per message")
    ap.add_argument("--n-batch", type=int, default=200_000, help="readings for (b), 100 per message")
    ap.add_argument("--n-naive", type=int, default=10_000, help="readings for the naive baseline")
    ap.add_argument("--publishers", type=int, default=2)
    ap.add_argument(
        "--repeat", type=int, default=2, help="runs per scenario; the best rate is kept (shared machine)"
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jieneng-bench-"))

    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"readings: (a) {args.n_single:,}, (b) {args.n_batch:,}, naive {args.n_naive:,}; "
        f"{args.publishers} publisher processes; {N_INST * METERS_PER_INST} meters",
        flush=True,
    )
    res: dict[str, float] = {}
    runs: dict[str, list] = {"a": [], "b": []}
    # Scenarios interleaved, each round in the same order, so load from elsewhere hits them alike.
    for rnd in range(args.repeat):
        for key, fn in (
            ("bare_a", lambda: run_bare(tmp, args.n_single, 1, args.publishers)),
            ("bare_b", lambda: run_bare(tmp, args.n_batch, 100, args.publishers)),
            ("copy", lambda: run_copy(args.pg, args.n_batch)),
            ("naive_a", lambda: run_naive(tmp, args.pg, args.n_naive, 1, args.publishers)),
            ("naive_b", lambda: run_naive(tmp, args.pg, args.n_naive, 100, args.publishers)),
        ):
            v = fn()
            res[key] = max(res.get(key, 0.0), v)
            print(f"  round {rnd + 1} {key}: {v:,.0f} readings/s", flush=True)
        for key, n, per in (("a", args.n_single, 1), ("b", args.n_batch, 100)):
            r = run_ingest(tmp, args.pg, n, per, args.publishers)
            runs[key].append(r)
            print(
                f"  round {rnd + 1} ingest ({key}): " + ", ".join(f"{k}={v:,.2f}" for k, v in r.items()),
                flush=True,
            )

    def best(key: str) -> dict:
        out = dict(max(runs[key], key=lambda r: r["rate"]))
        out["rss_mb"] = max(r["rss_mb"] for r in runs[key])
        out["lag_max"] = max(r["lag_max"] for r in runs[key])
        return out

    a, b = best("a"), best("b")

    def row(name, value, ratio_text):
        print(f"| {name:<40} | {value:>14} | {ratio_text:<44} |")

    print()
    print(f"| {'measure':<40} | {'value':>14} | {'ratio (target)':<44} |")
    print(f"|{'-' * 42}|{'-' * 16}|{'-' * 46}|")
    row("client ceiling, 1 reading/msg", f"{res['bare_a']:,.0f}/s", "")
    row("client ceiling, 100 readings/msg", f"{res['bare_b']:,.0f}/s", "")
    row("COPY ceiling (5,000-row transactions)", f"{res['copy']:,.0f}/s", "")
    row("naive autocommit INSERT, 1/msg", f"{res['naive_a']:,.0f}/s", "")
    row("naive autocommit INSERT, 100/msg", f"{res['naive_b']:,.0f}/s", "")
    row(
        "(a) ingest, 1 reading/msg",
        f"{a['rate']:,.0f}/s",
        f"{a['rate'] / res['bare_a']:.2f}x client (>=0.5), {a['rate'] / res['naive_a']:.1f}x naive (>=10)",
    )
    row(
        "(b) ingest, 100 readings/msg",
        f"{b['rate']:,.0f}/s",
        f"{b['rate'] / res['copy']:.2f}x COPY (>=0.5), {b['rate'] / res['naive_b']:.1f}x naive (>=10)",
    )
    row(
        "ingest peak RSS incl. rollup child (a) / (b)",
        f"{a['rss_mb']:.0f} / {b['rss_mb']:.0f} MB",
        "< 300 MB",
    )
    row("rollup lag max (a) / (b)", f"{a['lag_max']:.2f} / {b['lag_max']:.2f} s", "< 5 s")
    row("rollup lag p95 (a) / (b)", f"{a['lag_p95']:.2f} / {b['lag_p95']:.2f} s", "")
    row(
        "rollup done after last commit (a) / (b)",
        f"{a['rollup_tail_s']:.2f} / {b['rollup_tail_s']:.2f} s",
        "",
    )
    row(
        "batches, mean rows, mean ms (a)",
        f"{a['batches']}, {a['avg_batch']:.0f}, {a['avg_commit_ms']:.0f}",
        "",
    )
    row(
        "batches, mean rows, mean ms (b)",
        f"{b['batches']}, {b['avg_batch']:.0f}, {b['avg_commit_ms']:.0f}",
        "",
    )


if __name__ == "__main__":
    main()
