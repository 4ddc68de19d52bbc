"""The scoring job queue behind POST /v1/runs (0012_api_jobs_audit.sql).

POST /v1/runs queues a job; a worker (api.jobs) claims queued jobs with FOR UPDATE SKIP LOCKED and
holds a session advisory lock (JOB_LOCK_CLASS, job id) while it runs one, so that a job whose
worker died can be told from one still running (store/migrations/0012_api_jobs_audit.sql).
"""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

JOB_LOCK_CLASS = 72_001  # first key of the two-key advisory locks on jobs; no other lock here uses it
JOB_MAX_ATTEMPTS = 3  # a job that took its worker down this many times is failed, not retried forever
JOB_MAX_QUEUED_PER_KEY = 100  # queued jobs one key may have waiting; more: 429
JOB_QUEUE_LOCK_CLASS = 72_002  # serialises one key's enqueues so the count above is exact
JOB_COLS = (
    "id, year, region_code, methodology_hash, status, run_id, error, attempts, created_by, created_at,"
    " started_at, finished_at"
)


_QUEUE_LOCK = """
SELECT pg_advisory_xact_lock(%(lock_class)s, hashtext(%(by)s))
"""

_ACTIVE_JOB = f"""
SELECT {JOB_COLS} FROM scoring_job
WHERE year = %(year)s AND coalesce(region_code, '') = coalesce(%(region)s, '') AND methodology_hash = %(hash)s
    AND status IN ('queued', 'running')
"""

_QUEUED_BY = """
SELECT count(*) AS n FROM scoring_job WHERE status = 'queued' AND created_by = %(by)s
"""

_INSERT_JOB = f"""
INSERT INTO scoring_job (year, region_code, methodology_hash, created_by)
VALUES (%(year)s, %(region)s, %(hash)s, %(by)s) ON CONFLICT DO NOTHING RETURNING {JOB_COLS}
"""

_GET_JOB = f"""
SELECT {JOB_COLS} FROM scoring_job WHERE id = %(id)s
"""

_CLAIM_JOB = f"""
UPDATE scoring_job SET status = 'running', started_at = now(), attempts = attempts + 1
WHERE id = (
    SELECT j.id FROM scoring_job j
    WHERE j.status = 'queued' AND NOT EXISTS (
        SELECT 1 FROM scoring_job r
        WHERE r.status = 'running' AND r.year = j.year AND r.methodology_hash = j.methodology_hash)
    ORDER BY j.id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING {JOB_COLS}
"""

_TAKE_LEASE = """
SELECT pg_advisory_lock(%(lock_class)s, %(id)s::int)
"""

_RELEASE_LEASE = """
SELECT pg_advisory_unlock(%(lock_class)s, %(id)s::int)
"""

_TRY_LEASE = """
SELECT pg_try_advisory_xact_lock(%(lock_class)s, %(id)s::int)
"""

_FINISH_JOB = """
UPDATE scoring_job SET status = %(status)s, run_id = %(run_id)s, error = %(error)s, finished_at = now()
WHERE id = %(id)s
"""

_RUNNING_JOBS = """
SELECT id, attempts FROM scoring_job WHERE status = 'running' ORDER BY id FOR UPDATE SKIP LOCKED
"""

_FAIL_ORPHAN = """
UPDATE scoring_job SET status = 'failed', finished_at = now(),
    error = 'its worker stopped during each of ' || attempts || ' attempts'
WHERE id = %(id)s
"""

_REQUEUE_ORPHAN = """
UPDATE scoring_job SET status = 'queued', started_at = NULL WHERE id = %(id)s
"""


class JobQueueFull(Exception):
    """The key has JOB_MAX_QUEUED_PER_KEY jobs queued already."""


def enqueue_job(
    conn: psycopg.Connection, *, year: int, region_code: str | None, methodology_hash: str, created_by: str
) -> tuple[dict, bool]:
    """The queued or running job for these inputs, or a new queued one; and whether it is new.
    Raises JobQueueFull when ``created_by`` already has JOB_MAX_QUEUED_PER_KEY jobs waiting (a loop over
    years and regions would otherwise queue thousands of runs ahead of everyone else's).
    ``conn`` must be in a transaction: the per-key lock that makes the count exact lasts until its end."""
    params = {"year": year, "region": region_code, "hash": methodology_hash, "by": created_by}
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_QUEUE_LOCK, {"lock_class": JOB_QUEUE_LOCK_CLASS, "by": created_by})
        for _ in range(3):  # a job of the same inputs may finish between the INSERT and the SELECT
            row = cur.execute(_ACTIVE_JOB, params).fetchone()
            if row is not None:
                return row, False
            queued = cur.execute(_QUEUED_BY, params).fetchone()["n"]
            if queued >= JOB_MAX_QUEUED_PER_KEY:
                raise JobQueueFull(
                    f"{queued} scoring jobs of yours are queued already (at most {JOB_MAX_QUEUED_PER_KEY})"
                )
            row = cur.execute(_INSERT_JOB, params).fetchone()
            if row is not None:
                return row, True
    raise RuntimeError("could not queue or find the scoring job")


def get_job(conn: psycopg.Connection, job_id: int) -> dict | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_GET_JOB, {"id": job_id}).fetchone()


def claim_job(conn: psycopg.Connection) -> dict | None:
    """Mark the oldest queued job whose (year, methodology) has none running as running, and take its
    lease (a session advisory lock, kept after the commit). ``conn`` must be in autocommit mode and
    hold no other job lease. None when there is nothing to run (or another worker won the race)."""
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            job = cur.execute(_CLAIM_JOB).fetchone()
            if job is not None:
                # Taken before the commit makes the row 'running' for others: no moment without a lease.
                cur.execute(_TAKE_LEASE, {"lock_class": JOB_LOCK_CLASS, "id": job["id"]})
            return job
    except psycopg.errors.UniqueViolation:
        return None  # another worker started a job of the same year and methodology at the same moment


def release_job(conn: psycopg.Connection, job_id: int) -> None:
    conn.execute(_RELEASE_LEASE, {"lock_class": JOB_LOCK_CLASS, "id": job_id})


def finish_job(conn: psycopg.Connection, job_id: int, *, run_id: int | None, error: str | None) -> None:
    status = "done" if error is None else "failed"
    conn.execute(_FINISH_JOB, {"status": status, "run_id": run_id, "error": error, "id": job_id})


def requeue_orphans(conn: psycopg.Connection) -> list[int]:
    """Jobs left 'running' by a worker that is gone (no lease held): queued again, or failed after
    JOB_MAX_ATTEMPTS. ``conn`` (autocommit) must hold no job lease itself (leases are re-entrant)."""
    found: list[int] = []
    with conn.transaction():
        rows = conn.execute(_RUNNING_JOBS).fetchall()
        for job_id, attempts in rows:
            if not conn.execute(_TRY_LEASE, {"lock_class": JOB_LOCK_CLASS, "id": job_id}).fetchone()[0]:
                continue  # its worker still holds the lease: running
            if attempts >= JOB_MAX_ATTEMPTS:
                conn.execute(_FAIL_ORPHAN, {"id": job_id})
            else:
                conn.execute(_REQUEUE_ORPHAN, {"id": job_id})
            found.append(job_id)
    return found
