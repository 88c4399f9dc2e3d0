-- stk-tracker schema, version 9: the review queue finds attempts with evidence to decide
-- (anomalies, needs-review claims) without reading every transition.
CREATE INDEX IF NOT EXISTS stk_transitions_review ON stk_transitions (to_state, attempt_id)
    WHERE to_state IN ('anomaly', 'needs_review');
