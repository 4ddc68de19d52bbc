"""A database that hangs rather than fails: ingest keeps its messages unacked, SIGTERM still ends
`jieneng ingest` in bounded time, and a later run stores every message exactly once.

Two ways a database hangs: a lock held by another session (the shared server, in this test's own
database), and a server whose processes are stopped (a private server, SIGSTOP), which cannot
enforce its own timeouts while its kernel still acknowledges our packets.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from jieneng.embedded import free_port, start_embedded_broker

from .conftest import ROOT_DIR, Publisher, add_registry, settle, wait_for

T0 = datetime(2026, 3, 1, tzinfo=UTC)
# Liveness, not speed: the grace (2 s) plus one bounded call (3 s) plus start-up of the shutdown.
EXIT_BOUND_S = 45

pytestmark = pytest.mark.skipif(
    shutil.which("mosquitto") is None, reason="needs Mosquitto (amqtt keeps no offline session)"
)


def _metric(port: int, name: str) -> float | None:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def _poll(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class _Ingest:
    """`jieneng ingest` as a child process with short database bounds."""

    def __init__(self, db_url: str, broker_url: str, log_path: Path) -> None:
        self.prefix = f"hang-{uuid.uuid4().hex[:6]}/v1"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "JIENENG_DATABASE_URL": db_url,
            "JIENENG_MQTT_URL": broker_url,
            "JIENENG_MQTT_TOPIC_PREFIX": self.prefix,
            "JIENENG_MQTT_CLIENT_ID": f"hang-{uuid.uuid4().hex[:8]}",
            "JIENENG_INGEST_BATCH_MAX_MS": "50",
            "JIENENG_ROLLUP_INTERVAL_MS": "100",
            "JIENENG_INGEST_DB_TIMEOUT_S": "3",
            "JIENENG_INGEST_STOP_GRACE_S": "2",
            "JIENENG_LOG_LEVEL": "WARNING",
        }
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jieneng.cli", "ingest"],
            env={**self.env, "JIENENG_METRICS_PORT": str(self.port)},
            cwd=ROOT_DIR,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log_path, "ab"),
        )

        def connected() -> bool:
            assert self.proc.poll() is None, "ingest exited"
            return _metric(self.port, "jieneng_ingest_broker_connected") == 1.0

        _poll(connected, 60, "ingest to connect to the broker")
        time.sleep(0.5)  # subscription acknowledged

    def sigterm_and_wait(self) -> int:
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(EXIT_BOUND_S)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"ingest did not exit within {EXIT_BOUND_S}s of SIGTERM with the database hung "
                f"(waited {time.monotonic() - t0:.0f}s)"
            )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def send(self, pub: Publisher, lo: int, hi: int) -> None:
        for i in range(lo, hi):
            pub.send(f"{self.prefix}/INST1/E1", {"ts": (T0 + timedelta(minutes=i)).isoformat(), "value": i})
        pub.flush()


def _stored_once(url: str, n_total: int) -> None:
    settle(url)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(DISTINCT ts), min(value), max(value) FROM reading").fetchone() == (
            n_total,
            0.0,
            float(n_total - 1),
        )
        assert conn.execute("SELECT sum(inserted) FROM ingest_batch").fetchone()[0] == n_total
        assert conn.execute("SELECT sum(consumption) FROM usage_hourly").fetchone()[0] == pytest.approx(
            n_total - 1
        )


def test_sigterm_while_a_lock_is_held_exits_and_acks_nothing(reg_db, tmp_path):
    broker = start_embedded_broker(tmp_path / "broker")
    ing = _Ingest(reg_db, broker.url, tmp_path / "ingest.log")
    pub = Publisher(broker.url)
    locker = psycopg.connect(reg_db)
    n_before, n_total = 50, 150
    try:
        ing.start()
        ing.send(pub, 0, n_before)
        assert wait_for(reg_db, "SELECT count(*) FROM reading", n_before) == n_before

        locker.execute("LOCK TABLE reading IN ACCESS EXCLUSIVE MODE")  # held until rollback
        ing.send(pub, n_before, n_total)
        # Ingest is blocked on the lock, or already bounced off it (lock_timeout) and retrying.
        _poll(
            lambda: (
                (_metric(ing.port, "jieneng_ingest_db_errors_total") or 0) > 0
                or wait_for(
                    reg_db,
                    "SELECT count(*) > 0 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                    " WHERE c.relname = 'reading' AND NOT l.granted",
                    True,
                    timeout=0.5,
                )
            ),
            60,
            "ingest to wait on the lock",
        )
        assert ing.sigterm_and_wait() == 0
        log = ing.log_path.read_text(errors="replace")
        assert "stay with the broker" in log or "cutting its connection" in log
        locker.rollback()
        assert wait_for(reg_db, "SELECT count(*) FROM reading", n_before, timeout=5) == n_before

        ing.start()  # same client id: the broker's session holds the unacked messages
        assert wait_for(reg_db, "SELECT count(*) FROM reading", n_total, timeout=120) == n_total
        assert ing.sigterm_and_wait() == 0
    finally:
        locker.close()
        ing.kill()
        pub.close()
        broker.stop()
    _stored_once(reg_db, n_total)


def _cluster_pids(data_dir: Path) -> list[int]:
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            pids.append(int(stat.parent.name))
    return pids


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def test_sigterm_while_the_server_is_frozen_exits_and_acks_nothing(private_pg, tmp_path):
    from store.migrate import migrate

    url, ctl = private_pg
    data_dir = Path(ctl[ctl.index("-D") + 1])
    migrate(url, timezone="Asia/Shanghai", timescaledb="off")
    with psycopg.connect(url) as conn:
        add_registry(conn)
    broker = start_embedded_broker(tmp_path / "broker")
    ing = _Ingest(url, broker.url, tmp_path / "ingest.log")
    pub = Publisher(broker.url)
    frozen: list[int] = []
    n_before, n_total = 50, 150
    try:
        ing.start()
        ing.send(pub, 0, n_before)
        assert wait_for(url, "SELECT count(*) FROM reading", n_before) == n_before

        frozen = _cluster_pids(data_dir)
        _signal_all(frozen, signal.SIGSTOP)
        ing.send(pub, n_before, n_total)  # delivered to ingest, which cannot commit them
        # Each attempt is cut after its bound (3 s) and counted; wait for two.
        _poll(
            lambda: (_metric(ing.port, "jieneng_ingest_db_errors_total") or 0) >= 2,
            90,
            "ingest to give up on the frozen server and retry (a database call without a bound never returns)",
        )
        assert ing.sigterm_and_wait() == 0
        _signal_all(frozen, signal.SIGCONT)
        frozen = []
        assert wait_for(url, "SELECT count(*) FROM reading", n_before, timeout=5) == n_before

        ing.start()
        assert wait_for(url, "SELECT count(*) FROM reading", n_total, timeout=120) == n_total
        assert ing.sigterm_and_wait() == 0
    finally:
        _signal_all(frozen, signal.SIGCONT)
        ing.kill()
        pub.close()
        broker.stop()
    _stored_once(url, n_total)
