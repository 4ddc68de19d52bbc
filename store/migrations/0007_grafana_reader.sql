-- Read-only role for Grafana (issue 7): SELECT on the tables the dashboards and alert rules read, nothing else.
-- depends: 0003_scoring
--
-- NOLOGIN here: the role is cluster-wide and migrations carry no secrets. A deployment gives it a
-- password and LOGIN once (docker-compose's grafana-reader step, or by hand, see docs/dashboards.md):
--   ALTER ROLE jieneng_grafana LOGIN PASSWORD '…';
-- Not granted: api_key, report_access, scoring_run.methodology_text and the other tables Grafana
-- has no use for (API key hashes stay out of reach of anyone with dashboard-edit rights).

DO $$
DECLARE
    t text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'jieneng_grafana') THEN
        CREATE ROLE jieneng_grafana NOLOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO jieneng_grafana', current_database());
    GRANT USAGE ON SCHEMA public TO jieneng_grafana;
    -- Tables of later migrations (0005 ingest bookkeeping) are granted when present, so this
    -- migration depends only on the core schema.
    FOREACH t IN ARRAY ARRAY[
        'region', 'institution', 'institution_year', 'meter', 'reading', 'ingest_reject',
        'deployment_setting', 'usage_hourly', 'usage_daily', 'usage_monthly',
        'scoring_result', 'assessed_item',
        'reading_conflict', 'usage_quarantine', 'usage_counter_event', 'usage_dirty',
        'ingest_batch', 'rollup_run', 'usage_yearly', 'usage_daily_by_institution',
        'usage_monthly_by_institution', 'usage_yearly_by_institution'
    ] LOOP
        IF to_regclass(format('public.%I', t)) IS NOT NULL THEN
            EXECUTE format('GRANT SELECT ON public.%I TO jieneng_grafana', t);
        END IF;
    END LOOP;
    -- scoring_run without methodology_text (large, and not for dashboards).
    GRANT SELECT (id, year, region_code, methodology_name, methodology_version, methodology_hash,
                  results_hash, created_at, created_by) ON scoring_run TO jieneng_grafana;
END $$;
