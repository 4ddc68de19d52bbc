-- Ingest: rejects and statistics idempotent per message, and payloads kept exactly when text cannot hold them.
-- depends: 0008_reported_usage

-- A message's identity is a hash of its topic and payload (ingest/writer.py: message_key). A message
-- the broker delivers again after its commit (a reconnect before the ack, a kill between commit and
-- ack, a commit whose outcome was unknown) finds its key here: its rows are written again harmlessly
-- (readings, conflicts and rejects are all unique per message) and it is counted as redelivered,
-- not as a new message. Pruned with the ingest statistics (JIENENG_STATS_RETENTION).
CREATE TABLE ingest_message (
    key          bytea PRIMARY KEY,
    committed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_message_committed_idx ON ingest_message (committed_at);

ALTER TABLE ingest_batch ADD COLUMN redelivered integer NOT NULL DEFAULT 0;

-- message_key + item (the reading's position in the message; -1 for the whole message) + reason
-- identify a reject, so a redelivered message records it once. payload_raw keeps the exact bytes
-- when the text in `payload` had to be escaped (a NUL, invalid UTF-8, a lone surrogate), and the
-- whole payload of a message the database refused (reason storage_error).
ALTER TABLE ingest_reject
    ADD COLUMN message_key bytea,
    ADD COLUMN item integer,
    ADD COLUMN payload_raw bytea;
CREATE UNIQUE INDEX ingest_reject_message_idx ON ingest_reject (message_key, coalesce(item, -1), reason)
    WHERE message_key IS NOT NULL;
