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
        cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (JOB_QUEUE_LOCK_CLASS, created_by))
        for _ in range(3):  # a job of the same inputs may finish between the INSERT and the SELECT
            row = cur.execute(
                f"SELECT {JOB_COLS} FROM scoring_job WHERE year = %(year)s"
                " AND coalesce(region_code, '') = coalesce(%(region)s, '') AND methodology_hash = %(hash)s"
                " AND status IN ('queued', 'running')",
                params,
            ).fetchone()
            if row is not None:
                return row, False
            queued = cur.execute(
                "SELECT count(*) AS n FROM scoring_job WHERE status = 'queued' AND created_by = %(by)s",
                params,
            ).fetchone()["n"]
            if queued >= JOB_MAX_QUEUED_PER_KEY:
                raise JobQueueFull(
                    f"{queued} scoring jobs of yours are queued already (at most {JOB_MAX_QUEUED_PER_KEY})"
                )
            row = cur.execute(
                f"INSERT INTO scoring_job (year, region_code, methodology_hash, created_by)"
                f" VALUES (%(year)s, %(region)s, %(hash)s, %(by)s) ON CONFLICT DO NOTHING RETURNING {JOB_COLS}",
                params,
            ).fetchone()
            if row is not None:
                return row, True
    raise RuntimeError("could not queue or find the scoring job")


def get_job(conn: psycopg.Connection, job_id: int) -> dict | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {JOB_COLS} FROM scoring_job WHERE id = %s", (job_id,)).fetchone()


def claim_job(conn: psycopg.Connection) -> dict | None:
    """Mark the oldest queued job whose (year, methodology) has none running as running, and take its
    lease (a session advisory lock, kept after the commit). ``conn`` must be in autocommit mode and
    hold no other job lease. None when there is nothing to run (or another worker won the race)."""
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            job = cur.execute(
                f"UPDATE scoring_job SET status = 'running', started_at = now(), attempts = attempts + 1"
                " WHERE id = (SELECT j.id FROM scoring_job j WHERE j.status = 'queued' AND NOT EXISTS"
                " (SELECT 1 FROM scoring_job r WHERE r.status = 'running' AND r.year = j.year"
                " AND r.methodology_hash = j.methodology_hash)"
                " ORDER BY j.id LIMIT 1 FOR UPDATE SKIP LOCKED)"
                f" RETURNING {JOB_COLS}"
            ).fetchone()
            if job is not None:
                # Taken before the commit makes the row 'running' for others: no moment without a lease.
                cur.execute("SELECT pg_advisory_lock(%s, %s::int)", (JOB_LOCK_CLASS, job["id"]))
            return job
    except psycopg.errors.UniqueViolation:
        return None  # another worker started a job of the same year and methodology at the same moment


def release_job(conn: psycopg.Connection, job_id: int) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s, %s::int)", (JOB_LOCK_CLASS, job_id))


def finish_job(conn: psycopg.Connection, job_id: int, *, run_id: int | None, error: str | None) -> None:
    conn.execute(
        "UPDATE scoring_job SET status = %s, run_id = %s, error = %s, finished_at = now() WHERE id = %s",
        ("done" if error is None else "failed", run_id, error, job_id),
    )


def requeue_orphans(conn: psycopg.Connection) -> list[int]:
    """Jobs left 'running' by a worker that is gone (no lease held): queued again, or failed after
    JOB_MAX_ATTEMPTS. ``conn`` (autocommit) must hold no job lease itself (leases are re-entrant)."""
    found: list[int] = []
    with conn.transaction():
        rows = conn.execute(
            "SELECT id, attempts FROM scoring_job WHERE status = 'running' ORDER BY id FOR UPDATE SKIP LOCKED"
        ).fetchall()
        for job_id, attempts in rows:
            if not conn.execute(
                "SELECT pg_try_advisory_xact_lock(%s, %s::int)", (JOB_LOCK_CLASS, job_id)
            ).fetchone()[0]:
                continue  # its worker still holds the lease: running
            if attempts >= JOB_MAX_ATTEMPTS:
                conn.execute(
                    "UPDATE scoring_job SET status = 'failed', finished_at = now(),"
                    " error = 'its worker stopped during each of ' || attempts || ' attempts' WHERE id = %s",
                    (job_id,),
                )
            else:
                conn.execute(
                    "UPDATE scoring_job SET status = 'queued', started_at = NULL WHERE id = %s", (job_id,)
                )
            found.append(job_id)
    return found
