-- Each result's figures of its scored year as columns, each run's peer-group medians of them, and the format
-- of a run's details.
-- depends: 0025_result_strings 0007_grafana_reader
--
-- The institution dashboard compares an institution with the median of its peer group. Over the dashboard's
-- range that median needed every peer's usage of the range: it grew with the peer group (104 ms for one
-- institution at 100 times the example province against 2.7 ms at 1, bench/README.md), where an institution's
-- view must cost the same at any province size. Peers are compared as benchmarks compare buildings, on a whole
-- year: the run's scored year, with the figures the run scored (its inputs.current). A stored run never
-- changes, so its medians are computed once, when it is stored (store.scoring.insert_run), and the panel reads
-- one row. As the 0025 baseline columns, each figure as the canonical text rounds it.
ALTER TABLE scoring_result
    ADD COLUMN current_building_energy_kgce double precision,
    ADD COLUMN current_total_energy_kgce double precision,
    ADD COLUMN current_water_m3 double precision,
    ADD COLUMN current_floor_area_m2 double precision,
    ADD COLUMN current_occupants integer;

-- The figures are numbers, never a shared string's reference (store/result_detail.py: only string values
-- are), so the stored text reads as JSON as it is. A run stored before keeps its figures this way. Text may
-- hold the escape \u0000 (a methodology's string can), which jsonb refuses: read as another escape, since only
-- the numbers are taken.
UPDATE scoring_result r
SET current_building_energy_kgce = (c ->> 'building_energy_kgce')::double precision,
    current_total_energy_kgce = (c ->> 'total_energy_kgce')::double precision,
    current_water_m3 = (c ->> 'water_m3')::double precision,
    current_floor_area_m2 = (c ->> 'floor_area_m2')::double precision,
    current_occupants = (c ->> 'occupants')::numeric::integer
FROM (SELECT run_id, institution_id, replace(detail, '\u0000', '\ufffd')::jsonb #> '{inputs,current}' AS c
      FROM scoring_result) d
WHERE d.run_id = r.run_id AND d.institution_id = r.institution_id AND jsonb_typeof(d.c) = 'object';

-- Per run and peer group: how many results, and the medians (percentile_cont 0.5, missing figures left out) of
-- building energy per m², total energy per occupant and water per occupant (store.scoring.year_figures_sql).
CREATE TABLE scoring_run_peer (
    run_id                bigint NOT NULL REFERENCES scoring_run (id) ON DELETE CASCADE,
    peer_group            text NOT NULL,
    results               integer NOT NULL,
    kgce_m2_median        double precision,
    kgce_person_median    double precision,
    water_person_median   double precision,
    PRIMARY KEY (run_id, peer_group)
);

INSERT INTO scoring_run_peer (run_id, peer_group, results, kgce_m2_median, kgce_person_median, water_person_median)
SELECT f.run_id, f.peer_group, count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY f.kgce_m2),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY f.kgce_person),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY f.water_person)
FROM (SELECT r.run_id, r.peer_group,
             r.current_building_energy_kgce / nullif(r.current_floor_area_m2, 0) AS kgce_m2,
             r.current_total_energy_kgce / nullif(r.current_occupants, 0) AS kgce_person,
             r.current_water_m3 / nullif(r.current_occupants, 0) AS water_person
      FROM scoring_result r) f
GROUP BY f.run_id, f.peer_group;

GRANT SELECT ON scoring_run_peer TO jieneng_grafana;

-- The format of the run's details (scoring.canonical.DETAIL_FORMAT, a digest of the result model's schema) when
-- each is the canonical JSON the model's writer wrote: a reader of that format may pass a detail through as
-- the model's JSON instead of validating and dumping it (the report). NULL for runs stored before, and for
-- details given otherwise: they are validated.
ALTER TABLE scoring_run ADD COLUMN detail_format text;
