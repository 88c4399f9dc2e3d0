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
        // those over while they wait). Each event is acknowledged as soon as it is handled.
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
            // A state event may be claimed beside an older anomaly or review of its attempt
            // (it never waits behind one that is failing): an attempt's events still go one
            // after another, oldest first.
            let mut by_attempt: Vec<Vec<Event>> = Vec::new();
            for event in claimed {
                match by_attempt
                    .iter_mut()
                    .find(|g| g[0].attempt_id == event.attempt_id)
                {
                    Some(group) => group.push(event),
                    None => by_attempt.push(vec![event]),
                }
            }
            let outcomes = futures_util::future::join_all(
                by_attempt
                    .iter()
                    .map(|events| self.deliver_in_order(handler, events)),
            )
            .await;
            // Every event claimed is handled and recorded before a store error is returned.
            let mut failed = None;
            for (acked, error) in outcomes {
                acknowledged += acked;
                if let Some(e) = error {
                    failed.get_or_insert(e);
                }
            }
            if let Some(e) = failed {
                return Err(e.into());
            }
        }
        Ok(acknowledged)
    }

    /// Hands one attempt's claimed events to `handler` one after another, recording each
    /// answer at once; how many were acknowledged, and the first store error.
    async fn deliver_in_order(
        &self,
        handler: &dyn EventHandler,
        events: &[Event],
    ) -> (usize, Option<crate::store::StoreError>) {
        let (mut acknowledged, mut failed) = (0, None);
        for event in events {
            let recorded = match handler.handle(event).await {
                Ok(()) => {
                    let acked = self
                        .inner
                        .store
                        .ack_event(&event.event_id, self.now())
                        .await;
                    acknowledged += usize::from(acked.is_ok());
                    acked
                }
                Err(e) => {
                    let backoff = retry_delay(event.deliveries, fastrand::f64());
                    let next = self.now().saturating_add(ms(backoff));
                    tracing::warn!(event = %event.event_id, error = %e, "the event handler failed; it will be delivered again");
                    self.inner
                        .store
                        .retry_event(&event.event_id, next, &e.to_string())
                        .await
                }
            };
            if let Err(e) = recorded {
                failed.get_or_insert(e);
            }
        }
        (acknowledged, failed)
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

#[cfg(test)]
mod order_tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::event::AnomalyKind;
    use crate::{SqlStore, Tracker};

    /// Records when each event's handling starts and ends, yielding in between.
    #[derive(Default)]
    struct Steps(Mutex<Vec<String>>);

    #[async_trait]
    impl EventHandler for Steps {
        async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
            let kind = event.kind.name();
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("start {kind}"));
            for _ in 0..5 {
                tokio::task::yield_now().await;
            }
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("end {kind}"));
            Ok(())
        }
    }

    /// A completion claimed beside an older anomaly of its attempt (one claim, several at
    /// once) is still handed over after it, never beside it.
    #[tokio::test]
    async fn one_attempts_events_are_handled_one_after_another() {
        let path = std::env::temp_dir().join(format!("stk-order-{}.db", fastrand::u64(..)));
        let store = SqlStore::open_sqlite(&path).await.expect("store");
        let mock = stk_mock::MockProvider::builder()
            .delay(Duration::from_millis(50))
            .build();
        let tracker = Tracker::builder(Arc::new(store))
            .provider(Arc::new(mock))
            .build();
        let request = stk_core::StkPushRequest::builder()
            .phone("0712345678")
            .amount(100)
            .reference("ORDER-1")
            .build()
            .expect("request");
        let attempt = tracker.push(&request).await.expect("pushed");
        tracker
            .anomaly(&attempt, AnomalyKind::AmountMismatch, serde_json::json!({}))
            .await
            .expect("anomaly");
        let mut completed = tracker.check(&attempt.id).await.expect("checked");
        for _ in 0..100 {
            if completed.state == crate::AttemptState::Completed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            completed = tracker.check(&attempt.id).await.expect("checked");
        }
        assert_eq!(completed.state, crate::AttemptState::Completed);
        let steps = Steps::default();
        assert_eq!(tracker.deliver_events(&steps).await.expect("delivered"), 2);
        let steps = steps.0.into_inner().unwrap_or_else(|e| e.into_inner());
        assert_eq!(
            steps,
            [
                "start anomaly",
                "end anomaly",
                "start completed",
                "end completed"
            ]
        );
        let _ = std::fs::remove_file(&path);
    }
}
