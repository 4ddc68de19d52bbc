-- The reading items a batch's messages carried, each counted once per delivery, and a token that finds
-- the batch after a lost COMMIT reply.
-- What a waiting supervisor counts (store/ingest_progress.py) was readings + rejects, and neither counts
-- every item delivered: a message ingest has committed before (ingest_message) goes to `redelivered`
-- only, and `rejects` counts the reject rows written, so a message sent again after its key was pruned
-- (its reject rows stay) counts none of its rejects. A backfill that published the same bytes twice (a
-- malformed message repeated, a resumed backfill over the same range) waited for items that had all been
-- stored or rejected. A message rejected whole carries the items the parser counted in it (too many
-- items), what it was parsed into (refused by the database), or one when it held no countable item
-- (not JSON, too large).
-- NULL on batches committed before: their redelivered messages' items are not known, and filling the
-- column would rewrite the table under this migration's exclusive lock.
-- depends: 0009_ingest_poison

ALTER TABLE ingest_batch ADD COLUMN items integer;

-- A batch's own random id, written in its transaction: when the connection fails during its COMMIT,
-- ingest looks for this row (by committed_at and token, which the INSERT returned) to learn whether the
-- commit went through, rather than writing the batch again and counting it twice (ingest.writer.CommitUnknown).
ALTER TABLE ingest_batch ADD COLUMN token uuid;
