-- chunked_until: every hour before it has its chunks and 5-minute rollups written whole (compacted_until moves
-- before an hour is compacted, this one after). Reads take chunks before it and raw rows from it on, so an
-- hour is read from one tier only, and an hour a stopped maintenance run left half done is compacted again.
-- Installed databases start one hour behind compacted_until: the hour before it may have been mid-compaction.
ALTER TABLE history_state ADD COLUMN chunked_until timestamptz NOT NULL DEFAULT 'epoch';
UPDATE history_state SET chunked_until = greatest(timestamptz 'epoch', compacted_until - interval '1 hour');
