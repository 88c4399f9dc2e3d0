-- stk-tracker schema, version 8: claiming the next event stays cheap with thousands waiting.
-- Undelivered events in delivery order (the claim scans in order and stops at its limit), and
-- an attempt's undelivered events (the claim's "no older event of this attempt waits" check).
CREATE INDEX IF NOT EXISTS stk_outbox_pending_order ON stk_outbox (delivered_at, created_at, event_id);
CREATE INDEX IF NOT EXISTS stk_outbox_attempt ON stk_outbox (attempt_id, delivered_at, created_at);
-- The old (delivered_at, next_attempt_at) index made the planner sort every waiting event.
DROP INDEX IF EXISTS stk_outbox_due;
