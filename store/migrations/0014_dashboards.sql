-- Dashboards (issue 13): the holiday calendar as a table, and indexes that bound the panels' scans.
-- depends: 0005_ingest 0007_grafana_reader

-- One row per day of the years store/calendar.py knows; `jieneng db migrate` fills and updates it
-- from that module (store.calendar.sync), so SQL and the simulator share one calendar. A day not in
-- the table is a working day when it is Monday to Friday.
CREATE TABLE calendar_day (
    day      date PRIMARY KEY,
    workday  boolean NOT NULL,
    holiday  text
);

GRANT SELECT ON calendar_day TO jieneng_grafana;

-- Time-bounded reads across all meters (a province-wide panel, "All"): without these the panels'
-- time filters can only walk the (meter_id, time) primary keys end to end.
-- "Readings received" filters on received_at, which grows with insertion order: a BRIN index is a
-- few pages per million rows and costs ingest next to nothing.
CREATE INDEX reading_received_brin ON reading USING brin (received_at);
CREATE INDEX usage_hourly_hour_idx ON usage_hourly (hour);
CREATE INDEX usage_daily_day_idx ON usage_daily (day);
CREATE INDEX usage_monthly_month_idx ON usage_monthly (month);
