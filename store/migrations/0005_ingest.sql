-- Ingest bookkeeping: conflicts, quarantine, touched meter-hours queue, batch statistics, registry version.
-- depends: 0003_scoring

-- A repeat of (meter_id, ts) with a different value: the first value stays in `reading`, the rest here.
-- Unique so a message redelivered after a crash records its conflict once.
CREATE TABLE reading_conflict (
    meter_id     text NOT NULL REFERENCES meter (id),
    ts           timestamptz NOT NULL,
    stored_value double precision NOT NULL,
    new_value    double precision NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    topic        text,
    UNIQUE (meter_id, ts, new_value)
);
CREATE INDEX reading_conflict_received_idx ON reading_conflict (received_at);

-- Increments held out of usage because they imply more than the meter's max_rate_per_h (docs/design.md §4).
-- Rewritten by the rollup for the hours it recomputes, so it always matches the stored readings.
CREATE TABLE usage_quarantine (
    meter_id    text NOT NULL REFERENCES meter (id),
    ts_from     timestamptz NOT NULL,
    ts_to       timestamptz NOT NULL,
    increment   double precision NOT NULL,
    reason      text NOT NULL,
    detected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_id, ts_from, ts_to)
);
CREATE INDEX usage_quarantine_to_idx ON usage_quarantine (meter_id, ts_to);

-- Counter resets and rollovers seen between consecutive readings, kept beside the quarantine.
CREATE TABLE usage_counter_event (
    meter_id text NOT NULL REFERENCES meter (id),
    ts_from  timestamptz NOT NULL,
    ts_to    timestamptz NOT NULL,
    kind     text NOT NULL CHECK (kind IN ('reset', 'rollover')),
    PRIMARY KEY (meter_id, ts_from, ts_to)
);

-- Meter-time ranges whose readings changed, written in the ingest transaction; the rollup step
-- recomputes exactly the hours these ranges (with their neighbouring readings) touch, then deletes them.
CREATE TABLE usage_dirty (
    id        bigserial PRIMARY KEY,
    meter_id  text NOT NULL,
    ts_min    timestamptz NOT NULL,
    ts_max    timestamptz NOT NULL,
    queued_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- One row per committed ingest batch (the "Ingest operations" dashboard).
CREATE TABLE ingest_batch (
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    messages     integer NOT NULL,
    readings     integer NOT NULL,
    inserted     integer NOT NULL,
    duplicates   integer NOT NULL,
    conflicts    integer NOT NULL,
    rejects      integer NOT NULL,
    commit_ms    double precision
);
CREATE INDEX ingest_batch_committed_idx ON ingest_batch (committed_at);

CREATE TABLE rollup_run (
    finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    meter_hours integer NOT NULL,
    lag_s       double precision
);
CREATE INDEX rollup_run_finished_idx ON rollup_run (finished_at);

-- Bumped by any change to the registry, so ingest workers know to reload their meter cache.
CREATE TABLE registry_version (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint NOT NULL
);
INSERT INTO registry_version (id, version) VALUES (true, 1);

CREATE FUNCTION bump_registry_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE registry_version SET version = version + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER meter_registry_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON meter
    FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version();
CREATE TRIGGER institution_registry_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON institution
    FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version();

-- Above the hour: usage per institution and energy type, and per year, in the deployment time zone.
CREATE VIEW usage_yearly AS
    SELECT meter_id, date_trunc('year', month)::date AS year, sum(consumption) AS consumption
    FROM usage_monthly GROUP BY meter_id, date_trunc('year', month);

CREATE VIEW usage_daily_by_institution AS
    SELECT m.institution_id, m.energy_type, m.end_use, m.unit, d.day, sum(d.consumption) AS consumption
    FROM usage_daily d JOIN meter m ON m.id = d.meter_id
    GROUP BY m.institution_id, m.energy_type, m.end_use, m.unit, d.day;

CREATE VIEW usage_monthly_by_institution AS
    SELECT m.institution_id, m.energy_type, m.end_use, m.unit, u.month, sum(u.consumption) AS consumption
    FROM usage_monthly u JOIN meter m ON m.id = u.meter_id
    GROUP BY m.institution_id, m.energy_type, m.end_use, m.unit, u.month;

CREATE VIEW usage_yearly_by_institution AS
    SELECT m.institution_id, m.energy_type, m.end_use, m.unit, y.year, sum(y.consumption) AS consumption
    FROM usage_yearly y JOIN meter m ON m.id = y.meter_id
    GROUP BY m.institution_id, m.energy_type, m.end_use, m.unit, y.year;
