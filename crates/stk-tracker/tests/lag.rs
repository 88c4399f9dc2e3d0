//! When the provider's status disagrees with its callback (issue 18): status endpoints lag
//! their callbacks by seconds, and M-Pesa reports some payments failed, then paid. A final
//! claim the status does not confirm yet is re-checked 1 s after it arrived, 2 s later, then
//! every 2.5 s for a minute, then on the sweeper's usual backoff: a payment whose status lags
//! by L ≤ 60 s is recorded within L + 2.5 s, not at the next 30 s round. The fake provider (its status
//! held back by hand), a real SQLite file, the tracker's clock moved by hand.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use stk_core::{
    AmountLimits, CallbackClaim, CallbackRequest, Error, Failure, FailureReason, PaymentId,
    PaymentStatus, PushAccepted, StatusReport, StkProvider, StkPushRequest, async_trait,
};
use stk_mock::MockProvider;
use stk_tracker::{AnomalyKind, Attempt, AttemptState, Clock, EventKind, SqlStore, Tracker};

/// The fake provider; while `lagging`, its status says "pending" (or, with `says_failed`,
/// "failed: timeout"). Push answers say "accepted": the result comes later.
#[derive(Debug)]
struct Lagging {
    mock: MockProvider,
    lagging: AtomicBool,
    says_failed: bool,
}

#[async_trait]
impl StkProvider for Lagging {
    fn name(&self) -> &'static str {
        self.mock.name()
    }
    fn limits(&self) -> AmountLimits {
        self.mock.limits()
    }
    async fn initiate(&self, request: &StkPushRequest) -> Result<PushAccepted, Error> {
        let mut accepted = self.mock.initiate(request).await?;
        accepted.status = PaymentStatus::Pending;
        Ok(accepted)
    }
    async fn status(&self, id: &PaymentId) -> Result<PaymentStatus, Error> {
        self.status_report(id).await.map(|r| r.status)
    }
    async fn status_report(&self, id: &PaymentId) -> Result<StatusReport, Error> {
        let mut report = self.mock.status_report(id).await?;
        if self.lagging.load(Ordering::SeqCst) {
            report.status = if self.says_failed {
                PaymentStatus::Failed(Failure::new(FailureReason::Timeout))
            } else {
                PaymentStatus::Pending
            };
        }
        Ok(report)
    }
    fn parse_callback(&self, callback: &CallbackRequest) -> Result<CallbackClaim, Error> {
        self.mock.parse_callback(callback)
    }
}

/// A tracker over [`Lagging`] (lagging) on its own SQLite file, its clock manual.
struct Rig {
    tracker: Tracker,
    provider: Arc<Lagging>,
    clock: Clock,
    dir: std::path::PathBuf,
}

impl Rig {
    async fn new(says_failed: bool) -> Self {
        Self::with_config(says_failed, stk_tracker::TrackerConfig::default()).await
    }

    async fn with_config(says_failed: bool, config: stk_tracker::TrackerConfig) -> Self {
        let dir = std::env::temp_dir().join(format!("stk-lag-{}", fastrand::u64(..)));
        let store = SqlStore::open_sqlite(&dir.join("p.db")).await.unwrap();
        let provider = Arc::new(Lagging {
            mock: MockProvider::builder()
                .delay(Duration::ZERO)
                .callback_token("t")
                .build(),
            lagging: AtomicBool::new(true),
            says_failed,
        });
        let clock = Clock::manual();
        let tracker = Tracker::builder(Arc::new(store))
            .provider(provider.clone())
            .clock(clock.clone())
            .config(config)
            .build();
        Self {
            tracker,
            provider,
            clock,
            dir,
        }
    }

    async fn push(&self, reference: &str) -> (Attempt, PaymentId) {
        let request = StkPushRequest::builder()
            .phone("0712345678")
            .amount(100)
            .reference(reference)
            .build()
            .unwrap();
        let attempt = self.tracker.push(&request).await.unwrap();
        let id = PaymentId::new(attempt.payment_id.clone().unwrap());
        (attempt, id)
    }

    /// The provider's own callback about `id` (it says what the payment really is), processed.
    async fn callback(&self, id: &PaymentId) {
        let callback = self.provider.mock.callback_for(id).unwrap();
        self.tracker.receive("mock", callback).await.unwrap();
        while self.tracker.process_inbox().await.unwrap() > 0 {}
    }

    async fn attempt(&self, id: &str) -> Attempt {
        self.tracker.attempt(id).await.unwrap()
    }

