-- Meter configuration over time (issue 10): multiplier, rollover, register kind, unit and maximum rate
-- with the instant each takes effect, so that a current transformer changed on a given day changes usage
-- from that day on, and a change recomputes exactly the usage it affects.
-- depends: 0005_ingest
--
-- `meter` keeps the current configuration (the latest period) and `meter.config_from`, the instant it
-- took effect (NULL: from the beginning). A trigger on `meter` keeps `meter_config` in step with it,
-- whoever writes the row (registry import, the API, SQL): the row's configuration replaces every
-- period from config_from on, earlier periods stay. The earliest period also covers the time before
-- it. The trigger queues in `usage_dirty` each span whose configuration changed, clipped to the
-- meter's readings; a change of the current unit (the unit usage is reported in) queues everything.

CREATE TABLE meter_config (
    meter_id       text NOT NULL REFERENCES meter (id) ON DELETE CASCADE,
    valid_from     timestamptz NOT NULL,             -- '-infinity': from the beginning
    unit           text NOT NULL,                    -- the register's unit in this period
    register       text NOT NULL CHECK (register IN ('cumulative', 'interval')),
    multiplier     double precision NOT NULL CHECK (multiplier > 0),
    rollover       double precision CHECK (rollover > 0),
    max_rate_per_h double precision CHECK (max_rate_per_h > 0),
    PRIMARY KEY (meter_id, valid_from)
);

ALTER TABLE meter ADD COLUMN config_from timestamptz;

INSERT INTO meter_config (meter_id, valid_from, unit, register, multiplier, rollover, max_rate_per_h)
SELECT id, '-infinity', unit, register, multiplier, rollover, max_rate_per_h FROM meter;

-- The period in force at ``t``: the latest that starts at or before it, else the earliest.
CREATE FUNCTION meter_config_at(h meter_config[], t timestamptz) RETURNS meter_config
LANGUAGE sql IMMUTABLE AS $$
    SELECT c FROM unnest(h) AS c
    ORDER BY (c.valid_from <= t) DESC, CASE WHEN c.valid_from <= t THEN c.valid_from END DESC, c.valid_from
    LIMIT 1
$$;

-- The spans [lo, hi) over which two histories put different configurations in force.
CREATE FUNCTION meter_config_changes(old_h meter_config[], new_h meter_config[])
RETURNS TABLE (lo timestamptz, hi timestamptz) LANGUAGE sql IMMUTABLE AS $$
    WITH b AS (
        SELECT '-infinity'::timestamptz AS t
        UNION SELECT valid_from FROM unnest(old_h) WHERE valid_from > (SELECT min(valid_from) FROM unnest(old_h))
        UNION SELECT valid_from FROM unnest(new_h) WHERE valid_from > (SELECT min(valid_from) FROM unnest(new_h))
    ), seg AS (
        SELECT t AS lo, lead(t, 1, 'infinity') OVER (ORDER BY t) AS hi,
               meter_config_at(old_h, t) AS a, meter_config_at(new_h, t) AS n
        FROM b
    )
    SELECT lo, hi FROM seg
    WHERE (a).meter_id IS NULL
       OR ((a).unit, (a).register, (a).multiplier, (a).rollover, (a).max_rate_per_h)
          IS DISTINCT FROM ((n).unit, (n).register, (n).multiplier, (n).rollover, (n).max_rate_per_h)
$$;

CREATE FUNCTION meter_config_follow() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    vf timestamptz := coalesce(NEW.config_from, '-infinity');
    old_h meter_config[];
    new_h meter_config[];
BEGIN
    IF TG_OP = 'UPDATE' AND
        (OLD.unit, OLD.register, OLD.multiplier, OLD.rollover, OLD.max_rate_per_h, OLD.config_from)
        IS NOT DISTINCT FROM
        (NEW.unit, NEW.register, NEW.multiplier, NEW.rollover, NEW.max_rate_per_h, NEW.config_from) THEN
        RETURN NULL;
    END IF;
    old_h := ARRAY(SELECT c FROM meter_config c WHERE c.meter_id = NEW.id ORDER BY c.valid_from);
    DELETE FROM meter_config WHERE meter_id = NEW.id AND valid_from >= vf;
    INSERT INTO meter_config (meter_id, valid_from, unit, register, multiplier, rollover, max_rate_per_h)
    VALUES (NEW.id, vf, NEW.unit, NEW.register, NEW.multiplier, NEW.rollover, NEW.max_rate_per_h);
    new_h := ARRAY(SELECT c FROM meter_config c WHERE c.meter_id = NEW.id ORDER BY c.valid_from);
    -- Usage is reported in the current unit: when it changes, every hour changes.
    INSERT INTO usage_dirty (meter_id, ts_min, ts_max)
    SELECT NEW.id, greatest(ch.lo, r.first_ts), least(ch.hi, r.last_ts)
    FROM (SELECT '-infinity'::timestamptz, 'infinity'::timestamptz
          WHERE TG_OP = 'UPDATE' AND OLD.unit IS DISTINCT FROM NEW.unit
          UNION ALL
          SELECT c.lo, c.hi FROM meter_config_changes(old_h, new_h) c
          WHERE TG_OP = 'INSERT' OR OLD.unit IS NOT DISTINCT FROM NEW.unit) AS ch (lo, hi),
         (SELECT min(ts) AS first_ts, max(ts) AS last_ts FROM reading WHERE meter_id = NEW.id) AS r
    WHERE r.first_ts IS NOT NULL AND greatest(ch.lo, r.first_ts) <= least(ch.hi, r.last_ts);
    RETURN NULL;
END $$;

CREATE TRIGGER meter_config_follow AFTER INSERT OR UPDATE ON meter
    FOR EACH ROW EXECUTE FUNCTION meter_config_follow();

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'jieneng_grafana') THEN
        GRANT SELECT ON meter_config TO jieneng_grafana;
    END IF;
END $$;
