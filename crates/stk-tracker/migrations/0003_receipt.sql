-- stk-tracker schema, version 3: the receipt of a completed attempt, kept on the attempt
-- (filled in for existing completions from their evidence; duplicates are reported as anomaly
-- events, see `SqlStore::repair_duplicates`).
ALTER TABLE stk_attempts ADD COLUMN receipt TEXT;
