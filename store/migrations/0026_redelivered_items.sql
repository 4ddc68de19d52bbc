-- The reading items of the messages counted as redelivered (issue 15, item 6). A message ingest has
-- committed before (ingest_message) is counted in `redelivered` only, so the items a waiting supervisor
-- counts (store/ingest_progress.py: readings + rejects) never included it: a backfill that published
-- the same bytes twice (a malformed message repeated, a resumed backfill over the same range) waited for
-- items that had all been stored or rejected. Their items are kept here, apart from the first sight's.
-- depends: 0009_ingest_poison

ALTER TABLE ingest_batch ADD COLUMN redelivered_items integer NOT NULL DEFAULT 0;
