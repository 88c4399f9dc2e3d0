//! Ids, de-duplication keys and the clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use sha2::{Digest, Sha256};

/// Unix time in milliseconds from the system clock.
pub(crate) fn unix_ms_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A new id that sorts by time: `<prefix>_<ms, 12 hex><random, 12 hex>`.
pub(crate) fn new_id(prefix: &str, at_ms: i64) -> String {
    format!(
        "{prefix}_{:012x}{:012x}",
        at_ms.max(0),
        fastrand::u64(..) & 0xffff_ffff_ffff
    )
}

/// The key under which identical re-deliveries of a callback are stored once.
pub(crate) fn dedup_key(provider: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(provider.as_bytes());
    hash.update([0]);
    hash.update(body);
    hex::encode(hash.finalize())
}

/// The tracker's clock (Unix milliseconds): the system's (advancing with tokio's clock, so a
/// paused runtime moves it), or a manual one that tests move by hand.
#[derive(Debug, Clone)]
pub struct Clock {
    source: ClockSource,
}

#[derive(Debug, Clone)]
enum ClockSource {
    System {
        epoch: tokio::time::Instant,
        epoch_unix_ms: i64,
    },
    Manual(Arc<AtomicI64>),
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self {
            source: ClockSource::System {
                epoch: tokio::time::Instant::now(),
                epoch_unix_ms: unix_ms_now(),
            },
        }
    }

    /// A clock that only moves with [`advance`](Self::advance), starting at the system time.
    pub fn manual() -> Self {
        Self {
            source: ClockSource::Manual(Arc::new(AtomicI64::new(unix_ms_now()))),
        }
    }

    /// Moves a manual clock (and every clone of it) forward; does nothing to the system clock.
    pub fn advance(&self, by: std::time::Duration) {
        if let ClockSource::Manual(now) = &self.source {
            let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
            now.fetch_add(by, Ordering::SeqCst);
        }
    }

    /// Now, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match &self.source {
            ClockSource::System {
                epoch,
                epoch_unix_ms,
            } => {
                let elapsed = i64::try_from(epoch.elapsed().as_millis()).unwrap_or(i64::MAX);
                epoch_unix_ms.saturating_add(elapsed)
            }
            ClockSource::Manual(now) => now.load(Ordering::SeqCst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_differ() {
        let a = new_id("att", 1_000);
        let b = new_id("att", 2_000);
        assert!(a < b);
        assert_ne!(new_id("att", 5), new_id("att", 5));
        assert_eq!(dedup_key("p", b"x"), dedup_key("p", b"x"));
        assert_ne!(dedup_key("p", b"x"), dedup_key("q", b"x"));
    }
}
