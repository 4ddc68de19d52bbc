"""The rollup loop, run in a child process of `jieneng ingest`.

A process of its own so that its Python work (loading readings, the counter maths) does not take
the GIL from the MQTT client and the writer. It keeps no state the database does not have, so a
killed worker loses nothing: the queue (``usage_dirty``) is in the database, and a pass killed
mid-transaction is rolled back with its connection, queue included. The parent restarts a worker that
exited (ingest/service.py; tests/ingest/test_rollup_restart.py). It exits when the parent says the
last batch is flushed, or when the parent has died (SIGKILL gives no notice). Its memory is bounded
by the rollup's ``chunk_rows`` (ingest/rollup.py), not by the size of a backlog.

It also prunes old ingest and rollup statistics (ingest/retention.py): at start-up and then every
``prune_interval_s``.
"""

from __future__ import annotations

import logging
import os
import signal
import time

import psycopg

from ingest.retention import prune_stats
from ingest.rollup import run_rollup
from store.deployment import deployment_timezone

log = logging.getLogger(__name__)

MAX_RANGES = 20_000


def _backoff(attempt: int) -> float:
    return min(30.0, 0.25 * (2 ** min(attempt, 8)))


def rollup_loop(
    database_url: str,
    interval_ms: int,
    flushed,
    parent_pid: int,
    lag,
    hours,
    errors,
    log_level: int = logging.INFO,
    raw_retention: str | None = None,
    stats_retention: str | None = None,
    prune_interval_s: float = 3600.0,
) -> None:
    """Roll up every ``interval_ms`` until ``flushed`` is set (then one last pass) or the parent dies.

    ``lag``, ``hours`` and ``errors`` are shared values the parent exports as metrics.
    ``raw_retention``: see run_rollup. ``stats_retention``: prune statistics older than this (None: never).
    """
    # Ctrl-C reaches the whole process group: the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    conn = None
    tz = None
    attempt = 0
    interval = interval_ms / 1000.0
    next_prune = time.monotonic()  # at start-up, then every prune_interval_s
    while True:
        stopping = flushed.is_set()
        if os.getppid() != parent_pid:
            break
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(database_url, autocommit=True)
                tz = tz or deployment_timezone(conn)
            if stats_retention is not None and time.monotonic() >= next_prune and not stopping:
                deleted = prune_stats(conn, stats_retention)
                next_prune = time.monotonic() + prune_interval_s
                if any(deleted.values()):
                    log.info("pruned statistics older than %s: %s", stats_retention, deleted)
            # Waiting between runs under load lets one run cover many batches' ranges for a meter.
            stats = run_rollup(conn, tz, max_ranges=MAX_RANGES, raw_retention=raw_retention)
            attempt = 0
            if stats is not None and stats.queued:
                lag.value = stats.lag_s
                with hours.get_lock():
                    hours.value += stats.meter_hours
                if stats.queued >= MAX_RANGES:
                    continue  # a backlog: go again without sleeping
        except psycopg.Error as exc:
            with errors.get_lock():
                errors.value += 1
            log.warning("rollup failed (%s); retrying", str(exc).strip()[:200])
            if conn is not None:
                conn.close()
            conn = None
            if stopping:
                break
            flushed.wait(_backoff(attempt))  # a stop cuts the wait short
            attempt += 1
            continue
        if stopping:
            break
        flushed.wait(interval)
    if conn is not None:
        conn.close()
