-- Reported usage: figures from institutions' annual statistics returns (公共机构能源资源消费统计) for years meters do not cover.
-- depends: 0007_grafana_reader
--
-- Meters report only from when they were installed; the baseline year (e.g. 2020) is known from what each
-- institution reported in its statistics return. Scoring uses these figures for an institution-year with no
-- meter usage (scoring/loader.py); meter data wins when it exists. Units are checked against the energy
-- type on import (store/codes.py ENERGY_UNITS), like meters'.

CREATE TABLE reported_usage (
    institution_id text NOT NULL REFERENCES institution (id) ON DELETE CASCADE,
    year           integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    energy_type    text NOT NULL CHECK (energy_type IN ('electricity', 'water', 'natural_gas', 'heat', 'steam',
                                                        'coal', 'gasoline', 'diesel', 'lpg', 'other')),
    end_use        text NOT NULL CHECK (end_use IN ('main', 'vehicle')),
    unit           text NOT NULL,
    quantity       double precision NOT NULL CHECK (quantity >= 0 AND quantity < 'Infinity'),
    source         text,
    PRIMARY KEY (institution_id, year, energy_type, end_use)
);

-- Dashboards may show reported years beside metered ones (same read-only role as 0007).
GRANT SELECT ON reported_usage TO jieneng_grafana;
