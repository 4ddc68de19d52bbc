"""The ingest loop and its lifecycle: receive, parse, validate, write, commit, then ack.

Batches close at ``batch_max_rows`` readings or ``batch_max_ms`` after their first message. A
failed transaction is retried with backoff on a fresh connection, holding the batch's messages
unacked (the broker stops sending once ``receive_maximum`` are in flight), so a database outage
costs time, never data. The rollup runs in a child process (ingest/rollup_worker.py)
every ``rollup_interval_ms``. ``stop()`` (SIGTERM) flushes the open batch, commits, acks and disconnects;
with the database away it leaves at once (backoff waits end on stop) and acks nothing uncommitted;
with the database hung it leaves after ``stop_grace_s``, cutting the call in flight (ingest/dbguard.py).

Poison isolation: a failed transaction is retried only when the database is at fault (connection,
serialization, deadlock, shutdown, resources, timeouts). When a message's content is at fault
(ingest/dbguard.py: is_content_error), the batch is split in halves, and halves again, until each
offending message stands alone; it is then recorded in ``ingest_reject`` (reason ``storage_error``,
the SQLSTATE in ``detail``, its exact payload in ``payload_raw``) and acked with the rest, which
commit normally. k poison messages in a batch of n cost about 2·k·log2(n) extra transactions.

Retention (ingest/retention.py): with ``raw_retention`` set, readings older than
``now() - raw_retention`` are rejected (``older_than_retention``); ``stats_retention`` bounds the
``ingest_batch`` and ``rollup_run`` statistics. Both are PostgreSQL intervals, checked at start-up.
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import psycopg

from ingest import metrics
from ingest.dbguard import CallWatchdog, is_content_error, retry_delay_s
from ingest.dbguard import connect as connect_bounded
from ingest.idlock import ClientIdInUse, ClientIdLock
from ingest.parser import ParseConfig, ParseResult, Reject, parse_message, payload_fields, storable_text
from ingest.retention import RetentionSettingInvalid, check_interval, raw_horizon
from ingest.rollup_worker import RollupChildConfig, RollupShared, rollup_loop
from ingest.transport import BrokerConfig, InMessage, Transport
from ingest.validate import RegistryCache, validate
from ingest.writer import (
    BatchStats,
    CommitUnknown,
    RegistryChanged,
    StagedMessage,
    commit_outcome,
    message_key,
    prune_message_keys,
    write_messages,
)

log = logging.getLogger(__name__)


class SchemaNotReady(RuntimeError):
    pass


# How often the running loop checks that it still holds its client id's lock (ingest/idlock.py).
ID_LOCK_CHECK_S = 5.0


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
    db_timeout_s: float = 30.0  # bound on one batch's transaction (ingest/dbguard.py)
    stop_grace_s: float = 10.0  # how long stop() lets a commit in flight finish
    stall_after_s: float = 300.0  # /health: 503 once messages waited this long with no commit


@dataclass
class _Item:
    """One message with its identity and what the parser made of it, kept together to the commit."""

    msg: InMessage
    key: bytes
    parsed: ParseResult


@dataclass
class _Batch:
    items: list[_Item] = field(default_factory=list)
    started: float = 0.0

    @property
    def messages(self) -> list[InMessage]:
        return [i.msg for i in self.items]


class _Stopped(Exception):
    """Stopping with the database away: the messages in hand stay unacked, with the broker."""


class IngestService:
    """``transport``: builds the transport from the broker settings (default :class:`Transport`, the MQTT
    client); a test passes its own to feed messages without a broker, as Telegraf's mqtt_consumer
    takes a client factory."""

    def __init__(self, cfg: IngestConfig, transport: Callable[[BrokerConfig], Transport] = Transport) -> None:
        self.cfg = cfg
        self.parse_cfg = ParseConfig(
            prefix=cfg.broker.topic_prefix,
            tz=ZoneInfo(cfg.timezone),
            max_payload_bytes=cfg.max_payload_bytes,
            max_items=cfg.max_items,
            max_future_s=cfg.max_future_s,
            reject_payload_chars=cfg.reject_payload_chars,
        )
        self.transport = transport(cfg.broker)
        self.registry = RegistryCache()
        self._stop = threading.Event()
        self._flushed = threading.Event()  # set once the last batch is committed: the rollup's last pass
        self._conn: psycopg.Connection | None = None
        self._watchdog = CallWatchdog()
        self._stop_deadline: float | None = None  # set by stop(): when waiting for the writer ends
        self._abandon = threading.Event()  # past the stop deadline: the writer starts nothing new
        self._next_key_prune = 0.0
        self._rollup_proc = None
        self.totals = BatchStats(0, 0, 0, 0, 0, 0, 0.0)
        self.db_retries = 0
        self._try_direct = True
        self._copy_keys = True  # off while redelivered messages arrive (write_messages)
        self._rows_per_message = 1.0  # of the last batch: how many messages the collector takes at once
        self._fatal: BaseException | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def stop(self) -> None:
        if self._stop_deadline is None:
            self._stop_deadline = time.monotonic() + self.cfg.stop_grace_s
        self._stop.set()

    def _past_stop_deadline(self) -> bool:
        return self._stop_deadline is not None and time.monotonic() >= self._stop_deadline

    def _hand_over(self, handoff: queue.Queue, batch: _Batch) -> bool:
        """Give ``batch`` to the writer; False when stopping and the writer did not take it in time."""
        while True:
            try:
                handoff.put(batch, timeout=0.1)
                return True
            except queue.Full:
                if self._past_stop_deadline():
                    return False

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
        # Before the broker: a second process under our client id would take our session (idlock.py).
        self._id_lock = ClientIdLock(self.cfg.database_url, self.cfg.broker.client_id, self.cfg.db_timeout_s)
        try:
            # Waits up to twice the database bound for a killed predecessor's lock to go (idlock.py).
            self._id_lock.acquire(wait_s=2 * self.cfg.db_timeout_s, stop=self._stop)
        except BaseException:
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
        handoff: queue.Queue[_Batch] = queue.Queue(maxsize=1)
        self._writer_done = threading.Event()  # no batch comes after those in the queue
        writer = threading.Thread(target=self._write_loop, args=(handoff,), name="writer", daemon=True)
        writer.start()
        self._id_lock.watch(self._id_lost, ID_LOCK_CHECK_S)
        try:
            while not self._stop.is_set():
                batch = self._collect()
                if batch.items:
                    self._hand_over(handoff, batch)
                if self._rollup_proc is not None and not self._rollup_proc.is_alive():
                    log.error("rollup process exited (code %s); restarting it", self._rollup_proc.exitcode)
                    self._start_rollup()
            # Flush what had arrived when collecting stopped, then leave; the broker keeps everything else
            # for our session. Only that much: gateways keep publishing and every commit's acks let the
            # broker send more, so draining until the inbox is empty ran on (a backlog: until the grace
            # ran out, then cut a healthy commit's connection).
            left = self.transport.inbox.qsize()
            while left > 0 and not self._past_stop_deadline():
                batch = self._collect(drain_only=True, max_messages=left)
                if not batch.items or not self._hand_over(handoff, batch):
                    break
                left -= len(batch.items)
        finally:
            self.stop()  # also on an error: bounds the waits below
            self._writer_done.set()
            writer.join(max(0.0, self._stop_deadline - time.monotonic()))
            if writer.is_alive():
                # A database call that will not return (a hung server): cut it, start nothing new.
                # Nothing uncommitted was acked; the broker redelivers it to the next process.
                self._abandon.set()
                log.warning(
                    "a commit was still in flight %.0fs after stop; cutting its connection",
                    self.cfg.stop_grace_s,
                )
                self._watchdog.cut_now()
                writer.join(5)
            self._flushed.set()
            self.transport.stop()
            if self._rollup_proc is not None:
                self._rollup_proc.join(timeout=max(self.cfg.stop_grace_s, 1.0))
                if self._rollup_proc.is_alive():
                    # It ignores SIGTERM (its parent decides when it stops) and may sit in a hung
                    # database call; its work is transactional, redone at the next start.
                    self._rollup_proc.kill()
                    self._rollup_proc.join(5)
            if self._conn is not None and not writer.is_alive():
                self._conn.close()  # not while the writer may be inside it
            self._id_lock.release()
            log.info("ingest stopped")
        if self._fatal is not None:
            raise self._fatal

    def _id_lost(self, exc: ClientIdInUse) -> None:
        log.error("%s; stopping", exc)
        if self._fatal is None:
            self._fatal = exc
        self.stop()

    def _start_rollup(self) -> None:
        ctx = mp.get_context("spawn")  # not fork: this process already runs threads
        self._rollup_proc = ctx.Process(
            target=rollup_loop,
            name="jieneng-rollup",
            daemon=True,
            args=(
                RollupChildConfig(
                    database_url=self.cfg.database_url,
                    interval_ms=self.cfg.rollup_interval_ms,
                    parent_pid=os.getpid(),
                    log_level=logging.getLogger().getEffectiveLevel(),
                    raw_retention=self.cfg.raw_retention,
                    stats_retention=self.cfg.stats_retention,
                    prune_interval_s=self.cfg.prune_interval_s,
                ),
                self._flushed,
                RollupShared(
                    metrics.ROLLUP_SHARED_LAG, metrics.ROLLUP_SHARED_HOURS, metrics.ROLLUP_SHARED_ERRORS
                ),
            ),
        )
        self._rollup_proc.start()

    def _write_loop(self, handoff: queue.Queue) -> None:
        while True:
            try:
                batch = handoff.get(timeout=0.1)
            except queue.Empty:
                if self._writer_done.is_set():
                    return
                continue
            if self._fatal is not None or self._abandon.is_set():
                continue  # unacked: the broker redelivers these to the next process
            try:
                self._commit(batch)
            except Exception as exc:  # noqa: BLE001 - a bug must stop the process, not hang or ack
                log.exception("ingest writer failed; stopping without acking the open batch")
                self._fatal = exc
                self.stop()

    # --- database --------------------------------------------------------------------------
    def _connect_db(self) -> psycopg.Connection:
        attempt = 0
        while True:
            try:
                self._conn = connect_bounded(self.cfg.database_url, self.cfg.db_timeout_s)
                return self._conn
            except psycopg.OperationalError as exc:
                if self._stop.is_set():
                    raise  # stopping: leave rather than wait for the database
                delay = retry_delay_s(attempt)
                log.warning("database unreachable (%s); retrying in %.1fs", str(exc).strip()[:200], delay)
                metrics.DB_ERRORS.inc()
                self._stop.wait(delay)  # a stop cuts the wait short; the next failure then raises
                attempt += 1

    def _db(self) -> psycopg.Connection:
        """The writer's connection: the one held, or a new one when it is gone."""
        return self._conn if self._conn is not None and not self._conn.closed else self._connect_db()

    # --- batches ---------------------------------------------------------------------------
    def _collect(self, drain_only: bool = False, max_messages: int | None = None) -> _Batch:
        b = _Batch()
        rows = 0
        deadline = None
        max_rows = self.cfg.batch_max_rows
        inbox = self.transport.inbox
        cfg = self.parse_cfg
        while rows < max_rows:
            if drain_only:
                timeout = 0.0
            elif deadline is None:
                timeout = 0.1  # wake up to check the stop flag
            else:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
            # As many messages as the rows left need at the rows per message seen lately (at least one
            # row each): a gateway's 100-reading messages must not be taken by the budget's thousands
            # only to go back under the lock paho's network thread needs for each message it receives.
            per_msg = rows / len(b.items) if b.items else self._rows_per_message
            n = max(1, math.ceil((max_rows - rows) / max(1.0, per_msg)))
            if max_messages is not None:
                if len(b.items) >= max_messages:
                    break
                n = min(n, max_messages - len(b.items))
            msgs = inbox.take(n, timeout)
            if not msgs:
                if deadline is None or drain_only:
                    break
                continue
            if deadline is None:
                deadline = time.monotonic() + self.cfg.batch_max_ms / 1000.0
                b.started = time.perf_counter()
            now = datetime.now(UTC)
            for k, msg in enumerate(msgs):
                if rows >= max_rows:
                    inbox.put_back(msgs[k:])  # the batch is full: the rest opens the next one, in order
                    break
                res = parse_message(msg.topic, msg.payload, cfg, now)
                b.items.append(_Item(msg, message_key(msg.topic, msg.payload), res))
                rows += max(1, len(res.readings) + len(res.rejects))  # an empty message still costs a key
        if b.items:
            self._rows_per_message = rows / len(b.items)
        metrics.PENDING_MESSAGES.set(len(b.items) + inbox.qsize())
        return b

    def _commit(self, b: _Batch) -> None:
        """Commit the batch and ack it; on a content error, bisect to the poison (module docstring)."""
        parts = [b.items]  # a stack: the first half is committed (and acked) first
        while parts:
            items = parts.pop()
            try:
                failure = self._write(items)
                if failure is not None and len(items) > 1:
                    mid = len(items) // 2
                    log.warning(
                        "batch of %d messages refused for its content (%s); splitting it",
                        len(items),
                        _describe(failure),
                    )
                    parts += [items[mid:], items[:mid]]
                    continue
                if failure is not None:
                    self._write_poison(items[0], failure)
            except _Stopped:
                n = len(items) + sum(len(p) for p in parts)
                log.warning("stopping with %d uncommitted messages; they stay with the broker", n)
                return
            self.transport.ack([i.msg for i in items])

    def _write_poison(self, item: _Item, failure: BaseException) -> None:
        log.error(
            "message on %r refused by the database (%s); recorded in ingest_reject",
            storable_text(item.msg.topic)[:200],
            _describe(failure),
        )
        text, _ = payload_fields(item.msg.payload, self.cfg.reject_payload_chars)
        detail = f"the database refused this message's rows: {_describe(failure)}"
        full = Reject("storage_error", detail, text, payload_raw=bytes(item.msg.payload))
        if self._write([item], poison=full) is None:
            return
        # The reject itself refused: keep only what cannot fail, the key, the reason and the bytes.
        bare = Reject("storage_error", storable_text(detail)[:200], "", payload_raw=bytes(item.msg.payload))
        second = self._write([item], poison=bare, bare_topic=True)
        if second is not None:
            raise RuntimeError(f"a reject row could not be written: {_describe(second)}") from second

    def _stage(self, item: _Item, horizon, poison: Reject | None, bare_topic: bool) -> StagedMessage:
        m = item.msg
        topic = "" if bare_topic else m.topic
        # Counted as parsed: validation turns readings into rejects one for one, and a message the
        # database refused still carried what it was parsed into.
        items = item.parsed.item_count
        if poison is not None:
            return StagedMessage(item.key, topic, m.received_at, [], [poison], items=max(1, items))
        good, bad = validate(
            item.parsed.readings, self.registry.meters, self.cfg.reject_payload_chars, horizon
        )
        return StagedMessage(item.key, topic, m.received_at, good, [*item.parsed.rejects, *bad], items=items)

    def _write(
        self, items: list[_Item], poison: Reject | None = None, bare_topic: bool = False
    ) -> BaseException | None:
        """Commit ``items`` in one transaction, retrying while the database is at fault.

        Returns None once committed, or the error when the content is at fault (nothing committed);
        raises _Stopped when stopping before a commit succeeded.
        """
        attempt = 0
        while True:
            try:
                conn = self._db()
                with self._watchdog.bounded(conn, self.cfg.db_timeout_s):
                    self.registry.refresh(conn)
                    horizon = raw_horizon(conn, self.cfg.raw_retention)
                    staged = [self._stage(i, horizon, poison, bare_topic) for i in items]
                    stats = write_messages(
                        conn,
                        staged,
                        try_direct=self._try_direct,
                        registry_version=self.registry.version,
                        copy_keys=self._copy_keys,
                    )
                self._committed_batch(stats, staged)
                self._maybe_prune(conn)
                return None
            except RegistryChanged:
                # A meter changed while we validated: validate again under the new registry, at once.
                self.registry.version = None
                if self._stop.is_set():
                    raise _Stopped from None
                continue
            except CommitUnknown as unknown:
                conn.close()
                self._conn = None
                self.registry.version = None
                self.db_retries += 1
                if self._committed(unknown):
                    # Written once: counted as committed, not a second time as redelivered.
                    self._committed_batch(unknown.pending.stats, staged)
                    return None
                # Not committed: written again, as after any failure the database was at fault for.
                if self._stop.is_set():
                    raise _Stopped from unknown
                self._stop.wait(retry_delay_s(attempt))
                attempt += 1
                continue
            except (psycopg.Error, UnicodeError) as exc:
                if is_content_error(exc):
                    return exc
                metrics.DB_ERRORS.inc()
                self.db_retries += 1
                delay = retry_delay_s(attempt)
                log.warning(
                    "batch of %d messages not committed (%s); retrying in %.1fs",
                    len(items),
                    _describe(exc),
                    delay,
                )
                if self._conn is not None and (self._conn.closed or self._conn.broken):
                    self._conn = None
                elif self._conn is not None and isinstance(exc, psycopg.OperationalError):
                    self._conn.close()
                    self._conn = None
                self.registry.version = None  # a meter may have changed under us
                if self._stop.is_set():
                    raise _Stopped from exc
                self._stop.wait(delay)  # a stop cuts the wait short; the retry then decides
                attempt += 1

    def _committed_batch(self, stats: BatchStats, staged: list[StagedMessage]) -> None:
        self._try_direct = stats.direct or stats.duplicates + stats.conflicts + stats.redelivered == 0
        self._copy_keys = stats.redelivered == 0
        self._count(stats, staged)

    def _committed(self, unknown: CommitUnknown) -> bool:
        """Whether the batch whose COMMIT lost its connection was committed, asked on a new connection
        (ingest.writer.commit_outcome: the old transaction is ended first, then its statistics row looked
        for); asks again while the server cannot tell, and raises _Stopped when stopping before it knows."""
        metrics.DB_ERRORS.inc()
        log.warning("%s; asking the server whether it committed", unknown)
        wait_ms = max(1, int(self.cfg.db_timeout_s * 500))  # within the call's bound below
        attempt = 0
        while True:
            try:
                conn = self._db()
                with self._watchdog.bounded(conn, self.cfg.db_timeout_s):
                    committed = commit_outcome(conn, unknown.pending, wait_ms)
                if committed is not None:
                    log.warning(
                        "transaction %s %s",
                        unknown.pending.xact_id,
                        "committed" if committed else "rolled back",
                    )
                    return committed
                log.warning(
                    "transaction %s is still running on the server; asking again", unknown.pending.xact_id
                )
            except psycopg.Error as exc:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                log.warning(
                    "asking after transaction %s failed (%s)", unknown.pending.xact_id, _describe(exc)
                )
            if self._stop.is_set():
                raise _Stopped from unknown
            self._stop.wait(retry_delay_s(attempt))
            attempt += 1

    def _maybe_prune(self, conn: psycopg.Connection) -> None:
        """Now and then forget old message keys (ingest_message), a chunk at a time, between batches."""
        if self.cfg.stats_retention is None or time.monotonic() < self._next_key_prune:
            return
        try:
            with self._watchdog.bounded(conn, self.cfg.db_timeout_s):
                n = prune_message_keys(conn, self.cfg.stats_retention)
        except psycopg.Error as exc:
            log.warning("pruning old message keys failed (%s); will try again", _describe(exc))
            n = 0
        # A full chunk: more to delete, come back after the next batch; else wait the interval.
        self._next_key_prune = time.monotonic() + (0.0 if n >= 50_000 else self.cfg.prune_interval_s)

    def _count(self, stats: BatchStats, staged: list[StagedMessage]) -> None:
        t = self.totals
        t.messages += stats.messages
        t.readings += stats.readings
        t.inserted += stats.inserted
        t.duplicates += stats.duplicates
        t.conflicts += stats.conflicts
        t.rejects += stats.rejects
        t.redelivered += stats.redelivered
        t.items += stats.items
        metrics.MESSAGES.inc(stats.messages + stats.redelivered)
        metrics.READINGS.labels("inserted").inc(stats.inserted)
        metrics.READINGS.labels("duplicate").inc(stats.duplicates)
        metrics.READINGS.labels("conflict").inc(stats.conflicts)
        for m in staged:
            for r in m.rejects:
                metrics.REJECTS.labels(r.reason).inc()
        metrics.BATCH_ROWS.observe(stats.readings)
        metrics.COMMIT_SECONDS.observe(stats.commit_ms / 1000.0)
        log.debug("batch committed", extra={"fields": vars(stats)})


def _describe(exc: BaseException) -> str:
    state = getattr(exc, "sqlstate", None)
    text = storable_text(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)[:300]
    return f"SQLSTATE {state}: {text}" if state else f"{type(exc).__name__}: {text}"
