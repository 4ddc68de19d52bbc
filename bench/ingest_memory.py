"""Ingest memory through a stalled database and repeated reconnects (issue 10), and the ingest rates.

Not a test: prints figures measured in one run on this machine.

    .venv/bin/python bench/ingest_memory.py --pg postgresql://postgres@127.0.0.1:5432/postgres

Memory: `jieneng ingest` (default bounds: 20,000 messages, 64 MiB) connects to a private Mosquitto
(no in-flight or queue caps) through a TCP proxy. The database is stalled (a lock on ``reading``)
while 100,000 one-reading messages are published at QoS 0 or QoS 1 and the proxy cuts every
connection three times; then the lock goes and ingest drains. Ingest's resident memory (process and
rollup child) is sampled throughout; the stated bound is 300 MB, the RSS target of bench/ingest.py.

Rates: scenarios (a) 1 reading/message and (b) 100-reading batches of bench/ingest.py, run on this
tree and on a base commit's tree (``--base``, exported with git archive) in the same run, interleaved;
the target is that this tree's rates are at least 0.9 of the base's.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import drop_db, make_db, messages, publish_all, start_broker, vm_hwm_mb  # noqa: E402
from tests.ingest.netproxy import CuttableProxy  # noqa: E402

RSS_BOUND_MB = 300.0


def rss_mb(pid: int) -> float:
    import psutil  # installed with pgserver

    try:
        p = psutil.Process(pid)
        return (p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))) / 2**20
    except psutil.Error:
        return float("nan")


def publisher(url: str, msgs, qos: int, done) -> None:
    import paho.mqtt.client as mqtt

    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 1883
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"mem-pub-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
    )
    c.max_inflight_messages_set(500)
    c.max_queued_messages_set(0)
    c.connect(host, int(port))
    c.loop_start()
    infos = []
    for k, (t, p) in enumerate(msgs):
        infos.append(c.publish(t, p, qos=qos))
        if k % 2000 == 1999:
            # Keep paho's own buffer small, and (QoS 1) its packet ids below 65,535 outstanding.
            infos[-1].wait_for_publish(600)
    for info in infos:
        info.wait_for_publish(600)
    c.disconnect()
    c.loop_stop()
    done.set()


def ingest_env(db: str, url: str, prefix: str, metrics_port: int, code_root: Path) -> dict:
    return {
        **os.environ,
        "JIENENG_DATABASE_URL": db,
        "JIENENG_MQTT_URL": url,
        "JIENENG_MQTT_TOPIC_PREFIX": prefix,
        "JIENENG_MQTT_CLIENT_ID": f"bench-mem-{uuid.uuid4().hex[:6]}",
        "JIENENG_METRICS_PORT": str(metrics_port),
        "JIENENG_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(code_root),
    }


def undelivered(metrics_port: int) -> float:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).read().decode()
    except OSError:
        return float("nan")
    for line in text.splitlines():
        if line.startswith("jieneng_ingest_undelivered_messages "):
            return float(line.split()[1])
    return float("nan")


def run_memory(tmp: Path, admin_url: str, qos: int, n: int, cuts: int) -> dict:
    from jieneng.embedded import free_port

    db = make_db(admin_url)
    broker, url = start_broker(tmp)
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 1883
    proxy = CuttableProxy(host, int(port))
    prefix = f"m{uuid.uuid4().hex[:6]}/v1"
    mport = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jieneng.cli", "ingest"],
        cwd=ROOT,
        env=ingest_env(db, proxy.url, prefix, mport, ROOT),
        stderr=open(tmp / "ingest.log", "ab"),
    )
    samples: list[float] = []
    held: list[float] = []
    stop_sampling = threading.Event()

    def sample():
        while not stop_sampling.is_set():
            samples.append(rss_mb(proc.pid))
            held.append(undelivered(mport))
            time.sleep(0.2)

    try:
        time.sleep(3.0)  # connected and subscribed
        idle_mb = rss_mb(proc.pid)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        msgs = messages(n, 1, prefix)
        lock = psycopg.connect(db)
        lock.execute("LOCK TABLE reading IN ACCESS EXCLUSIVE MODE")
        done = mp.Event()
        pub = mp.Process(target=publisher, args=(url, msgs, qos, done))
        pub.start()
        for _ in range(cuts):
            time.sleep(3.0)
            proxy.cut()
        done.wait(600)
        time.sleep(3.0)  # the stall goes on after the last message
        stalled_peak = max(s for s in samples if s == s)
        lock.rollback()
        lock.close()
        with psycopg.connect(db, autocommit=True) as c:
            last, still = -1, 0
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                got = c.execute("SELECT count(*) FROM reading").fetchone()[0]
                if (qos == 1 and got >= n) or (qos == 0 and still >= 30):
                    break
                still = still + 1 if got == last else 0
                last = got
                time.sleep(0.1)
            stored = c.execute("SELECT count(*) FROM reading").fetchone()[0]
            dups = c.execute("SELECT coalesce(sum(duplicates), 0) FROM ingest_batch").fetchone()[0]
        pub.join(60)
        stop_sampling.set()
        sampler.join(5)
        hwm = vm_hwm_mb(proc.pid)
        return {
            "qos": qos,
            "published": n,
            "stored": stored,
            "duplicates": dups,
            "cuts": proxy.cuts,
            "idle_mb": idle_mb,
            "stalled_peak_mb": stalled_peak,
            "peak_mb": max(s for s in samples if s == s),
            "ingest_vmhwm_mb": hwm,
            "held_max": max((h for h in held if h == h), default=float("nan")),
        }
    finally:
        stop_sampling.set()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        proxy.close()
        broker.terminate()
        drop_db(admin_url, db)


def run_rate(tmp: Path, admin_url: str, n: int, per_msg: int, n_pub: int, code_root: Path) -> float:
    """Publish-to-last-commit readings/s of `jieneng ingest` from ``code_root`` (bench/ingest.py's measure)."""
    from jieneng.embedded import free_port

    db = make_db(admin_url)
    broker, url = start_broker(tmp)
    prefix = f"r{uuid.uuid4().hex[:6]}/v1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jieneng.cli", "ingest"],
        cwd=code_root,
        env=ingest_env(db, url, prefix, free_port(), code_root),
        stderr=open(tmp / "ingest.log", "ab"),
    )
    try:
        msgs = messages(n, per_msg, prefix)
        time.sleep(2.0)
        with psycopg.connect(db, autocommit=True) as c:
            t0, _ = publish_all(url, msgs, n_pub)
            while c.execute("SELECT coalesce(sum(inserted), 0) FROM ingest_batch").fetchone()[0] < n:
                time.sleep(0.05)
            t_commit = c.execute("SELECT extract(epoch FROM max(committed_at)) FROM ingest_batch").fetchone()[
                0
            ]
        return n / (float(t_commit) - t0)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        broker.terminate()
        drop_db(admin_url, db)


