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
from dataclasses import dataclass
from typing import Any

import psycopg

from ingest.dbguard import retry_delay_s
from ingest.retention import prune_stats
from ingest.rollup import run_rollup
from store.deployment import deployment_timezone

log = logging.getLogger(__name__)

MAX_RANGES = 20_000


@dataclass(frozen=True)
class RollupChildConfig:
    """What the rollup child needs from its parent (pickled into the spawned process)."""

    database_url: str
    interval_ms: int
    parent_pid: int  # the child leaves when its parent is gone (SIGKILL gives no notice)
    log_level: int = logging.INFO
    raw_retention: str | None = None  # see run_rollup
    stats_retention: str | None = None  # prune statistics older than this (None: never)
    prune_interval_s: float = 3600.0


@dataclass(frozen=True)
class RollupShared:
    """Values shared with the parent, which exports them as metrics (multiprocessing.Value each)."""

    lag: Any
    hours: Any
    errors: Any


def rollup_loop(cfg: RollupChildConfig, flushed, shared: RollupShared) -> None:
    """Roll up every ``cfg.interval_ms`` until ``flushed`` is set (then one last pass) or the parent dies."""
    # Ctrl-C reaches the whole process group: the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    conn = None
    tz = None
    attempt = 0
    interval = cfg.interval_ms / 1000.0
    next_prune = time.monotonic()  # at start-up, then every prune_interval_s
    while True:
        stopping = flushed.is_set()
        if os.getppid() != cfg.parent_pid:
            break
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(cfg.database_url, autocommit=True)
                tz = tz or deployment_timezone(conn)
            if cfg.stats_retention is not None and time.monotonic() >= next_prune and not stopping:
                deleted = prune_stats(conn, cfg.stats_retention)
                next_prune = time.monotonic() + cfg.prune_interval_s
                if any(deleted.values()):
                    log.info("pruned statistics older than %s: %s", cfg.stats_retention, deleted)
            # Waiting between runs under load lets one run cover many batches' ranges for a meter.
            stats = run_rollup(conn, tz, max_ranges=MAX_RANGES, raw_retention=cfg.raw_retention)
            attempt = 0
            if stats is not None and stats.queued:
                shared.lag.value = stats.lag_s
                with shared.hours.get_lock():
                    shared.hours.value += stats.meter_hours
                if stats.queued >= MAX_RANGES:
                    continue  # a backlog: go again without sleeping
        except psycopg.Error as exc:
            with shared.errors.get_lock():
                shared.errors.value += 1
            log.warning("rollup failed (%s); retrying", str(exc).strip()[:200])
            if conn is not None:
                conn.close()
            conn = None
            if stopping:
                break
            flushed.wait(retry_delay_s(attempt))  # a stop cuts the wait short
            attempt += 1
            continue
        if stopping:
            break
        flushed.wait(interval)
    if conn is not None:
        conn.close()
