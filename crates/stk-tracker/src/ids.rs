//! Ids, de-duplication keys and the clock.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};

/// Unix time in milliseconds from the system clock.
pub(crate) fn unix_ms_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A new id that sorts by time, then, within one millisecond, by creation in this process:
/// `<prefix>_<ms, 12 hex><sequence, 12 hex>`. The sequence starts at a random point (below
/// 2^47, so it never wraps), so ids made by several processes do not collide; ids made by
/// different processes in the same millisecond sort in no particular order.
pub(crate) fn new_id(prefix: &str, at_ms: i64) -> String {
    static SEQUENCE: OnceLock<AtomicU64> = OnceLock::new();
    let sequence = SEQUENCE.get_or_init(|| AtomicU64::new(fastrand::u64(..1 << 47)));
    format!(
        "{prefix}_{:012x}{:012x}",
        at_ms.max(0),
        sequence.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff_ffff
    )
}

/// The key under which identical re-deliveries of a callback (same provider, target and body)
/// are stored once. The target counts: a copy without the URL's secret token must not shadow
/// the genuine callback.
pub(crate) fn dedup_key(provider: &str, target: Option<&str>, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(provider.as_bytes());
    hash.update([0]);
    hash.update(target.unwrap_or("").as_bytes());
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
        // Within one millisecond, in the order they were made (transitions list in order).
        let same_ms: Vec<String> = (0..100).map(|_| new_id("tr", 7)).collect();
        assert!(same_ms.windows(2).all(|w| w[0] < w[1]), "{same_ms:?}");
        assert_eq!(dedup_key("p", None, b"x"), dedup_key("p", None, b"x"));
        assert_ne!(dedup_key("p", None, b"x"), dedup_key("q", None, b"x"));
        assert_ne!(
            dedup_key("p", Some("/p?token=t"), b"x"),
            dedup_key("p", Some("/p"), b"x")
        );
    }
}
