-- Core registry and raw data. docs/design.md §3.
-- depends:

CREATE TABLE region (
    code        text PRIMARY KEY CHECK (code ~ '^[0-9]{6}$'),   -- GB/T 2260
    name        text NOT NULL,
    level       text NOT NULL CHECK (level IN ('province', 'city', 'county')),
    parent_code text REFERENCES region (code)
);

INSERT INTO region (code, name, level, parent_code) VALUES
    ('320000', '江苏省', 'province', NULL),
    ('320100', '南京市', 'city', '320000'),
    ('320200', '无锡市', 'city', '320000'),
    ('320300', '徐州市', 'city', '320000'),
    ('320400', '常州市', 'city', '320000'),
    ('320500', '苏州市', 'city', '320000'),
    ('320600', '南通市', 'city', '320000'),
    ('320700', '连云港市', 'city', '320000'),
    ('320800', '淮安市', 'city', '320000'),
    ('320900', '盐城市', 'city', '320000'),
    ('321000', '扬州市', 'city', '320000'),
    ('321100', '镇江市', 'city', '320000'),
    ('321200', '泰州市', 'city', '320000'),
    ('321300', '宿迁市', 'city', '320000');

CREATE TABLE institution (
    id            text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    name          text NOT NULL,
    category      text NOT NULL CHECK (category IN ('government', 'school', 'hospital', 'venue', 'other')),
    sub_kind      text,
    admin_level   text NOT NULL CHECK (admin_level IN ('province', 'city', 'county', 'township')),
    region_code   text NOT NULL REFERENCES region (code),
    climate_zone  text NOT NULL CHECK (climate_zone IN ('cold', 'hot_summer_cold_winter')),
    baseline_year integer,
    address       text
);
CREATE INDEX institution_region_idx ON institution (region_code);

CREATE TABLE institution_year (
    institution_id text NOT NULL REFERENCES institution (id) ON DELETE CASCADE,
    year           integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    floor_area_m2  double precision NOT NULL CHECK (floor_area_m2 > 0),
    occupants      integer NOT NULL CHECK (occupants > 0),
    PRIMARY KEY (institution_id, year)
);

CREATE TABLE meter (
    id               text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    institution_id   text NOT NULL REFERENCES institution (id),
    name             text,
    energy_type      text NOT NULL CHECK (energy_type IN ('electricity', 'water', 'natural_gas', 'heat', 'steam',
                                                          'coal', 'gasoline', 'diesel', 'lpg', 'other')),
    unit             text NOT NULL,
    register         text NOT NULL CHECK (register IN ('cumulative', 'interval')),
    end_use          text NOT NULL CHECK (end_use IN ('main', 'lighting_sockets', 'hvac', 'power', 'special', 'vehicle')),
    parent_meter_id  text REFERENCES meter (id),
    multiplier       double precision NOT NULL DEFAULT 1 CHECK (multiplier > 0),
    rollover         double precision CHECK (rollover > 0),
    max_rate_per_h   double precision CHECK (max_rate_per_h > 0),
    installed_at     timestamptz NOT NULL,
    retired_at       timestamptz,
    CHECK (retired_at IS NULL OR retired_at > installed_at)
);
CREATE INDEX meter_institution_idx ON meter (institution_id);

-- Raw readings as meters sent them, in the meter's unit, before the multiplier.
-- A repeat of (meter_id, ts) keeps the first value (assessment data is never silently overwritten).
CREATE TABLE reading (
    meter_id    text NOT NULL REFERENCES meter (id),
    ts          timestamptz NOT NULL,
    value       double precision NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_id, ts)
);

-- Every refused MQTT message or reading, with why. Operators query this by name.
CREATE TABLE ingest_reject (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text,
    payload     text,
    reason      text NOT NULL,
    detail      text,
    meter_id    text
);
CREATE INDEX ingest_reject_received_idx ON ingest_reject (received_at);
CREATE INDEX ingest_reject_meter_idx ON ingest_reject (meter_id, received_at);
