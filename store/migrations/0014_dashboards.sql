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
