-- Scoring as a job (issue 12): POST /v1/runs queues, a worker in the API process scores.
-- depends: 0006_api
--
-- One queued-or-running job per (year, region, methodology): asking again for the same inputs gets
-- the same job. One running job per (year, methodology): two runs of one year never overlap. A
-- worker holds a session advisory lock on the job it runs, so a job left 'running' by a worker that
-- died (its lock gone with its connection) is found and queued again.

CREATE TABLE scoring_job (
    id                bigserial PRIMARY KEY,
    year              integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    region_code       text REFERENCES region (code),
    methodology_hash  text NOT NULL,
    status            text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    run_id            bigint REFERENCES scoring_run (id) ON DELETE SET NULL,
    error             text,
    attempts          integer NOT NULL DEFAULT 0,
    created_by        text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    CHECK (status <> 'done' OR run_id IS NOT NULL)
);
CREATE UNIQUE INDEX scoring_job_same_inputs ON scoring_job (year, coalesce(region_code, ''), methodology_hash)
    WHERE status IN ('queued', 'running');
CREATE UNIQUE INDEX scoring_job_one_running ON scoring_job (year, methodology_hash) WHERE status = 'running';
CREATE INDEX scoring_job_queued_idx ON scoring_job (id) WHERE status = 'queued';
