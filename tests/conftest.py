"""Shared fixtures: real PostgreSQL and a real MQTT broker (docs/design.md §10).

URLs come from JIENENG_TEST_DATABASE_URL / JIENENG_TEST_MQTT_URL; unset, the embedded defaults
(pgserver; Mosquitto if on PATH, else amqtt). Every test that needs a database gets a fresh one,
cloned from a migrated template, and drops it afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from store.db import with_dbname

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TIMEZONE = "Asia/Shanghai"


def _with_dbname(url: str, dbname: str) -> str:
    """The same server URL with another database name (a URL, so it can go in JIENENG_DATABASE_URL)."""
    return with_dbname(url, dbname)


@pytest.fixture(scope="session")
def pg_admin_url():
    url = os.environ.get("JIENENG_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from jieneng.embedded import embedded_database_url, stop_embedded_database

    # A folder of the session's own rather than pytest's numbered temp folders, which other pytest runs on
    # the same machine prune; the server is stopped and its folder removed when the session ends.
    data_dir = Path(tempfile.mkdtemp(prefix="jieneng-test-pg-"))
    # SIGTERM (a CI job's timeout) would end Python without teardown or atexit, leaving the server
    # running; as an interrupt, pytest still runs the finally below.
    previous = _sigterm_interrupts()
    try:
        yield embedded_database_url(data_dir, dbname="postgres", stop_on_exit=True)
    finally:
        stop_embedded_database(data_dir)
        _remove_when_stopped(data_dir)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _remove_when_stopped(data_dir: Path, timeout_s: float = 60) -> None:
    """Remove the server's folder once its postmaster has gone (it writes there while shutting down).

    A server still up after ``timeout_s`` keeps its folder, so it is not left running on deleted files.
    """
    pid_file = data_dir / "pg" / "postmaster.pid"
    deadline = time.monotonic() + timeout_s
    while pid_file.exists():
        if time.monotonic() > deadline:
            warnings.warn(
                f"the embedded PostgreSQL under {data_dir} did not stop; its folder is kept", stacklevel=1
            )
            return
        time.sleep(0.1)
    shutil.rmtree(data_dir, ignore_errors=True)


def _sigterm_interrupts():
    """Make SIGTERM raise KeyboardInterrupt (if nothing else handles it); return the handler it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None

    session_pid = os.getpid()

    def interrupt(signum, frame):
        if os.getpid() != session_pid:  # a forked child (multiprocessing) dies of SIGTERM as it would have
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, interrupt)


def create_database(admin_url: str, template: str | None = None) -> str:
    name = f"jieneng_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if template:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def empty_db_url(pg_admin_url):
    """A new, empty database (no migrations)."""
    name = create_database(pg_admin_url)
    yield _with_dbname(pg_admin_url, name)
    drop_database(pg_admin_url, name)


@pytest.fixture(scope="session")
def migrated_template(pg_admin_url):
    from store.migrate import migrate

    name = create_database(pg_admin_url)
    migrate(_with_dbname(pg_admin_url, name), timezone=TIMEZONE, timescaledb="off")
    yield name
    drop_database(pg_admin_url, name)


@pytest.fixture
def db_url(pg_admin_url, migrated_template):
    """A fresh, migrated, empty database (regions seeded, no registry)."""
    name = create_database(pg_admin_url, template=migrated_template)
    yield _with_dbname(pg_admin_url, name)
    drop_database(pg_admin_url, name)


@pytest.fixture(scope="session")
def mqtt_url():
    url = os.environ.get("JIENENG_TEST_MQTT_URL")
    if url:
        yield url
        return
    from jieneng.embedded import start_embedded_broker

    data_dir = Path(tempfile.mkdtemp(prefix="jieneng-test-broker-"))
    broker = start_embedded_broker(data_dir)
    try:
        yield broker.url
    finally:
        broker.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def topic_prefix() -> str:
    """A topic root of this test's own, so tests sharing one broker never see each other's messages."""
    return f"jieneng-test-{uuid.uuid4().hex[:10]}/v1"
