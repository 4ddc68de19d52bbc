-- Verified savings (issue 16): daily weather per city, retrofit/contract projects, baseline models fitted on
-- a named baseline period, and the savings computed from them (docs/savings.md).
-- depends: 0005_ingest 0007_grafana_reader

-- Daily mean outdoor air temperature per region (the 13 Jiangsu cities to start), as imported
-- (`jieneng weather import`) or produced by the simulator for the demo.
CREATE TABLE weather_daily (
    region_code text NOT NULL REFERENCES region (code),
    day         date NOT NULL,                      -- local calendar day
    mean_temp_c double precision NOT NULL CHECK (mean_temp_c BETWEEN -60 AND 60),
    source      text,
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (region_code, day)
);

-- A retrofit, an energy-performance contract (合同能源管理) or an energy trusteeship (能源托管): registry file
-- projects.csv. Periods are local calendar days, both ends included.
CREATE TABLE project (
    id             text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    institution_id text NOT NULL REFERENCES institution (id),
    kind           text NOT NULL CHECK (kind IN ('retrofit', 'epc', 'trusteeship')),
    name           text NOT NULL,
    energy_types   text NOT NULL,                   -- ';'-separated energy type codes
    meter_ids      text,                            -- ';'-separated; empty: the institution's main meters
    baseline_from  date NOT NULL,
    baseline_to    date NOT NULL,
    install_from   date NOT NULL,
    install_to     date NOT NULL,
    reporting_from date NOT NULL,
    reporting_to   date NOT NULL,
    description    text,
    contract_ref   text,
    prices         text,                            -- 'electricity=0.68;natural_gas=3.4' (yuan per canonical unit)
    CHECK (baseline_from <= baseline_to AND baseline_to < install_from AND install_from <= install_to
           AND install_to < reporting_from AND reporting_from <= reporting_to)
);
CREATE INDEX project_institution_idx ON project (institution_id);

-- Every fitted baseline model, kept: parameters and fit statistics with the methodology and data they came
-- from (sha256 of the methodology file and of the daily input rows), so a fit can be repeated and compared.
CREATE TABLE baseline_model (
    id                 bigserial PRIMARY KEY,
    project_id         text NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    energy_type        text NOT NULL,
    unit               text NOT NULL,
    baseline_from      date NOT NULL,
    baseline_to        date NOT NULL,
    method             text NOT NULL,
    methodology_sha256 text NOT NULL,
    data_sha256        text NOT NULL,
    params             jsonb NOT NULL,              -- segments, each with its candidate model and coefficients
    n_days             integer NOT NULL,
    n_parameters       integer NOT NULL,
    r2_adj             double precision,
    cvrmse             double precision,
    nmbe               double precision,
    autocorr_lag1      double precision,
    fitted_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX baseline_model_project_idx ON baseline_model (project_id, energy_type, fitted_at);

-- The latest savings of each project and energy type, and their daily rows (what the XLSX export and the
-- dashboard show). Recomputing replaces them.
CREATE TABLE savings_result (
    project_id            text NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    energy_type           text NOT NULL,
    unit                  text NOT NULL,
    model_id              bigint REFERENCES baseline_model (id) ON DELETE CASCADE,
    reporting_from        date NOT NULL,
    reporting_to          date NOT NULL,
    reporting_days        integer,
    predicted             double precision,
    metered               double precision,
    avoided               double precision,
    avoided_uncertainty   double precision,   -- half-width at confidence_level (ASHRAE Guideline 14 FSU)
    confidence_level      double precision,
    avoided_kgce          double precision,
    avoided_cost_yuan     double precision,
    previous_year_metered double precision,            -- the same days one year earlier, as metered
    year_on_year_change   double precision,            -- metered / previous_year_metered - 1 (same days)
    hdd                   double precision,            -- reporting days, on the methodology's report base
    cdd                   double precision,
    previous_year_hdd     double precision,            -- the same days one year earlier
    previous_year_cdd     double precision,
    status                text NOT NULL DEFAULT 'ok',  -- ok | insufficient: no figure, reasons say why
    reasons               text[] NOT NULL DEFAULT '{}',
    computed_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, energy_type)
);

CREATE TABLE savings_daily (
    project_id  text NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    energy_type text NOT NULL,
    day         date NOT NULL,
    mean_temp_c double precision NOT NULL,
    hdd         double precision NOT NULL,
    cdd         double precision NOT NULL,
    workday     boolean NOT NULL,
    predicted   double precision NOT NULL,
    metered     double precision,                      -- NULL: no complete metered day
    avoided     double precision,
    PRIMARY KEY (project_id, energy_type, day)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'jieneng_grafana') THEN
        GRANT SELECT ON weather_daily, project, baseline_model, savings_result, savings_daily TO jieneng_grafana;
    END IF;
END $$;
