-- Usage rollups (docs/design.md §3, §4). Consumption is in the meter's unit with the multiplier applied.
-- Days and months are calendar buckets in the deployment time zone recorded in deployment_setting.
-- depends: 0001_core

CREATE TABLE deployment_setting (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE usage_hourly (
    meter_id    text NOT NULL REFERENCES meter (id),
    hour        timestamptz NOT NULL,            -- start of the hour (UTC-aligned hours are local hours in +08:00)
    consumption double precision NOT NULL,
    PRIMARY KEY (meter_id, hour)
);

CREATE TABLE usage_daily (
    meter_id    text NOT NULL REFERENCES meter (id),
    day         date NOT NULL,                   -- local calendar day
    consumption double precision NOT NULL,
    PRIMARY KEY (meter_id, day)
);

CREATE TABLE usage_monthly (
    meter_id    text NOT NULL REFERENCES meter (id),
    month       date NOT NULL,                   -- first day of the local calendar month
    consumption double precision NOT NULL,
    PRIMARY KEY (meter_id, month)
);
