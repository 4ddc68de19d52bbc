"""The scoring worker: a thread in the API process that runs queued scoring jobs one after another.

Several API processes may each run one; the database decides who runs what (store.scoring_jobs:
claim with FOR UPDATE SKIP LOCKED, one running job per year and methodology, a lease per job). A
job and the run it stores commit together, so a worker that dies leaves no half-stored run, and its
job is queued again by the next worker that looks.
"""

from __future__ import annotations

import logging
import threading

import psycopg

from store import scoring_jobs

log = logging.getLogger("api.jobs")


class JobWorker:
    def __init__(self, database_url: str, *, methodology_path: str | None, poll_s: float = 2.0):
        self.database_url = database_url
        self.methodology_path = methodology_path
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="scoring-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the job in hand (a job cut off here is queued again by the next worker)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._close()

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                while not self._stop.is_set() and self.run_once():
                    pass
            except psycopg.OperationalError as exc:
                log.warning("scoring worker: database unavailable (%s); retrying", exc)
                self._close()
            except Exception:
                log.exception("scoring worker: unexpected error; retrying")
                self._close()
            self._wake.wait(self.poll_s)
            self._wake.clear()

    # --- one step ----------------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.database_url, autocommit=True, application_name="jieneng-api-jobs"
            )
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # closing a broken connection may fail; it is gone either way
                pass
            self._conn = None

    def run_once(self) -> bool:
        """Requeue orphans, then claim and run one job; False when there was none to run."""
        conn = self._connection()
        for job_id in scoring_jobs.requeue_orphans(conn):
            log.warning("scoring job %s: its worker stopped; queued again", job_id)
        job = scoring_jobs.claim_job(conn)
        if job is None:
            return False
        try:
            self._run(conn, job)
        finally:
            if not conn.closed:
                scoring_jobs.release_job(conn, job["id"])
        return True

    def _run(self, conn: psycopg.Connection, job: dict) -> None:
        from scoring.methodology import MethodologyError, load_methodology
        from scoring.runner import run_scoring

        job_id = job["id"]
        log.info("scoring job %s: year %s region %s", job_id, job["year"], job["region_code"] or "all")
        try:
            if load_methodology(self.methodology_path).hash != job["methodology_hash"]:
                raise MethodologyError(
                    "the methodology file changed since the job was queued; start the run again"
                )
            with conn.transaction():  # the run and the job's outcome commit together
                run_id = run_scoring(
                    conn,
                    year=job["year"],
                    methodology_path=self.methodology_path,
                    region_code=job["region_code"],
                    created_by=job["created_by"],
                )
                scoring_jobs.finish_job(conn, job_id, run_id=run_id, error=None)
        except (MethodologyError, ValueError) as exc:
            log.error("scoring job %s failed: %s", job_id, exc)
            scoring_jobs.finish_job(conn, job_id, run_id=None, error=str(exc))
            return
        except psycopg.OperationalError:
            raise  # the database went away: the job stays 'running' without a lease and is requeued
        except Exception as exc:
            log.exception("scoring job %s failed", job_id)
            scoring_jobs.finish_job(conn, job_id, run_id=None, error=f"internal error: {type(exc).__name__}")
            return
        log.info("scoring job %s: run %s stored", job_id, run_id)
