-- Scoring runs and assessed items (docs/design.md §6).
-- depends: 0002_usage

CREATE TABLE scoring_run (
    id                   bigserial PRIMARY KEY,
    year                 integer NOT NULL,
    region_code          text REFERENCES region (code),
    methodology_name     text NOT NULL,
    methodology_version  text NOT NULL,
    methodology_hash     text NOT NULL,
    methodology_text     text NOT NULL,          -- the file as used, so a run can be recomputed years later
    results_hash         text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    created_by           text NOT NULL
);
CREATE INDEX scoring_run_year_idx ON scoring_run (year, created_at DESC);

CREATE TABLE scoring_result (
    run_id          bigint NOT NULL REFERENCES scoring_run (id) ON DELETE CASCADE,
    institution_id  text NOT NULL REFERENCES institution (id),
    region_code     text NOT NULL,
    category        text NOT NULL,
    peer_group      text NOT NULL,
    total_points    double precision,
    eligible        boolean NOT NULL,
    leader          boolean NOT NULL DEFAULT false,
    rank_peer       integer,
    rank_city       integer,
    rank_province   integer,
    vetoes          jsonb NOT NULL DEFAULT '[]',
    detail          jsonb NOT NULL,              -- every input, indicator, block and reason
    PRIMARY KEY (run_id, institution_id)
);
CREATE INDEX scoring_result_rank_idx ON scoring_result (run_id, rank_province);
CREATE INDEX scoring_result_region_idx ON scoring_result (run_id, region_code);

CREATE TABLE assessed_item (
    institution_id  text NOT NULL REFERENCES institution (id),
    year            integer NOT NULL,
    item_code       text NOT NULL,
    points          double precision NOT NULL CHECK (points >= 0),
    evidence        text,
    entered_by      text NOT NULL,
    entered_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (institution_id, year, item_code)
);

CREATE TABLE assessed_item_audit (
    id              bigserial PRIMARY KEY,
    institution_id  text NOT NULL,
    year            integer NOT NULL,
    item_code       text NOT NULL,
    old_points      double precision,
    new_points      double precision,
    old_evidence    text,
    new_evidence    text,
    changed_by      text NOT NULL,
    changed_at      timestamptz NOT NULL DEFAULT now()
);
