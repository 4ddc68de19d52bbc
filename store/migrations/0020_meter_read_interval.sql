-- Each meter's expected reading interval in SQL, by the one rule of store/codes.py (issue 13, item 12).
-- depends: 0013_meter_interval_accounting_students 0014_dashboards
--
-- meter.read_interval_s NULL means "the default for its kind" (store.codes.default_read_interval_s). SQL
-- readers (the silent-meter alert and the meter-health panels) need that default too; rather than a second
-- copy of the rule, `jieneng db migrate` fills meter_interval_default from the Python rule for every
-- (energy type, end use, register) the meter table allows (store/intervals.py sync), and
-- meter_read_interval_s() applies it.

CREATE TABLE meter_interval_default (
    energy_type      text NOT NULL,
    end_use          text NOT NULL,
    register         text NOT NULL,
    read_interval_s  integer NOT NULL CHECK (read_interval_s >= 0),
    PRIMARY KEY (energy_type, end_use, register)
);

GRANT SELECT ON meter_interval_default TO jieneng_grafana;

-- The registry value when set, else the default for the meter's kind; 0 is event-based (no expected
-- interval). NULL only for a kind the defaults table does not hold (a database not yet synced).
CREATE FUNCTION meter_read_interval_s(read_interval_s integer, energy_type text, end_use text, register text)
RETURNS integer LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce($1, (SELECT d.read_interval_s FROM meter_interval_default d
                         WHERE d.energy_type = $2 AND d.end_use = $3 AND d.register = $4))
$$;
