//! Bounded storage: processed callbacks and delivered events are pruned after
//! [`TrackerConfig::retention`] (the evidence that moved an attempt stays in its transition),
//! and a provider's backlog of
//! unprocessed callbacks is capped at [`TrackerConfig::max_unprocessed`]: beyond it new
//! callbacks are answered 503 (the provider retries), never stored and then lost.
//!
//! [`TrackerConfig::retention`]: crate::TrackerConfig::retention
//! [`TrackerConfig::max_unprocessed`]: crate::TrackerConfig::max_unprocessed

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::TrackerError;
use crate::tracker::{Tracker, ms};

/// Rows deleted per statement while pruning.
const PRUNE_BATCH: i64 = 1_000;
/// Statements per pruning round of `run`, so a large backlog never stalls callbacks.
pub(crate) const PRUNE_BATCHES_PER_ROUND: u64 = 10;
/// How often `run` prunes.
pub(crate) const PRUNE_EVERY: Duration = Duration::from_secs(3_600);
/// How long a backlog count is trusted (a count per callback would cost more than the flood).
const BACKLOG_FRESH: Duration = Duration::from_secs(1);

/// Per provider: when its backlog was last counted, and the count since (plus the callbacks
/// this instance accepted after it).
#[derive(Default)]
pub(crate) struct Backlog {
    counted: Mutex<HashMap<&'static str, (Instant, i64)>>,
    /// Callbacks answered 503 because the backlog was full.
    pub(crate) refused: std::sync::atomic::AtomicU64,
}

impl Backlog {
    /// The estimate, if fresh; counts one more accepted callback when it is under `cap`.
    fn admit(&self, provider: &'static str, cap: i64) -> Option<bool> {
        let mut counted = self
            .counted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (at, waiting) = counted.get_mut(provider)?;
        if at.elapsed() >= BACKLOG_FRESH {
            return None;
        }
        if *waiting >= cap {
            return Some(false);
        }
        *waiting += 1;
        Some(true)
    }

    fn recount(&self, provider: &'static str, waiting: i64) {
        self.counted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(provider, (Instant::now(), waiting));
    }
}

impl Tracker {
    /// Deletes the callbacks processed, and the events delivered, longer than the configured
    /// retention ago; returns how many callbacks.
    pub async fn prune(&self) -> Result<u64, TrackerError> {
        self.prune_older_than(self.inner.config.retention).await
    }

    /// Deletes the callbacks processed, and the events delivered, longer than `age` ago;
    /// returns how many callbacks.
    pub async fn prune_older_than(&self, age: Duration) -> Result<u64, TrackerError> {
        let mut pruned = 0;
        loop {
            let (done, more) = self.prune_round(age, u64::MAX).await?;
            pruned += done;
            if !more {
                return Ok(pruned);
            }
        }
    }

    /// At most `batches` deletions of old processed callbacks and as many of old delivered
    /// events: (callbacks deleted, whether more of either wait).
    pub(crate) async fn prune_round(
        &self,
        age: Duration,
        batches: u64,
    ) -> Result<(u64, bool), TrackerError> {
        let before = self.now().saturating_sub(ms(age));
        let full = u64::try_from(PRUNE_BATCH).unwrap_or(u64::MAX);
        let mut events_left = true;
        for _ in 0..batches {
            let done = self.inner.store.prune_events(before, PRUNE_BATCH).await?;
            if done < full {
                events_left = false;
                break;
            }
        }
        let mut pruned = 0;
        for _ in 0..batches {
            let done = self.inner.store.prune_inbox(before, PRUNE_BATCH).await?;
            pruned += done;
            if done < full {
                return Ok((pruned, events_left));
            }
        }
        Ok((pruned, true))
    }

    /// Refuses a callback when `provider`'s backlog is full.
    pub(crate) async fn check_backlog(&self, provider: &'static str) -> Result<(), TrackerError> {
        let cap = self.inner.config.max_unprocessed;
        let backlog = &self.inner.backlog;
        let admitted = match backlog.admit(provider, cap) {
            Some(admitted) => admitted,
            None => {
                let waiting = self.inner.store.unprocessed(provider, cap).await?;
                backlog.recount(provider, waiting);
                backlog.admit(provider, cap).unwrap_or(waiting < cap)
            }
        };
        if !admitted {
            backlog
                .refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(provider, cap, "callback backlog full: answering 503");
            return Err(TrackerError::Overloaded { provider });
        }
        Ok(())
    }
}
