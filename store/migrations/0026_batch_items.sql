-- The reading items a batch's messages carried, each counted once per delivery (issue 15, item 6).
-- What a waiting supervisor counts (store/ingest_progress.py) was readings + rejects, and neither counts
-- every item delivered: a message ingest has committed before (ingest_message) goes to `redelivered`
-- only, and `rejects` counts the reject rows written, so a message sent again after its key was pruned
-- (its reject rows stay) counts none of its rejects. A backfill that published the same bytes twice (a
-- malformed message repeated, a resumed backfill over the same range) waited for items that had all been
-- stored or rejected. A message rejected whole (not JSON, too large, refused by the database) carries
-- the items it was parsed into, one when it could not be parsed.
-- depends: 0009_ingest_poison

ALTER TABLE ingest_batch ADD COLUMN items integer NOT NULL DEFAULT 0;
-- Batches committed before: what was counted then (their redelivered messages' items are not known).
UPDATE ingest_batch SET items = readings + rejects;
