-- stk-tracker schema, version 5: callbacks refused before storage (not this provider's
-- callback, or not verifiable) are counted by reason, with the latest one's excerpt: enough
-- to diagnose a provider that changed its format, never the flood itself.
CREATE TABLE IF NOT EXISTS stk_refused (
    provider TEXT NOT NULL,
    reason TEXT NOT NULL,
    count BIGINT NOT NULL,
    first_at BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    sample TEXT NOT NULL,
    PRIMARY KEY (provider, reason)
);
