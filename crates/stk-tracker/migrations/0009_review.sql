-- stk-tracker schema, version 9: the review queue finds attempts with evidence to decide
-- (anomalies, needs-review claims, late payments) without reading every transition; a
-- payment's page finds the callbacks matched to it.
CREATE INDEX IF NOT EXISTS stk_transitions_to ON stk_transitions (to_state, attempt_id);
CREATE INDEX IF NOT EXISTS stk_inbox_attempt ON stk_inbox (attempt_id);
