//! Events to user code: one per (attempt, final state) and per anomaly, written in the same
//! transaction as the transition, delivered until the handler acknowledges (at least once;
//! exactly once while nothing crashes mid-handler), also across restarts.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::TrackerError;
use crate::event::Event;
use crate::tracker::{Tracker, ms};

/// A handler's refusal: the event is delivered again later.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// User code that acts on events (fulfil the order, notify the customer). Return `Ok` only
/// once the effect is durable; use [`Event::event_id`] to make the effect idempotent.
#[async_trait]
pub trait EventHandler: Send + Sync {
    /// Handles one event.
    async fn handle(&self, event: &Event) -> Result<(), HandlerError>;
}

#[async_trait]
impl<F, Fut> EventHandler for F
where
    F: Fn(Event) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        self(event.clone()).await
    }
}

/// The longest wait between two deliveries of an event.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

/// How long to wait after the `deliveries`-th failed try: doubling from 1 s, capped at
/// [`MAX_RETRY_DELAY`], and only `spread` (0 to 1) of the second half of it, so that events
/// failed together (an app that was down) do not all come back at once.
fn retry_delay(deliveries: i64, spread: f64) -> Duration {
    let shift = u32::try_from(deliveries.clamp(0, 16)).unwrap_or(16);
    let full = Duration::from_secs(1 << shift).min(MAX_RETRY_DELAY);
    full / 2 + (full / 2).mul_f64(spread.clamp(0.0, 1.0))
}

impl Tracker {
    /// Delivers due events to `handler` (up to [`TrackerConfig::batch`]); returns how many
    /// were acknowledged. An attempt's events arrive in order, one after another; events of
    /// different attempts are handed over [`TrackerConfig::deliveries_at_once`] at a time.
    ///
    /// [`TrackerConfig::batch`]: crate::TrackerConfig::batch
    /// [`TrackerConfig::deliveries_at_once`]: crate::TrackerConfig::deliveries_at_once
    pub async fn deliver_events(&self, handler: &dyn EventHandler) -> Result<usize, TrackerError> {
        let config = &self.inner.config;
        let at_once = config.deliveries_at_once.max(1);
        let (mut handled, mut acknowledged) = (0, 0);
        // Claimed together and handled together: each claim's lease covers one handler call
        // running now, never events waiting behind a slow one (another instance would take
        // those over while they wait).
        while handled < config.batch {
            let claimed = self
                .inner
                .store
                .claim_events(&self.lease(), at_once.min(config.batch - handled))
                .await?;
            if claimed.is_empty() {
                break;
            }
            handled += i64::try_from(claimed.len()).unwrap_or(i64::MAX);
            let results =
                futures_util::future::join_all(claimed.iter().map(|e| handler.handle(e))).await;
            // Every event claimed is handled, none left leased unhandled.
            for (event, result) in claimed.into_iter().zip(results) {
                match result {
                    Ok(()) => {
                        self.inner
                            .store
                            .ack_event(&event.event_id, self.now())
                            .await?;
                        acknowledged += 1;
                    }
                    Err(e) => {
                        let backoff = retry_delay(event.deliveries, fastrand::f64());
                        let next = self.now().saturating_add(ms(backoff));
                        tracing::warn!(event = %event.event_id, error = %e, "the event handler failed; it will be delivered again");
                        self.inner
                            .store
                            .retry_event(&event.event_id, next, &e.to_string())
                            .await?;
                    }
                }
            }
        }
        Ok(acknowledged)
    }