def export_tree(commit: str, tmp: Path) -> Path:
    out = tmp / f"base-{commit[:10]}"
    out.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--pg",
        default=os.environ.get("JIENENG_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    ap.add_argument("--n-memory", type=int, default=100_000, help="messages published during the stall")
    ap.add_argument("--cuts", type=int, default=3)
    ap.add_argument(
        "--base", default=None, help="commit whose ingest rates are the baseline (omit: no comparison)"
    )
    ap.add_argument("--n-single", type=int, default=30_000)
    ap.add_argument("--n-batch", type=int, default=200_000)
    ap.add_argument("--publishers", type=int, default=2)
    ap.add_argument(
        "--repeat", type=int, default=2, help="rate runs per tree; the best is kept (shared machine)"
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jieneng-bench-mem-"))
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        flush=True,
    )

    mem = []
    for qos in (0, 1):
        r = run_memory(tmp, args.pg, qos, args.n_memory, args.cuts)
        mem.append(r)
        print(
            "  memory: " + json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}),
            flush=True,
        )

    rates: dict[str, dict[str, float]] = {}
    trees = {"this": ROOT}
    if args.base:
        trees["base"] = export_tree(args.base, tmp)
    for rnd in range(args.repeat):
        for name, root in trees.items():
            for key, n, per in (("a", args.n_single, 1), ("b", args.n_batch, 100)):
                v = run_rate(tmp, args.pg, n, per, args.publishers, root)
                rates.setdefault(name, {})[key] = max(rates.get(name, {}).get(key, 0.0), v)
                print(f"  round {rnd + 1} {name} ({key}): {v:,.0f} readings/s", flush=True)

    print()
    print("| measure | QoS 0 | QoS 1 | bound |")
    print("|---|---:|---:|---|")
    q0, q1 = mem
    print(f"| ingest RSS idle, before the stall | {q0['idle_mb']:.0f} MB | {q1['idle_mb']:.0f} MB | |")
    print(
        f"| ingest RSS peak during the stall and {args.cuts} cuts | {q0['stalled_peak_mb']:.0f} MB | "
        f"{q1['stalled_peak_mb']:.0f} MB | < {RSS_BOUND_MB:.0f} MB: "
        f"{'met' if max(q0['peak_mb'], q1['peak_mb']) < RSS_BOUND_MB else 'NOT met'} |"
    )
    print(
        f"| ingest RSS peak, whole run (drain included) | {q0['peak_mb']:.0f} MB | {q1['peak_mb']:.0f} MB | |"
    )
    print(f"| undelivered messages, most seen | {q0['held_max']:.0f} | {q1['held_max']:.0f} | ≤ 20,000 |")
    print(
        f"| stored / published | {q0['stored']:,} / {q0['published']:,} | {q1['stored']:,} / {q1['published']:,} "
        f"| QoS 1: all |"
    )
    print(f"| duplicates written | {q0['duplicates']:,} | {q1['duplicates']:,} | |")
    if "base" in rates:
        print()
        print(f"| ingest rate | this tree | base {args.base[:10]} | ratio (≥ 0.9) |")
        print("|---|---:|---:|---|")
        for key, label in (("a", "(a) 1 reading/msg"), ("b", "(b) 100 readings/msg")):
            t, b = rates["this"][key], rates["base"][key]
            print(
                f"| {label} | {t:,.0f}/s | {b:,.0f}/s | {t / b:.2f} ({'met' if t / b >= 0.9 else 'NOT met'}) |"
            )


if __name__ == "__main__":
    main()
