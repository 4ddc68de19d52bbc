-- A run's repeated strings stored once, and its details as the canonical text (issue 15, item 4).
-- depends: 0003_scoring 0007_grafana_reader
--
-- Every institution's detail repeated the same strings (sources, labels, reasons): 18 KB of canonical JSON
-- per institution, 177 MB for a 10,000-institution run, each row compressed on its own. The stored form is
-- defined in store/result_detail.py: a string that an earlier institution of the run already held is written
-- as a reference to scoring_run_string, `encoded` being its JSON text exactly as the canonical JSON spells
-- it (quotes included, so a string with any character stores and expands byte for byte).
CREATE TABLE scoring_run_string (
    run_id   bigint NOT NULL REFERENCES scoring_run (id) ON DELETE CASCADE,
    n        integer NOT NULL,
    encoded  text NOT NULL,
    PRIMARY KEY (run_id, n)
);

-- The province dashboard's target line reads each result's baseline (its building energy and floor area)
-- from the run. As columns, the detail needs no parsing anywhere in SQL: it becomes text, which PostgreSQL
-- stores without parsing it as jsonb (about half of a run's store time) and returns byte for byte, so the
-- stored results can be checked against results_hash. Both figures as the canonical text rounds them.
ALTER TABLE scoring_result
    ADD COLUMN baseline_building_energy_kgce double precision,
    ADD COLUMN baseline_floor_area_m2 double precision;

UPDATE scoring_result
SET baseline_building_energy_kgce = (detail #>> '{inputs,baseline,building_energy_kgce}')::double precision,
    baseline_floor_area_m2 = (detail #>> '{inputs,baseline,floor_area_m2}')::double precision
WHERE detail #>> '{inputs,baseline,building_energy_kgce}' IS NOT NULL
   OR detail #>> '{inputs,baseline,floor_area_m2}' IS NOT NULL;

-- A run stored before this migration keeps its detail as jsonb wrote it (and has no strings). The rewrite
-- holds scoring_result locked (about 0.3 ms a row measured, docs/design.md); it compresses with lz4 where the
-- server has it, as runs are stored (store/scoring.py).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
        PERFORM set_config('default_toast_compression', 'lz4', true);
    END IF;
END $$;
ALTER TABLE scoring_result ALTER COLUMN detail TYPE text USING detail::text;
