-- stk-tracker schema, version 4: one provider payment pays at most one attempt, in the data.
-- A provider payment id belongs to one attempt; a receipt to one completed attempt.
DROP INDEX IF EXISTS stk_attempts_payment_id;
CREATE UNIQUE INDEX IF NOT EXISTS stk_attempts_one_per_payment_id
    ON stk_attempts (provider, payment_id) WHERE payment_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS stk_attempts_one_per_receipt
    ON stk_attempts (provider, receipt) WHERE receipt IS NOT NULL AND state = 'completed';
