-- Expected reading interval and sub-meter accounting per meter; whether a school's occupants count its students.
-- depends: 0008_reported_usage
--
-- read_interval_s: seconds between the readings a meter is meant to send; coverage is judged against it.
--   NULL takes the default by kind (store/codes.py default_read_interval_s); 0 is event-based (one reading per
--   fill-up or delivery: no coverage to judge).
-- accounting: how a meter's use enters the totals beyond what end_use and parent_meter_id say.
--   own_supply: a sub-metering end use (e.g. a separately fed data centre, end_use special) with no parent: it
--   is its own supply and counted in the totals; excluded_area: a sub-meter of floor area the indicators
--   exclude (dormitories, leased-out space; 建筑面积 excludes them): its use is deducted from the totals.
--   NULL: main and vehicle meters without a parent are counted, sub-meters are inside their parent.
-- students_counted: yes when institution_year.occupants includes the students, no when it is staff only;
--   the methodology says which it scores schools by (scoring/methodologies/*.toml [occupants]).

ALTER TABLE meter ADD COLUMN read_interval_s integer CHECK (read_interval_s >= 0);
ALTER TABLE meter ADD COLUMN accounting text CHECK (accounting IN ('own_supply', 'excluded_area'));
ALTER TABLE meter ADD CONSTRAINT meter_accounting_parent CHECK (
    accounting IS NULL
    OR (accounting = 'own_supply' AND parent_meter_id IS NULL)
    OR (accounting = 'excluded_area' AND parent_meter_id IS NOT NULL));
ALTER TABLE institution_year ADD COLUMN students_counted text CHECK (students_counted IN ('yes', 'no'));
