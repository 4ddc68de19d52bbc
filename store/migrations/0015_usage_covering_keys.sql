-- Usage rollups read by index alone (issue 15). The rollup writes each hour's (or day's) rows for
-- all meters together, so one meter's rows lie one to a heap page: an institution's month of hourly
-- usage was some 720 page reads per meter, and at province size those pages are rarely cached.
-- With the consumption inside the primary key's index, an institution's series is a few contiguous
-- index pages (index-only scans; the visibility map is kept by autovacuum), whatever the province's
-- size. The index grows by the 8-byte value per row; rebuilding it locks the table once.
-- depends: 0002_usage

ALTER TABLE usage_hourly
    DROP CONSTRAINT usage_hourly_pkey,
    ADD CONSTRAINT usage_hourly_pkey PRIMARY KEY (meter_id, hour) INCLUDE (consumption);

ALTER TABLE usage_daily
    DROP CONSTRAINT usage_daily_pkey,
    ADD CONSTRAINT usage_daily_pkey PRIMARY KEY (meter_id, day) INCLUDE (consumption);

ALTER TABLE usage_monthly
    DROP CONSTRAINT usage_monthly_pkey,
    ADD CONSTRAINT usage_monthly_pkey PRIMARY KEY (meter_id, month) INCLUDE (consumption);
