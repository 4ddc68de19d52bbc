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

-- Keys may expire (NULL: never).
ALTER TABLE api_key ADD COLUMN expires_at timestamptz;

-- The access log records every pull of personal or registry data and every refusal (401/403), not
-- only reports and rankings: a refusal may have no key (key_name and role NULL).
ALTER TABLE report_access ALTER COLUMN key_name DROP NOT NULL;
ALTER TABLE report_access ALTER COLUMN role DROP NOT NULL;
ALTER TABLE report_access ADD COLUMN status smallint NOT NULL DEFAULT 200;
ALTER TABLE report_access ADD COLUMN client_addr text;
CREATE INDEX report_access_refused_idx ON report_access (accessed_at) WHERE status >= 400;
