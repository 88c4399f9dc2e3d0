//! The fake provider's settings from environment variables, as the real providers' are.

use std::time::Duration;

use stk_core::Error;

use crate::{MockProvider, NAME};

/// `STK_MOCK_DELAY_MS` (time to the result, default 2000) and `STK_MOCK_SEED` (ids and
/// receipts; default: from the clock, so separate runs do not reuse payment ids).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockConfig {
    /// Time from the push to its result.
    pub delay: Duration,
    /// The seed of ids and receipts.
    pub seed: u64,
}

impl MockConfig {
    /// Reads `STK_MOCK_DELAY_MS` and `STK_MOCK_SEED` through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let read = |var: &str, what: &str| -> Result<Option<u64>, Error> {
            match lookup(var) {
                Some(v) if !v.trim().is_empty() => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| Error::config(NAME, format!("{var}={v:?} is not {what}"))),
                _ => Ok(None),
            }
        };
        Ok(Self {
            delay: Duration::from_millis(
                read("STK_MOCK_DELAY_MS", "a number of milliseconds")?.unwrap_or(2000),
            ),
            seed: read("STK_MOCK_SEED", "a whole number")?.unwrap_or_else(seed_from_clock),
        })
    }
}

impl MockProvider {
    /// The fake provider these settings describe (never fails; a `Result` like the real
    /// providers' constructors).
    pub fn from_config(config: MockConfig) -> Result<Self, Error> {
        Ok(Self::builder()
            .delay(config.delay)
            .seed(config.seed)
            .build())
    }
}

/// A different seed per process.
fn seed_from_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x5EED)
        // Processes started in the same instant still differ.
        ^ u64::from(std::process::id()).rotate_left(40)
}
