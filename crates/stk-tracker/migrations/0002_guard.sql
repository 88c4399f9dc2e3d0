-- The abuse guard's failure counts, shared by every instance (stk_core::GuardStore).
CREATE TABLE IF NOT EXISTS stk_guard_runs (
    phone TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS stk_guard_runs_phone ON stk_guard_runs (phone, at);
CREATE TABLE IF NOT EXISTS stk_guard_account (
    at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS stk_guard_account_at ON stk_guard_account (at);
