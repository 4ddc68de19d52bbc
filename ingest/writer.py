"""One ingest batch in one transaction: COPY into a staging table, merge into ``reading``.

(A batch of only new keys is COPYed straight into ``reading`` instead, inside a savepoint; any
existing key rolls that back and the batch takes the merge path. Same result, less work.)

The merge keeps the first value of a (meter_id, ts) (docs/design.md §3: no silent overwrite): a repeat
with the same value counts as a duplicate, a repeat with another value is recorded in
``reading_conflict``. Rejects, the touched ranges for the rollup (``usage_dirty``), each meter's latest
reading and received counts (``meter_last_reading``, ``reading_received_hourly``) and the batch's
statistics (``ingest_batch``) are written in the same transaction, so a crash leaves either all of
a batch or none of it, and the broker is acked only after the commit (see ingest/service.py).

Every side effect is idempotent per message, so a message the broker delivers again after its
commit changes nothing: readings are unique per (meter_id, ts), conflicts per (meter_id, ts,
new_value), rejects per (message_key, item, reason), and ``ingest_message`` remembers the keys
already committed, so a redelivered message is counted in ``ingest_batch.redelivered`` and not
again in its messages, readings or rejects (``ingest_batch.items`` counts every delivery's items). Reject text is escaped and clipped here, whatever its
source, so writing a reject cannot fail on what it records. A connection lost during the COMMIT raises
:class:`CommitUnknown`, with which the caller learns from the server whether it committed
(:func:`commit_outcome`).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import psycopg

from ingest.parser import MAX_ID_CHARS, Reject, storable_text
from ingest.validate import GoodReading

MAX_TOPIC_CHARS = 1024
MAX_DETAIL_CHARS = 2000

_STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS ingest_stage ("
    " seq integer NOT NULL, meter_id text NOT NULL, ts timestamptz NOT NULL,"
    " value double precision NOT NULL, received_at timestamptz NOT NULL, topic text"
    ") ON COMMIT DELETE ROWS"
)

# DISTINCT ON keeps the first arrival of a key within the batch; ORDER BY gives every writer the same
# lock order on the primary key, so two workers merging overlapping batches cannot deadlock. Code point
# order ("C"), the order of Python's own sort: the all-new COPY path takes its locks in it too.
_MERGE = """
WITH ins AS (
    INSERT INTO reading (meter_id, ts, value, received_at)
    SELECT meter_id, ts, value, received_at FROM (
        SELECT DISTINCT ON (meter_id, ts) meter_id, ts, value, received_at
        FROM ingest_stage ORDER BY meter_id, ts, seq
    ) s ORDER BY meter_id COLLATE "C", ts
    ON CONFLICT (meter_id, ts) DO NOTHING
    RETURNING meter_id, ts, received_at
), dirty AS (
    INSERT INTO usage_dirty (meter_id, ts_min, ts_max)
    SELECT meter_id, min(ts), max(ts) FROM ins GROUP BY meter_id
)
SELECT meter_id, ts, received_at FROM ins
"""

# The batch's new readings noted in meter_last_reading and reading_received_hourly (migration 0024).
# Once per batch, after all of its readings are in: its row locks on those tables are its last, taken
# in meter order, so no worker waits on a reading key while holding them.
# Binary parameters: formatting three arrays of a 5,000-reading batch as text took the writer thread
# longer than the server's work on them (0.21 s against 0.12 s), and binary timestamptz carries any
# UTC offset a datetime may have.
_NOTE_INSERTED = "SELECT reading_summaries_add(%b::text[], %b::timestamptz[], %b::timestamptz[])"

_REJECT_STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS ingest_reject_stage ("
    " seq integer NOT NULL, received_at timestamptz NOT NULL, topic text, payload text, reason text NOT NULL,"
    " detail text, meter_id text, message_key bytea, item integer, payload_raw bytea"
    ") ON COMMIT DELETE ROWS"
)
_REJECT_COLUMNS = "received_at, topic, payload, reason, detail, meter_id, message_key, item, payload_raw"
_REJECT_MERGE = (
    f"INSERT INTO ingest_reject ({_REJECT_COLUMNS}) SELECT {_REJECT_COLUMNS} FROM ingest_reject_stage"
    " ORDER BY seq ON CONFLICT DO NOTHING"
)

_CONFLICTS = """
WITH c AS (
    SELECT s.meter_id, s.ts, r.value AS stored_value, s.value AS new_value, s.received_at, s.topic
    FROM ingest_stage s JOIN reading r ON r.meter_id = s.meter_id AND r.ts = s.ts
    WHERE r.value IS DISTINCT FROM s.value
), ins AS (
    INSERT INTO reading_conflict (meter_id, ts, stored_value, new_value, received_at, topic)
    SELECT * FROM c ORDER BY meter_id COLLATE "C", ts, new_value ON CONFLICT DO NOTHING
)
SELECT count(*) FROM c
"""


class _Inserted:
    """The rows a batch added to ``reading``, column by column, for _NOTE_INSERTED."""

    __slots__ = ("meter_ids", "ts", "received_at")

    def __init__(self) -> None:
        self.meter_ids: list[str] = []
        self.ts: list[datetime] = []
        self.received_at: list[datetime] = []

    def add(self, meter_id: str, ts: datetime, received_at: datetime) -> None:
        self.meter_ids.append(meter_id)
        self.ts.append(ts)
        self.received_at.append(received_at)

    def note(self, conn: psycopg.Connection) -> None:
        if self.meter_ids:
            conn.execute(_NOTE_INSERTED, (self.meter_ids, self.ts, self.received_at))


class RegistryChanged(psycopg.errors.SerializationFailure):
    """The registry moved while the batch was validated against it: validate again and retry."""


def _check_registry(conn: psycopg.Connection, version: int | None) -> None:
    """Raise RegistryChanged unless the registry is still at ``version`` (None: no check).

    The last statement before the commit. A registry change locks the version row before it
    changes any meter (migration 0017), so FOR SHARE either waits for a change in flight and sees
    its version, or holds the change off until we commit: readings are never committed under a meter
    configuration (unit, period) that a change in flight has already replaced.
    """
    if version is None:
        return
    now = conn.execute("SELECT version FROM registry_version FOR SHARE").fetchone()[0]
    if now != version:
        raise RegistryChanged(f"registry version {version} changed to {now} during the batch")


class StagedReading(NamedTuple):  # a tuple: one is built per reading, at the rate ingest runs at
    reading: GoodReading
    topic: str
    received_at: datetime


@dataclass(frozen=True)
class StagedReject:
    reject: Reject
    topic: str
    received_at: datetime
    key: bytes | None = None  # message_key of the message it came from


@dataclass
class StagedMessage:
    """One MQTT message with what validation made of it: readings to store, rejects to record."""

    key: bytes
    topic: str
    received_at: datetime
    readings: list[GoodReading] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    # The reading items the message carried when that is not one per reading and reject (a message
    # refused by the database is staged as its one reject).
    items: int | None = None

    @property
    def item_count(self) -> int:
        """The reading items the message carried: what a publisher counted for it (``items`` when the
        stager knows better than its rows, as for a message rejected whole; see ParseResult.item_count)."""
        return len(self.readings) + len(self.rejects) if self.items is None else self.items


_HASH_PIECE = 2047  # CPython hashlib hashes at least 2048 bytes with the GIL released


def message_key(topic: str, payload: bytes) -> bytes:
    """A message's identity: 16 bytes of BLAKE2b over its topic and payload.

    MQTT gives a redelivered message no identity of its own (packet ids are reused), and a
    gateway's retry of a message is the same message: equal topic and payload are one message.
    """
    t = topic.encode("utf-8", "surrogatepass")
    h = hashlib.blake2b(digest_size=16)
    h.update(len(t).to_bytes(4, "big"))
    h.update(t)
    # In pieces below hashlib's 2 KiB threshold for releasing the GIL: the collector thread is ingest's
    # bottleneck, and each release let the writer or paho's thread keep it for a switch interval (5 ms),
    # which cost ten times the hash itself for 100-reading gateway messages.
    if len(payload) <= _HASH_PIECE:
        h.update(payload)
    else:
        view = memoryview(payload)
        for at in range(0, len(view), _HASH_PIECE):
            h.update(view[at : at + _HASH_PIECE])
    return h.digest()


@dataclass
class BatchStats:
    messages: int
    readings: int
    inserted: int
    duplicates: int
    conflicts: int
    rejects: int
    commit_ms: float
    direct: bool = False  # written by the all-new fast path
    redelivered: int = 0  # messages already committed before (counted in nothing else)
    items: int = (
        0  # reading items of every message in the batch, redelivered ones included (StagedMessage.item_count)
    )


def _lock_order(s: StagedReading) -> tuple[str, datetime]:
    return s.reading.meter_id, s.reading.ts


def _copy_direct(conn: psycopg.Connection, readings: list[StagedReading]) -> bool:
    """COPY straight into ``reading`` in a savepoint; False (rolled back) if any key already exists.

    The fast path for a live stream, where nearly every batch is all new rows: it skips the staging
    table and the merge. A batch holding any repeat (stored before, or twice in the batch) fails the
    COPY on the primary key and falls back to the merge, which counts it. Rows go in the merge's lock
    order (_lock_order): two workers copying overlapping readings wait for each other, never in a cycle.
    """
    readings = sorted(readings, key=_lock_order)
    try:
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(
                "COPY reading (meter_id, ts, value, received_at) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["text", "timestamptz", "float8", "timestamptz"])
                for s in readings:
                    r = s.reading
                    copy.write_row((r.meter_id, r.ts, r.value, s.received_at))
            span: dict[str, list] = {}
            for r in (s.reading for s in readings):
                lo_hi = span.get(r.meter_id)
                if lo_hi is None:
                    span[r.meter_id] = [r.ts, r.ts]
                elif r.ts < lo_hi[0]:
                    lo_hi[0] = r.ts
                elif r.ts > lo_hi[1]:
                    lo_hi[1] = r.ts
            with cur.copy("COPY usage_dirty (meter_id, ts_min, ts_max) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "timestamptz", "timestamptz"])
                for meter_id, (lo, hi) in span.items():
                    copy.write_row((meter_id, lo, hi))
    except psycopg.errors.UniqueViolation:
        return False
    return True


_INSERT_KEYS = """
WITH ins AS (
    INSERT INTO ingest_message (key) SELECT k FROM unnest(%(keys)b::bytea[]) k ORDER BY k
    ON CONFLICT DO NOTHING RETURNING key
)
SELECT CASE WHEN count(*) = %(n)s THEN NULL ELSE coalesce(array_agg(key), '{}') END FROM ins
"""


def _insert_keys(conn: psycopg.Connection, keys: list[bytes]) -> list[bytes] | None:
    """Record the message keys not recorded yet; the new ones, or None when all were new."""
    return conn.execute(_INSERT_KEYS, {"keys": keys, "n": len(keys)}).fetchone()[0]


def _copy_keys(conn: psycopg.Connection, keys: list[bytes]) -> bool:
    """COPY the keys in a savepoint; False (rolled back) if any was recorded before.

    The fast path of the live stream, where every key is new: half the server's work of the
    INSERT … ON CONFLICT with its returned keys (measured with 5,000 keys into 500,000).
    """
    try:
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy("COPY ingest_message (key) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["bytea"])
                for k in keys:
                    copy.write_row((k,))
    except psycopg.errors.UniqueViolation:
        return False
    return True


def prune_message_keys(conn: psycopg.Connection, retention: str, chunk_rows: int = 50_000) -> int:
    """Forget committed message keys older than ``retention`` (a PostgreSQL interval), one chunk
    per call so that a first prune after months holds no long transaction; rows deleted."""
    return conn.execute(
        "DELETE FROM ingest_message WHERE ctid = ANY(ARRAY(SELECT ctid FROM ingest_message"
        " WHERE committed_at < now() - %s::interval LIMIT %s))",
        (retention, chunk_rows),
    ).rowcount


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = storable_text(text)
    return text if len(text) <= limit else text[:limit] + f"…[{len(text) - limit} more chars]"


def _reject_row(seq: int, s: StagedReject) -> tuple:
    j = s.reject
    return (
        seq,
        s.received_at,
        _clip(s.topic, MAX_TOPIC_CHARS),
        storable_text(j.payload) if j.payload else j.payload,
        storable_text(j.reason)[:100],
        _clip(j.detail, MAX_DETAIL_CHARS),
        _clip(j.meter_id, MAX_ID_CHARS),
        s.key,
        j.item,
        j.payload_raw,
    )


def _write_rows(
    conn: psycopg.Connection,
    readings: list[StagedReading],
    rejects: list[StagedReject],
    try_direct: bool,
    new_rows: _Inserted,
    reuse_stage: bool = False,
) -> tuple[int, int, int, bool]:
    """Readings merged and rejects recorded inside the caller's transaction: (inserted, conflicts,
    rejects written, direct); the readings it inserted are added to ``new_rows``. ``reuse_stage``: the
    staging tables were used earlier in this transaction."""
    inserted = conflicts = written = 0
    direct = False
    if readings and try_direct:
        direct = _copy_direct(conn, readings)
        if direct:
            inserted = len(readings)
            for s in readings:
                new_rows.add(s.reading.meter_id, s.reading.ts, s.received_at)
    if readings and not direct:
        conn.execute(_STAGE_DDL)
        with conn.cursor() as cur:
            if reuse_stage:
                cur.execute("DELETE FROM ingest_stage")
            with cur.copy(
                "COPY ingest_stage (seq, meter_id, ts, value, received_at, topic) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["int4", "text", "timestamptz", "float8", "timestamptz", "text"])
                for seq, s in enumerate(readings):
                    r = s.reading
                    copy.write_row((seq, r.meter_id, r.ts, r.value, s.received_at, s.topic))
            added = cur.execute(_MERGE).fetchall()
            inserted = len(added)
            for meter_id, ts, received_at in added:
                new_rows.add(meter_id, ts, received_at)
            # Every row new and no key twice in the batch: no duplicate or conflict to look for
            # (the common case of a live stream), so skip the join back to `reading`.
            if inserted != len(readings):
                conflicts = cur.execute(_CONFLICTS).fetchone()[0]
    if rejects:
        conn.execute(_REJECT_STAGE_DDL)
        with conn.cursor() as cur:
            if reuse_stage:
                cur.execute("DELETE FROM ingest_reject_stage")
            with cur.copy(
                f"COPY ingest_reject_stage (seq, {_REJECT_COLUMNS}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(
                    ["int4", "timestamptz", "text", "text", "text", "text", "text", "bytea", "int4", "bytea"]
                )
                for seq, s in enumerate(rejects):
                    copy.write_row(_reject_row(seq, s))
            written = cur.execute(_REJECT_MERGE).rowcount
    return inserted, conflicts, written, direct


class PendingCommit(NamedTuple):
    """A batch whose statements have all run, only its COMMIT left: ``token`` and ``committed_at`` find
    its statistics row, ``backend_pid`` and ``xact_id`` the server process that holds the transaction."""

    stats: BatchStats
    token: uuid.UUID
    committed_at: datetime
    xact_id: str
    backend_pid: int


class CommitUnknown(Exception):
    """The connection failed while the batch's COMMIT was on its way: the server may have committed it.

    Raised (from the connection's error) only once every statement of the batch had run. A caller that
    simply wrote the batch again would find its messages committed and count them a second time, as
    redelivered, with their items; it asks the server instead (:func:`commit_outcome` with ``pending``)
    and counts ``pending.stats`` when the first commit went through."""

    def __init__(self, pending: PendingCommit) -> None:
        super().__init__(f"the connection failed during COMMIT of transaction {pending.xact_id}")
        self.pending = pending


_OLD_BACKEND = (
    # The old connection's server process, if it is still inside that transaction: matched by the transaction
    # id as well as the pid, so a reused pid is never signalled. Idle in it, its COMMIT never arrived and it
    # has not noticed the client is gone: ended, waiting up to wait_ms for it to exit, which rolls the batch
    # back. Active, it is carrying out the COMMIT, perhaps waiting for a synchronous standby: left alone,
    # since ending it then would make the commit final on this server alone.
    "SELECT CASE WHEN state IN ('idle in transaction', 'idle in transaction (aborted)')"
    " THEN pg_terminate_backend(pid, %(wait_ms)s) END"
    " FROM pg_stat_activity WHERE pid = %(pid)s AND pid <> pg_backend_pid() AND backend_xid::text = %(xid)s"
)
_STATS_ROW = "SELECT EXISTS (SELECT FROM ingest_batch WHERE committed_at = %(at)s AND token = %(token)s)"


def commit_outcome(conn: psycopg.Connection, pending: PendingCommit, wait_ms: int) -> bool | None:
    """Whether the batch ``pending`` was committed, asked on a new autocommit connection: True or
    False, or None while its transaction is still running (its COMMIT under way, or its idle session not
    ended within ``wait_ms``).

    The answer is the batch's own statistics row, written in its transaction: on a server that took
    over (a promoted standby, a restore), a commit that did not reach it reads as not committed, and the
    batch is written again. It is read only once the old transaction is over, so its absence is final."""
    xid32 = str(int(pending.xact_id) % 2**32)  # pg_stat_activity shows the 32-bit transaction id
    old = conn.execute(
        _OLD_BACKEND, {"wait_ms": wait_ms, "pid": pending.backend_pid, "xid": xid32}
    ).fetchall()
    if any(ended is not True for (ended,) in old):
        return None
    return conn.execute(_STATS_ROW, {"at": pending.committed_at, "token": pending.token}).fetchone()[0]


def _insert_stats(conn: psycopg.Connection, stats: BatchStats, token: uuid.UUID) -> tuple[datetime, str]:
    """Insert the batch's statistics row with ``token``; returns its committed_at and the transaction's
    id (for :class:`CommitUnknown`)."""
    return conn.execute(
        "INSERT INTO ingest_batch (messages, readings, inserted, duplicates, conflicts, rejects, commit_ms, redelivered,"
        " items, token) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " RETURNING committed_at, pg_current_xact_id()::text",
        (
            stats.messages,
            stats.readings,
            stats.inserted,
            stats.duplicates,
            stats.conflicts,
            stats.rejects,
            stats.commit_ms,
            stats.redelivered,
            stats.items,
            token,
        ),
    ).fetchone()


def _rollback(conn: psycopg.Connection) -> None:
    if not conn.closed:
        try:
            conn.rollback()
        except psycopg.Error:
            pass


def _pending(conn: psycopg.Connection, stats: BatchStats) -> PendingCommit:
    token = uuid.uuid4()
    pid = conn.info.backend_pid
    committed_at, xact_id = _insert_stats(conn, stats, token)
    return PendingCommit(stats, token, committed_at, xact_id, pid)


def _failed(
    conn: psycopg.Connection, exc: BaseException, pending: PendingCommit | None, started: float
) -> None:
    """After a batch raised ``exc``: roll back, and raise CommitUnknown when its COMMIT's outcome is unknown
    (the caller re-raises ``exc`` otherwise)."""
    _rollback(conn)
    # The body ran to its end (the stats row was written, every check passed) and the connection is gone:
    # the exception came from COMMIT, which the server may have received and carried out.
    if pending is not None and isinstance(exc, psycopg.Error) and (conn.closed or conn.broken):
        pending.stats.commit_ms = (time.perf_counter() - started) * 1000.0
        raise CommitUnknown(pending) from exc


def write_batch(
    conn: psycopg.Connection,
    readings: list[StagedReading],
    rejects: list[StagedReject],
    messages: int,
    try_direct: bool = True,
) -> BatchStats:
    """Write and commit rows that carry no message identity; raises (after rollback) on any database error.

    ``try_direct``: attempt the all-new fast path first (see _copy_direct); the caller turns it off
    while repeats are arriving (after a restart the broker redelivers what was not acked).
    """
    started = time.perf_counter()
    pending = None
    try:
        with conn.transaction():
            new_rows = _Inserted()
            inserted, conflicts, written, direct = _write_rows(conn, readings, rejects, try_direct, new_rows)
            new_rows.note(conn)
            stats = BatchStats(
                messages,
                len(readings),
                inserted,
                len(readings) - inserted - conflicts,
                conflicts,
                written,
                (time.perf_counter() - started) * 1000.0,
                direct,
                items=len(readings) + len(rejects),
            )
            # commit_ms: the batch's work inside its transaction; the COMMIT round-trip follows.
            pending = _pending(conn, stats)  # the last statement: only COMMIT is left
    except BaseException as exc:
        _failed(conn, exc, pending, started)
        raise
    stats.commit_ms = (time.perf_counter() - started) * 1000.0
    return stats


def _staged(messages: list[StagedMessage]) -> tuple[list[StagedReading], list[StagedReject]]:
    readings = [StagedReading(r, m.topic, m.received_at) for m in messages for r in m.readings]
    rejects = [StagedReject(j, m.topic, m.received_at, m.key) for m in messages for j in m.rejects]
    return readings, rejects


def write_messages(
    conn: psycopg.Connection,
    messages: list[StagedMessage],
    try_direct: bool = True,
    registry_version: int | None = None,
    copy_keys: bool | None = None,
) -> BatchStats:
    """Write and commit one batch of messages, each side effect once per message (module docstring).

    ``copy_keys``: try the keys' all-new COPY (_copy_keys) first; None: as ``try_direct``. The caller
    turns it off while redelivered messages arrive, which fail it even when the readings are new.

    ``registry_version``: the registry version the messages were validated against; the batch
    raises :class:`RegistryChanged` (rolled back) if the registry moved since (_check_registry).

    Raises (after rollback) on any database error. A message seen committed before still has its
    rows written (each is unique, so nothing doubles, and a reading refused then but valid now is
    stored), but its statistics go to ``redelivered`` only.
    """
    started = time.perf_counter()
    pending = None
    try:
        with conn.transaction():
            # Sorted, so two workers inserting overlapping keys take their locks in the same order.
            keys = sorted({m.key for m in messages})
            # None when every key is new (the live stream): no keys to send back and look up.
            copy = try_direct if copy_keys is None else copy_keys
            inserted_keys = None if copy and _copy_keys(conn, keys) else _insert_keys(conn, keys)
            if inserted_keys is None and len(keys) == len(messages):
                first, again = messages, []
            else:
                new_keys = set(keys) if inserted_keys is None else {bytes(k) for k in inserted_keys}
                first, again = [], []
                for m in messages:
                    if m.key in new_keys:
                        new_keys.discard(m.key)  # the same message twice in one batch: the second is a repeat
                        first.append(m)
                    else:
                        again.append(m)
            readings, rejects = _staged(first)
            new_rows = _Inserted()
            inserted, conflicts, written, direct = _write_rows(conn, readings, rejects, try_direct, new_rows)
            if again:
                _write_rows(conn, *_staged(again), try_direct=False, new_rows=new_rows, reuse_stage=True)
            new_rows.note(conn)
            stats = BatchStats(
                len(first),
                len(readings),
                inserted,
                len(readings) - inserted - conflicts,
                conflicts,
                written,
                (time.perf_counter() - started) * 1000.0,
                direct,
                len(again),
                sum(m.item_count for m in messages),
            )
            done = _pending(conn, stats)
            _check_registry(conn, registry_version)
            pending = done  # the last statement ran: only COMMIT is left
    except BaseException as exc:
        _failed(conn, exc, pending, started)
        raise
    stats.commit_ms = (time.perf_counter() - started) * 1000.0
    return stats
