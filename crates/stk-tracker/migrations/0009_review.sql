-- stk-tracker schema, version 9: searches and day tallies read attempts by creation time;
-- the review queue finds attempts with evidence to decide (anomalies, needs-review claims,
-- late payments) without reading every transition; a payment's page finds its callbacks.
CREATE INDEX IF NOT EXISTS stk_attempts_created ON stk_attempts (created_at, id);
CREATE INDEX IF NOT EXISTS stk_transitions_to ON stk_transitions (to_state, attempt_id);
CREATE INDEX IF NOT EXISTS stk_inbox_attempt ON stk_inbox (attempt_id);
