"""The ingest loop and its lifecycle: receive, parse, validate, write, commit, then ack.

Batches close at ``batch_max_rows`` readings or ``batch_max_ms`` after their first message. A
failed transaction is retried with backoff on a fresh connection, holding the batch's messages
unacked (the broker stops sending once ``receive_maximum`` are in flight), so a database outage
costs time, never data. The rollup runs in a child process (ingest/rollup_worker.py)
every ``rollup_interval_ms``. ``stop()`` (SIGTERM) flushes the open batch, commits, acks and disconnects;
with the database away it leaves at once (backoff waits end on stop) and acks nothing uncommitted.

Retention (ingest/retention.py): with ``raw_retention`` set, readings older than
``now() - raw_retention`` are rejected (``older_than_retention``); ``stats_retention`` bounds the
``ingest_batch`` and ``rollup_run`` statistics. Both are PostgreSQL intervals, checked at start-up.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import psycopg

from ingest import metrics
from ingest.parser import ParseConfig, parse_message
from ingest.retention import RetentionSettingInvalid, check_interval, raw_horizon
from ingest.rollup_worker import rollup_loop
from ingest.transport import BrokerConfig, InMessage, Transport
from ingest.validate import RegistryCache, validate
from ingest.writer import BatchStats, StagedReading, StagedReject, write_batch

log = logging.getLogger(__name__)


class SchemaNotReady(RuntimeError):
    pass


@dataclass(frozen=True)
class IngestConfig:
    database_url: str
    broker: BrokerConfig
    timezone: str = "Asia/Shanghai"
    batch_max_rows: int = 5000
    batch_max_ms: int = 200
    max_payload_bytes: int = 1_048_576
    max_items: int = 10_000
    max_future_s: int = 900
    reject_payload_chars: int = 4096
    rollup_interval_ms: int = 500
    metrics_port: int | None = None
    run_rollup: bool = True
    raw_retention: str | None = None  # PostgreSQL interval; None: raw readings are kept forever
    stats_retention: str | None = "30 days"  # PostgreSQL interval; None: never prune statistics
    prune_interval_s: float = 3600.0
    stall_after_s: float = 300.0  # /health: 503 once messages waited this long with no commit


@dataclass
class _Batch:
    messages: list[InMessage] = field(default_factory=list)
    readings: list = field(default_factory=list)  # RawReading, with (topic, received_at) alongside
    meta: list = field(default_factory=list)
    rejects: list[StagedReject] = field(default_factory=list)
    started: float = 0.0


def _backoff(attempt: int) -> float:
    return min(30.0, 0.25 * (2 ** min(attempt, 8)))


class IngestService:
    def __init__(self, cfg: IngestConfig) -> None:
        self.cfg = cfg
        self.parse_cfg = ParseConfig(
            prefix=cfg.broker.topic_prefix,
            tz=ZoneInfo(cfg.timezone),
            max_payload_bytes=cfg.max_payload_bytes,
            max_items=cfg.max_items,
            max_future_s=cfg.max_future_s,
            reject_payload_chars=cfg.reject_payload_chars,
        )
        self.transport = Transport(cfg.broker)
        self.registry = RegistryCache()
        self._stop = threading.Event()
        self._flushed = threading.Event()  # set once the last batch is committed: the rollup's last pass
        self._conn: psycopg.Connection | None = None
        self._rollup_proc = None
        self.totals = BatchStats(0, 0, 0, 0, 0, 0, 0.0)
        self.db_retries = 0
        self._try_direct = True
        self._fatal: BaseException | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Run until stop(); raises SchemaNotReady when the database has not been migrated and
        RetentionSettingInvalid when a retention setting is not a positive PostgreSQL interval."""
        conn = self._connect_db()
        if conn.execute("SELECT to_regclass('usage_dirty')").fetchone()[0] is None:
            conn.close()
            raise SchemaNotReady("the database schema is not migrated (run `jieneng db migrate`)")
        try:
            check_interval(conn, "JIENENG_RAW_RETENTION", self.cfg.raw_retention)
            check_interval(conn, "JIENENG_STATS_RETENTION", self.cfg.stats_retention)
        except RetentionSettingInvalid:
            conn.close()
            raise
        metrics.serve(self.cfg.metrics_port, self.cfg.stall_after_s)
        if self.cfg.run_rollup:
            self._flushed = mp.get_context("spawn").Event()
            self._start_rollup()
        self.transport.start()
        log.info("ingest running", extra={"fields": {"subscription": self.cfg.broker.topic_prefix}})
        # Two stages: this thread collects and parses the next batch while the writer thread commits
        # the previous one, so Python and PostgreSQL work at the same time.
        handoff: queue.Queue[_Batch | None] = queue.Queue(maxsize=1)
        writer = threading.Thread(target=self._write_loop, args=(handoff,), name="writer", daemon=True)
        writer.start()
        try:
            while not self._stop.is_set():
                batch = self._collect()
                if batch.messages:
                    handoff.put(batch)
                if self._rollup_proc is not None and not self._rollup_proc.is_alive():
                    log.error("rollup process exited (code %s); restarting it", self._rollup_proc.exitcode)
                    self._start_rollup()
            # Flush what already arrived, then leave; the broker keeps everything else for our session.
            while True:
                batch = self._collect(drain_only=True)
                if not batch.messages:
                    break
                handoff.put(batch)
        finally:
            handoff.put(None)
            writer.join()
            self._flushed.set()
            self._stop.set()
            self.transport.stop()
            if self._rollup_proc is not None:
                self._rollup_proc.join(timeout=60)
                if self._rollup_proc.is_alive():
                    self._rollup_proc.terminate()
            if self._conn is not None:
                self._conn.close()
            log.info("ingest stopped")
        if self._fatal is not None:
            raise self._fatal

    def _start_rollup(self) -> None:
        ctx = mp.get_context("spawn")  # not fork: this process already runs threads
        self._rollup_proc = ctx.Process(
            target=rollup_loop, name="jieneng-rollup", daemon=True,
            args=(self.cfg.database_url, self.cfg.rollup_interval_ms, self._flushed, os.getpid(),
                  metrics.ROLLUP_SHARED_LAG, metrics.ROLLUP_SHARED_HOURS, metrics.ROLLUP_SHARED_ERRORS,
                  logging.getLogger().getEffectiveLevel(), self.cfg.raw_retention, self.cfg.stats_retention,
                  self.cfg.prune_interval_s),
        )
        self._rollup_proc.start()

    def _write_loop(self, handoff: queue.Queue) -> None:
        while (batch := handoff.get()) is not None:
            if self._fatal is not None:
                continue  # unacked: the broker redelivers these to the next process
            try:
                self._commit(batch)
            except Exception as exc:  # noqa: BLE001 - a bug must stop the process, not hang or ack
                log.exception("ingest writer failed; stopping without acking the open batch")
                self._fatal = exc
                self._stop.set()

    # --- database --------------------------------------------------------------------------
    def _connect_db(self) -> psycopg.Connection:
        attempt = 0
        while True:
            try:
                self._conn = psycopg.connect(self.cfg.database_url, autocommit=True)
                return self._conn
            except psycopg.OperationalError as exc:
                if self._stop.is_set():
                    raise  # stopping: leave rather than wait for the database
                delay = _backoff(attempt)
                log.warning("database unreachable (%s); retrying in %.1fs", str(exc).strip()[:200], delay)
                metrics.DB_ERRORS.inc()
                self._stop.wait(delay)  # a stop cuts the wait short; the next failure then raises
                attempt += 1

    # --- batches ---------------------------------------------------------------------------
    def _collect(self, drain_only: bool = False) -> _Batch:
        b = _Batch()
        rows = 0
        deadline = None
        while rows < self.cfg.batch_max_rows:
            if drain_only:
                timeout = 0.0
            elif deadline is None:
                timeout = 0.1  # wake up to check the stop flag
            else:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
            try:
                msg = self.transport.inbox.get(timeout=timeout) if timeout > 0 else self.transport.inbox.get_nowait()
            except queue.Empty:
                if deadline is None or drain_only:
                    break
                continue
            if deadline is None:
                deadline = time.monotonic() + self.cfg.batch_max_ms / 1000.0
                b.started = time.perf_counter()
            b.messages.append(msg)
            res = parse_message(msg.topic, msg.payload, self.parse_cfg, datetime.now(UTC))
            for r in res.readings:
                b.readings.append(r)
                b.meta.append((msg.topic, msg.received_at))
            b.rejects.extend(StagedReject(j, msg.topic, msg.received_at) for j in res.rejects)
            rows += len(res.readings) + len(res.rejects)
        metrics.PENDING_MESSAGES.set(len(b.messages) + self.transport.inbox.qsize())
        return b

    def _commit(self, b: _Batch) -> None:
        attempt = 0
        while True:
            try:
                conn = self._conn if self._conn is not None and not self._conn.closed else self._connect_db()
                self.registry.refresh(conn)
                horizon = raw_horizon(conn, self.cfg.raw_retention)
                staged: list[StagedReading] = []
                rejects = list(b.rejects)
                # Validate per message so that a bad reading's reject row carries its own topic.
                i = 0
                while i < len(b.readings):
                    topic, received_at = b.meta[i]
                    j = i
                    while j < len(b.readings) and b.meta[j] == (topic, received_at):
                        j += 1
                    good, bad = validate(b.readings[i:j], self.registry.meters, self.cfg.reject_payload_chars,
                                         horizon)
                    staged.extend(StagedReading(g, topic, received_at) for g in good)
                    rejects.extend(StagedReject(x, topic, received_at) for x in bad)
                    i = j
                stats = write_batch(conn, staged, rejects, len(b.messages), try_direct=self._try_direct)
                self._try_direct = stats.direct or stats.duplicates + stats.conflicts == 0
                break
            except psycopg.Error as exc:
                metrics.DB_ERRORS.inc()
                self.db_retries += 1
                delay = _backoff(attempt)
                log.warning("batch of %d messages not committed (%s); retrying in %.1fs",
                            len(b.messages), str(exc).strip()[:200], delay)
                if self._conn is not None and (self._conn.closed or self._conn.broken):
                    self._conn = None
                elif self._conn is not None and isinstance(exc, psycopg.OperationalError):
                    self._conn.close()
                    self._conn = None
                self.registry.version = None  # a meter may have changed under us
                if self._stop.is_set():
                    # Stopping with the database away: leave the batch unacked, the broker redelivers it.
                    log.warning("stopping with %d uncommitted messages; they stay with the broker", len(b.messages))
                    return
                self._stop.wait(delay)  # a stop cuts the wait short; the retry then decides
                attempt += 1
        self.transport.ack(b.messages)
        self._count(stats, staged, rejects)

    def _count(self, stats: BatchStats, staged, rejects) -> None:
        t = self.totals
        t.messages += stats.messages
        t.readings += stats.readings
        t.inserted += stats.inserted
        t.duplicates += stats.duplicates
        t.conflicts += stats.conflicts
        t.rejects += stats.rejects
        metrics.MESSAGES.inc(stats.messages)
        metrics.READINGS.labels("inserted").inc(stats.inserted)
        metrics.READINGS.labels("duplicate").inc(stats.duplicates)
        metrics.READINGS.labels("conflict").inc(stats.conflicts)
        for r in rejects:
            metrics.REJECTS.labels(r.reject.reason).inc()
        metrics.BATCH_ROWS.observe(stats.readings)
        metrics.COMMIT_SECONDS.observe(stats.commit_ms / 1000.0)
        log.debug("batch committed", extra={"fields": vars(stats)})
