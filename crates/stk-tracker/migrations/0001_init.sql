-- stk-tracker schema, version 1. The same DDL runs on SQLite and PostgreSQL.
-- Times are Unix milliseconds; amounts whole shillings; raw callback bodies hex.
CREATE TABLE IF NOT EXISTS stk_attempts (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    reference TEXT NOT NULL,
    phone TEXT NOT NULL,
    amount BIGINT NOT NULL,
    payment_id TEXT,
    checkout_request_id TEXT,
    state TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deadline_at BIGINT NOT NULL,
    next_check_at BIGINT,
    check_count BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    lease_owner TEXT,
    lease_until BIGINT
);
-- One live (or paid) attempt per order, whatever the provider (a failover to another provider
-- while the first push's outcome is unknown could charge twice); failed attempts may be retried.
CREATE UNIQUE INDEX IF NOT EXISTS stk_attempts_one_live_per_order
    ON stk_attempts (reference) WHERE state <> 'failed';
CREATE INDEX IF NOT EXISTS stk_attempts_payment_id ON stk_attempts (provider, payment_id);
CREATE INDEX IF NOT EXISTS stk_attempts_checkout ON stk_attempts (provider, checkout_request_id);
CREATE INDEX IF NOT EXISTS stk_attempts_due ON stk_attempts (next_check_at);

CREATE TABLE IF NOT EXISTS stk_transitions (
    id TEXT PRIMARY KEY,
    attempt_id TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    source TEXT NOT NULL,
    evidence TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS stk_transitions_attempt ON stk_transitions (attempt_id, id);

CREATE TABLE IF NOT EXISTS stk_inbox (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    dedup_key TEXT NOT NULL UNIQUE,
    received_at BIGINT NOT NULL,
    target TEXT,
    headers TEXT NOT NULL,
    body TEXT NOT NULL,
    processed_at BIGINT,
    outcome TEXT,
    attempt_id TEXT,
    error TEXT,
    lease_owner TEXT,
    lease_until BIGINT
);
CREATE INDEX IF NOT EXISTS stk_inbox_unprocessed ON stk_inbox (processed_at, id);

CREATE TABLE IF NOT EXISTS stk_outbox (
    event_id TEXT PRIMARY KEY,
    attempt_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deliveries BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    delivered_at BIGINT,
    last_error TEXT,
    lease_owner TEXT,
    lease_until BIGINT
);
CREATE INDEX IF NOT EXISTS stk_outbox_due ON stk_outbox (delivered_at, next_attempt_at);
