"""One ingest batch in one transaction: COPY into a staging table, merge into ``reading``.

(A batch of only new keys is COPYed straight into ``reading`` instead, inside a savepoint; any
existing key rolls that back and the batch takes the merge path. Same result, less work.)

The merge keeps the first value of a (meter_id, ts) (DESIGN §3: no silent overwrite): a repeat
with the same value counts as a duplicate, a repeat with another value is recorded in
``reading_conflict``. Rejects, the touched ranges for the rollup (``usage_dirty``) and the batch's
statistics (``ingest_batch``) are written in the same transaction, so a crash leaves either all of
a batch or none of it, and the broker is acked only after the commit (see ingest/service.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import psycopg

from ingest.parser import Reject
from ingest.validate import GoodReading

_STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS ingest_stage ("
    " seq integer NOT NULL, meter_id text NOT NULL, ts timestamptz NOT NULL,"
    " value double precision NOT NULL, received_at timestamptz NOT NULL, topic text"
    ") ON COMMIT DELETE ROWS"
)

# DISTINCT ON keeps the first arrival of a key within the batch; ORDER BY gives every writer the same
# lock order on the primary key, so two workers merging overlapping batches cannot deadlock.
_MERGE = """
WITH ins AS (
    INSERT INTO reading (meter_id, ts, value, received_at)
    SELECT meter_id, ts, value, received_at FROM (
        SELECT DISTINCT ON (meter_id, ts) meter_id, ts, value, received_at
        FROM ingest_stage ORDER BY meter_id, ts, seq
    ) s ORDER BY meter_id, ts
    ON CONFLICT (meter_id, ts) DO NOTHING
    RETURNING meter_id, ts
), dirty AS (
    INSERT INTO usage_dirty (meter_id, ts_min, ts_max)
    SELECT meter_id, min(ts), max(ts) FROM ins GROUP BY meter_id
)
SELECT count(*) FROM ins
"""

_CONFLICTS = """
WITH c AS (
    SELECT s.meter_id, s.ts, r.value AS stored_value, s.value AS new_value, s.received_at, s.topic
    FROM ingest_stage s JOIN reading r ON r.meter_id = s.meter_id AND r.ts = s.ts
    WHERE r.value IS DISTINCT FROM s.value
), ins AS (
    INSERT INTO reading_conflict (meter_id, ts, stored_value, new_value, received_at, topic)
    SELECT * FROM c ON CONFLICT DO NOTHING
)
SELECT count(*) FROM c
"""


@dataclass(frozen=True)
class StagedReading:
    reading: GoodReading
    topic: str
    received_at: datetime


@dataclass(frozen=True)
class StagedReject:
    reject: Reject
    topic: str
    received_at: datetime


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


def _copy_direct(conn: psycopg.Connection, readings: list[StagedReading]) -> bool:
    """COPY straight into ``reading`` in a savepoint; False (rolled back) if any key already exists.

    The fast path for a live stream, where nearly every batch is all new rows: it skips the staging
    table and the merge. A batch holding any repeat (stored before, or twice in the batch) fails the
    COPY on the primary key and falls back to the merge, which counts it.
    """
    try:
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy("COPY reading (meter_id, ts, value, received_at) FROM STDIN (FORMAT BINARY)") as copy:
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
            with cur.copy("COPY usage_dirty (meter_id, ts_min, ts_max) FROM STDIN") as copy:
                for meter_id, (lo, hi) in span.items():
                    copy.write_row((meter_id, lo, hi))
    except psycopg.errors.UniqueViolation:
        return False
    return True


def write_batch(
    conn: psycopg.Connection,
    readings: list[StagedReading],
    rejects: list[StagedReject],
    messages: int,
    try_direct: bool = True,
) -> BatchStats:
    """Write and commit one batch; raises (after rollback) on any database error.

    ``try_direct``: attempt the all-new fast path first (see _copy_direct); the caller turns it off
    while repeats are arriving (after a restart the broker redelivers what was not acked).
    """
    started = time.perf_counter()
    inserted = conflicts = 0
    direct = False
    try:
        with conn.transaction():
            if readings and try_direct:
                direct = _copy_direct(conn, readings)
                inserted = len(readings) if direct else 0
            if readings and not direct:
                conn.execute(_STAGE_DDL)
                with conn.cursor() as cur:
                    with cur.copy(
                        "COPY ingest_stage (seq, meter_id, ts, value, received_at, topic) FROM STDIN (FORMAT BINARY)"
                    ) as copy:
                        copy.set_types(["int4", "text", "timestamptz", "float8", "timestamptz", "text"])
                        for seq, s in enumerate(readings):
                            r = s.reading
                            copy.write_row((seq, r.meter_id, r.ts, r.value, s.received_at, s.topic))
                    inserted = cur.execute(_MERGE).fetchone()[0]
                    # Every row new and no key twice in the batch: no duplicate or conflict to look for
                    # (the common case of a live stream), so skip the join back to `reading`.
                    if inserted != len(readings):
                        conflicts = cur.execute(_CONFLICTS).fetchone()[0]
            if rejects:
                with conn.cursor() as cur:
                    with cur.copy(
                        "COPY ingest_reject (received_at, topic, payload, reason, detail, meter_id) FROM STDIN"
                    ) as copy:
                        for s in rejects:
                            j = s.reject
                            copy.write_row((s.received_at, s.topic, j.payload, j.reason, j.detail, j.meter_id))
            duplicates = len(readings) - inserted - conflicts
            # commit_ms: the batch's work inside its transaction; the COMMIT round-trip follows.
            commit_ms = (time.perf_counter() - started) * 1000.0
            conn.execute(
                "INSERT INTO ingest_batch (messages, readings, inserted, duplicates, conflicts, rejects, commit_ms)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (messages, len(readings), inserted, duplicates, conflicts, len(rejects), commit_ms),
            )
    except BaseException:
        if not conn.closed:
            try:
                conn.rollback()
            except psycopg.Error:
                pass
        raise
    return BatchStats(messages, len(readings), inserted, duplicates, conflicts, len(rejects),
                      (time.perf_counter() - started) * 1000.0, direct)
