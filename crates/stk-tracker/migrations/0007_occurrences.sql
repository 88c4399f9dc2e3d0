-- stk-tracker schema, version 7: an event raised again before it was delivered (anomalies of
-- one kind on one attempt within a window) counts its occurrences instead of adding events.
ALTER TABLE stk_outbox ADD COLUMN occurrences BIGINT NOT NULL DEFAULT 1;