    fn advance_to(&self, at: i64) {
        let now = self.clock.now_ms();
        self.clock
            .advance(Duration::from_millis(u64::try_from(at - now).unwrap()));
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn an_unconfirmed_final_claim_is_rechecked_within_seconds() {
    let rig = Rig::new(false).await;
    let (attempt, id) = rig.push("LAG-1").await;

    // The provider's callback says completed; its status still says pending.
    let claimed_at = rig.clock.now_ms();
    rig.callback(&id).await;
    let noted = rig.attempt(&attempt.id).await;
    assert_eq!(noted.claimed_at, Some(claimed_at));
    assert_eq!(
        noted.next_check_at,
        Some(claimed_at + 1_000),
        "first look after 1 s"
    );

    // 1, 2 and 2.5 s apart while the status lags.
    for at in [1_000, 3_000] {
        rig.advance_to(claimed_at + at - 500);
        assert_eq!(rig.tracker.sweep().await.unwrap().queries, 0, "not due yet");
        rig.advance_to(claimed_at + at);
        let report = rig.tracker.sweep().await.unwrap();
        assert_eq!(report.queries, 1, "due at claim + {at} ms");
        let after = rig.attempt(&attempt.id).await;
        assert!(after.state.is_open());
        let next = [1_000, 3_000, 5_500].into_iter().find(|t| *t > at).unwrap();
        assert_eq!(after.next_check_at, Some(claimed_at + next));
    }

    // The status catches up (lag of about 5 s): recorded at the next look, claim + 5.5 s.
    rig.provider.lagging.store(false, Ordering::SeqCst);
    rig.advance_to(claimed_at + 5_500);
    rig.tracker.sweep().await.unwrap();
    let done = rig.attempt(&attempt.id).await;
    assert_eq!(done.state, AttemptState::Completed);
    assert_eq!(done.next_check_at, None);
}

#[tokio::test]
async fn a_long_lag_falls_back_to_the_usual_backoff() {
    let rig = Rig::new(false).await;
    let (attempt, id) = rig.push("LAG-2").await;
    let claimed_at = rig.clock.now_ms();
    rig.callback(&id).await;

    // 25 quick looks in the first 60.5 s, then no more than the sweeper's backoff.
    let mut queries = 0;
    for _ in 0..121 {
        rig.clock.advance(Duration::from_millis(500));
        queries += rig.tracker.sweep().await.unwrap().queries;
    }
    assert_eq!(rig.clock.now_ms(), claimed_at + 60_500);
    assert_eq!(queries, 25);
    let after = rig.attempt(&attempt.id).await;
    assert!(
        after.next_check_at.unwrap() >= claimed_at + 60_500 + 30_000,
        "{after:?}"
    );
}

/// The status says "failed (timeout)" while the callback says paid: the attempt is failed on
/// the provider's word, and looked at again within seconds; when the status catches up it is
/// completed (paid late).
#[tokio::test]
async fn a_completion_claim_on_a_failed_status_is_rechecked() {
    let rig = Rig::new(true).await;
    let (attempt, id) = rig.push("LAG-3").await;
    let claimed_at = rig.clock.now_ms();
    rig.callback(&id).await;
    let failed = rig.attempt(&attempt.id).await;
    assert_eq!(failed.state, AttemptState::Failed, "on the provider's word");
    assert_eq!(failed.next_check_at, Some(claimed_at + 1_000));

    rig.advance_to(claimed_at + 1_000);
    assert_eq!(rig.tracker.sweep().await.unwrap().queries, 1);
    rig.provider.lagging.store(false, Ordering::SeqCst);
    rig.advance_to(claimed_at + 3_000);
    assert_eq!(rig.tracker.sweep().await.unwrap().queries, 1);
    let done = rig.attempt(&attempt.id).await;
    assert_eq!(done.state, AttemptState::Completed, "paid late");
    assert_eq!(done.next_check_at, None);

    // Without news, a failed attempt is not looked at again after the quick looks.
    rig.clock.advance(Duration::from_secs(3_600));
    assert_eq!(rig.tracker.sweep().await.unwrap().attempts, 0);
}

/// A failed attempt paid late while its order already has a new live attempt: the completion
/// cannot be applied (one live attempt per order), and the customer may pay twice, so both
/// attempts raise `paid_late_order_pushed_again`; nothing is dropped silently.
#[tokio::test]
async fn a_late_payment_on_a_relaunched_order_is_raised_on_both_attempts() {
    let rig = Rig::new(true).await;
    let (first, _) = rig.push("ORDER-LATE").await;
    assert_eq!(
        rig.tracker.check(&first.id).await.unwrap().state,
        AttemptState::Failed
    );
    let (second, _) = rig.push("ORDER-LATE").await;
    assert_eq!(second.state, AttemptState::Submitted);

    // The first payment turns out to have been made: its callback says so (a second after
    // the last query: within the payment's query budget), and the query confirms it.
    rig.provider.lagging.store(false, Ordering::SeqCst);
    rig.clock.advance(Duration::from_secs(1));
    let first_id = PaymentId::new(first.payment_id.clone().unwrap());
    rig.callback(&first_id).await;
    assert_eq!(
        rig.attempt(&first.id).await.state,
        AttemptState::Failed,
        "one live attempt per order"
    );
    for (attempt, other) in [(&first.id, &second.id), (&second.id, &first.id)] {
        let events = rig.tracker.store().events(attempt).await.unwrap();
        let raised: Vec<_> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Anomaly(a) if a.kind == AnomalyKind::PaidLateOrderPushedAgain => Some(a),
                _ => None,
            })
            .collect();
        assert_eq!(raised.len(), 1, "{attempt}: {events:?}");
        let named = raised[0].detail.to_string();
        assert!(named.contains(other.as_str()), "{named}");
    }
}

/// When more attempts are due than a sweep takes, those with a fresh final claim go first:
/// a paid customer's order is not queued behind old pending ones.
#[tokio::test]
async fn attempts_with_a_fresh_claim_are_looked_at_first() {
    let mut config = stk_tracker::TrackerConfig::default();
    config.batch = 1;
    let rig = Rig::with_config(false, config).await;
    let (old, _) = rig.push("OLD-PENDING").await;
    let (paid, paid_id) = rig.push("JUST-PAID").await;
    // Both overdue; the second's customer has just paid (its status still lags).
    rig.clock.advance(Duration::from_secs(31));
    rig.callback(&paid_id).await;
    rig.clock.advance(Duration::from_secs(1));
    let before = rig.attempt(&old.id).await;
    assert!(before.next_check_at < rig.attempt(&paid.id).await.next_check_at);
    rig.provider.lagging.store(false, Ordering::SeqCst);
    let report = rig.tracker.sweep().await.unwrap();
    assert_eq!(report.attempts, 1, "one a round (batch 1)");
    assert_eq!(rig.attempt(&paid.id).await.state, AttemptState::Completed);
    assert_eq!(
        rig.attempt(&old.id).await,
        before,
        "the old one waits its turn"
    );
}
