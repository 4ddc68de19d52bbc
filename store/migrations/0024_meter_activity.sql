-- Each meter's latest reading and its readings received per hour, kept by ingest as it writes
-- (issue 15, item 2). The meter-health panels and the silent-meter alert asked `reading` for them: one
-- index probe per meter for the latest reading (37,700 probes for the province's silent meters at 100x)
-- and a scan of every reading received in the range for the received counts (1.9-2.6 s for a province
-- week at 37,700 meters). These two small tables answer the same questions by meter.
-- depends: 0014_dashboards 0023_grafana_reader_no_jit

-- The reading with the greatest ts of each meter, as `reading` holds it: ORDER BY ts DESC LIMIT 1.
-- Kept when raw retention drops that reading (a meter silent for longer than raw data is kept still
-- shows when it last reported). No foreign key to meter: a registry change never waits on ingest here.
-- Updated in place by every batch, so pages keep room for HOT updates.
CREATE TABLE meter_last_reading (
    meter_id    text PRIMARY KEY,
    ts          timestamptz NOT NULL,
    received_at timestamptz NOT NULL
) WITH (fillfactor = 70);

-- count(*) of `reading` per meter and hour of received_at: hours from the epoch, as Grafana's
-- $__timeGroup buckets, whatever the session's time zone. Ingest statistics: pruned with ingest_batch
-- after JIENENG_STATS_RETENTION (ingest/retention.py). The count is in the key's index (INCLUDE): a
-- city's week is read by index-only scans (157 ms against 523 ms for 2,600 meters' 122,500 hours, whose
-- rows lie one to a page in arrival order), at the price of no HOT update for the few increments an hour
-- gets.
CREATE TABLE reading_received_hourly (
    meter_id  text NOT NULL,
    hour      timestamptz NOT NULL,
    readings  bigint NOT NULL CHECK (readings > 0),
    PRIMARY KEY (meter_id, hour) INCLUDE (readings)
);
CREATE INDEX reading_received_hourly_hour_idx ON reading_received_hourly (hour);

-- The hour of reading_received_hourly that a received_at falls in (inlined by the planner).
CREATE FUNCTION received_hour(received_at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT date_bin('1 hour', received_at, timestamptz '2000-01-01 00:00:00+00')
$$;

-- Readings just inserted into `reading` (the arrays are parallel: one element per new row) noted in
-- both tables. The ingest writer calls it once per batch, after every reading of the batch is in and
-- before the registry check, so its row locks come last; rows are locked in code-point order of
-- meter_id, the writer's lock order (ingest/writer.py), so two workers noting the same meters wait for
-- each other and never deadlock.
CREATE FUNCTION reading_summaries_add(meter_ids text[], ts timestamptz[], received timestamptz[])
RETURNS void LANGUAGE sql VOLATILE AS $$
    INSERT INTO meter_last_reading AS l (meter_id, ts, received_at)
    SELECT meter_id, ts, received_at FROM (
        SELECT DISTINCT ON (meter_id) meter_id, ts, received_at
        FROM unnest(meter_ids, ts, received) AS u(meter_id, ts, received_at)
        ORDER BY meter_id, ts DESC
    ) s ORDER BY meter_id COLLATE "C"
    ON CONFLICT (meter_id) DO UPDATE SET ts = EXCLUDED.ts, received_at = EXCLUDED.received_at
    WHERE l.ts < EXCLUDED.ts;

    INSERT INTO reading_received_hourly AS h (meter_id, hour, readings)
    SELECT meter_id, received_hour(received_at) AS hour, count(*)
    FROM unnest(meter_ids, received) AS u(meter_id, received_at)
    GROUP BY 1, 2 ORDER BY meter_id COLLATE "C", 2
    ON CONFLICT (meter_id, hour) DO UPDATE SET readings = h.readings + EXCLUDED.readings;
$$;

-- Both tables recomputed from `reading` for the given meters (received counts only for readings
-- received since ``received_since``, when given): for rows written into `reading` by anything but the
-- ingest writer, and for the first fill below. A meter with no reading left keeps its latest reading
-- (raw retention may have dropped them all). It locks both tables against ingest's writers and other
-- recounts first (SHARE ROW EXCLUSIVE: it waits for the batches noting now, and they wait for it):
-- deleting and inserting rows in its own order beside writers that lock them in theirs would deadlock.
-- PL/pgSQL, so that the LOCK is taken before the statements after it are planned: a SQL function plans
-- its whole body first, taking their weaker locks, and two recounts then deadlocked upgrading them.
CREATE FUNCTION reading_summaries_refresh(meter_ids text[], received_since timestamptz DEFAULT NULL)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    since timestamptz := coalesce(received_hour(received_since), '-infinity');
BEGIN
    LOCK TABLE meter_last_reading, reading_received_hourly IN SHARE ROW EXCLUSIVE MODE;
    -- The meters joined as a set: `= ANY(meter_ids)` tests each row against the whole array (a
    -- parameter's array is searched linearly: a province's 35,000 meters made the first fill hang).
    INSERT INTO meter_last_reading AS l (meter_id, ts, received_at)
    SELECT m.id, last.ts, last.received_at
    FROM (SELECT DISTINCT id FROM unnest(meter_ids) AS u(id)) m
    CROSS JOIN LATERAL (SELECT r.ts, r.received_at FROM reading r WHERE r.meter_id = m.id
                        ORDER BY r.ts DESC LIMIT 1) last
    ON CONFLICT (meter_id) DO UPDATE SET ts = EXCLUDED.ts, received_at = EXCLUDED.received_at;

    -- One bound, -infinity when none, so that `reading`'s BRIN index on received_at can serve it.
    DELETE FROM reading_received_hourly h USING (SELECT DISTINCT id FROM unnest(meter_ids) AS u(id)) m
    WHERE h.meter_id = m.id AND h.hour >= since;
    INSERT INTO reading_received_hourly (meter_id, hour, readings)
    SELECT r.meter_id, received_hour(r.received_at), count(*)
    FROM (SELECT DISTINCT id FROM unnest(meter_ids) AS u(id)) m JOIN reading r ON r.meter_id = m.id
    WHERE r.received_at >= since
    GROUP BY 1, 2;
END $$;

-- The first fill: every registered meter's latest reading (one probe a meter), and the received counts
-- of the last 7 days, the meter-health dashboard's default range (it reads every reading received in
-- them: 88 s for 7.3 million readings of 37,700 meters on two cores; older hours can be recounted later,
-- store/meter_activity.py: refresh).
-- (PERFORM in a DO block: a bare SELECT would print its result on every `db migrate`.)
DO $$ BEGIN PERFORM reading_summaries_refresh(ARRAY(SELECT id FROM meter), now() - interval '7 days'); END $$;

GRANT SELECT ON meter_last_reading, reading_received_hourly TO jieneng_grafana;
