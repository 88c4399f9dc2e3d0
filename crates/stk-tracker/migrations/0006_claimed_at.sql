-- stk-tracker schema, version 6: when a final claim about an attempt arrived that the
-- provider's status did not confirm yet (status endpoints lag callbacks): the attempt is then
-- re-checked 1, 3, 7, 15 and 31 s after it, before the sweeper's backoff.
ALTER TABLE stk_attempts ADD COLUMN claimed_at BIGINT;
