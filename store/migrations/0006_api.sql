-- API keys (stored hashed) and the report access log (docs/design.md §7, issue 6).
-- depends: 0003_scoring

CREATE TABLE api_key (
    id              bigserial PRIMARY KEY,
    prefix          text NOT NULL UNIQUE CHECK (prefix ~ '^[a-z0-9]{8,16}$'),
    secret_sha256   text NOT NULL,                 -- hex digest of the secret part; the secret is shown once
    name            text NOT NULL,
    role            text NOT NULL CHECK (role IN ('admin', 'assessor', 'city_assessor', 'institution')),
    region_code     text REFERENCES region (code),
    institution_id  text REFERENCES institution (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    CHECK (role <> 'city_assessor' OR region_code IS NOT NULL),
    CHECK (role <> 'institution' OR institution_id IS NOT NULL),
    CHECK (role IN ('city_assessor', 'institution') OR (region_code IS NULL AND institution_id IS NULL))
);

-- Every report or ranking pull: who, what, when.
CREATE TABLE report_access (
    id              bigserial PRIMARY KEY,
    accessed_at     timestamptz NOT NULL DEFAULT now(),
    api_key_id      bigint REFERENCES api_key (id),
    key_name        text NOT NULL,
    role            text NOT NULL,
    resource        text NOT NULL,                 -- 'report', 'ranking'
    institution_id  text,
    run_id          bigint,
    year            integer,
    format          text NOT NULL,
    path            text NOT NULL
);
CREATE INDEX report_access_at_idx ON report_access (accessed_at);
CREATE INDEX report_access_key_idx ON report_access (api_key_id, accessed_at);

-- Rankings pages (GET /v1/runs/{id}/rankings, ordered by province rank): an index-only scan finds the
-- page's institutions, including deep OFFSETs and a city assessor's region filter, without reading
-- the wide result rows it skips.
CREATE INDEX scoring_result_page_idx ON scoring_result (run_id, rank_province, institution_id)
    INCLUDE (region_code, category, eligible);