    /// Runs the tracker's work until `shutdown` completes: processes stored callbacks (those
    /// left by a crash first), sweeps due attempts, prunes, and, concurrently, delivers events.
    /// Each wakes on new work and at least every `tick`. A handler that is slow or stuck holds
    /// up only delivery: callbacks are still received, stored and processed. On shutdown the
    /// round in progress finishes (an event handled is acknowledged), then it returns. Store
    /// failures are logged and retried; they never stop the loop.
    pub async fn run(
        &self,
        handler: &dyn EventHandler,
        tick: Duration,
        shutdown: impl Future<Output = ()>,
    ) {
        let stopping = std::sync::atomic::AtomicBool::new(false);
        let stop = tokio::sync::Notify::new();
        let stopped = || stopping.load(std::sync::atomic::Ordering::SeqCst);
        let work = async {
            while !stopped() {
                if self.work_once().await {
                    tokio::task::yield_now().await;
                    continue;
                }
                tokio::select! {
                    () = self.inner.work.notified() => {}
                    () = tokio::time::sleep(tick) => {}
                    () = stop.notified() => {}
                }
            }
        };
        let delivery = async {
            let batch = usize::try_from(self.inner.config.batch).unwrap_or(usize::MAX);
            while !stopped() {
                match self.deliver_events(handler).await {
                    Ok(n) if n >= batch => {
                        tokio::task::yield_now().await;
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "delivering events failed"),
                }
                tokio::select! {
                    () = self.inner.events.notified() => {}
                    () = tokio::time::sleep(tick) => {}
                    () = stop.notified() => {}
                }
            }
        };
        let watch = async {
            shutdown.await;
            stopping.store(true, std::sync::atomic::Ordering::SeqCst);
            stop.notify_waiters();
        };
        tokio::join!(work, delivery, watch);
    }

    /// One round of work, events included; `true` when a batch was full (more may be
    /// waiting).
    pub async fn run_once(&self, handler: &dyn EventHandler) -> bool {
        let batch = usize::try_from(self.inner.config.batch).unwrap_or(usize::MAX);
        let mut busy = self.work_once().await;
        match self.deliver_events(handler).await {
            Ok(n) => busy |= n >= batch,
            Err(e) => tracing::warn!(error = %e, "delivering events failed"),
        }
        busy
    }

    /// Callbacks, the sweep and pruning; `true` when a batch was full.
    async fn work_once(&self) -> bool {
        let batch = usize::try_from(self.inner.config.batch).unwrap_or(usize::MAX);
        let mut busy = false;
        match self.process_inbox().await {
            Ok(n) => busy |= n >= batch,
            Err(e) => tracing::warn!(error = %e, "processing callbacks failed"),
        }
        match self.sweep().await {
            Ok(report) => busy |= report.attempts >= batch,
            Err(e) => tracing::warn!(error = %e, "the sweep failed"),
        }
        let now = self.now();
        let last = self
            .inner
            .last_prune
            .load(std::sync::atomic::Ordering::Relaxed);
        if now.saturating_sub(last) >= ms(crate::retention::PRUNE_EVERY) {
            // A bounded round; the next rounds go on while more wait.
            let retention = self.inner.config.retention;
            match self
                .prune_round(retention, crate::retention::PRUNE_BATCHES_PER_ROUND)
                .await
            {
                Ok((pruned, more)) => {
                    if pruned > 0 {
                        tracing::info!(pruned, "processed callbacks pruned");
                    }
                    if !more {
                        self.inner
                            .last_prune
                            .store(now, std::sync::atomic::Ordering::Relaxed);
                    }
                    busy |= more;
                }
                Err(e) => {
                    // Tried again at the next hour, not every round.
                    self.inner
                        .last_prune
                        .store(now, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(error = %e, "pruning the inbox failed");
                }
            }
        }
        busy
    }
}

#[cfg(test)]
mod retry_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Half to all of the doubled delay, never more than the cap, never nothing.
        #[test]
        fn retries_back_off_with_jitter_and_a_cap(deliveries in -5i64..100, spread in 0.0f64..=1.0) {
            let delay = retry_delay(deliveries, spread);
            let full = Duration::from_secs(1 << deliveries.clamp(0, 16)).min(MAX_RETRY_DELAY);
            prop_assert!(delay >= full / 2 && delay <= full, "{delay:?} of {full:?}");
            prop_assert!(delay >= Duration::from_millis(500));
            prop_assert!(delay <= MAX_RETRY_DELAY);
            prop_assert!(retry_delay(deliveries + 1, spread) >= delay);
        }
    }
}
