//! Lag-aware confirmation (issue 18): providers' status endpoints lag their callbacks by
//! seconds. A final claim the status does not confirm yet is re-checked 1, 2, 4, 8 and 16 s
//! apart after it arrived, then on the sweeper's usual backoff: a payment whose status lags by
//! L seconds is recorded within about L + L/2 s, not at the next 30 s round. The fake provider
//! (its status held back by hand), a real SQLite file, the tracker's clock moved by hand.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use stk_core::{
    AmountLimits, CallbackRequest, Error, PaymentEvent, PaymentId, PaymentStatus, PushAccepted,
    StatusReport, StkProvider, StkPushRequest, async_trait,
};
use stk_mock::MockProvider;
use stk_tracker::{AttemptState, Clock, SqlStore, Tracker};

/// The fake provider, whose status says "pending" (or, with `says_failed`, "failed: timeout")
/// while `lagging`.
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
                PaymentStatus::Failed(stk_core::Failure::new(stk_core::FailureReason::Timeout))
            } else {
                PaymentStatus::Pending
            };
        }
        Ok(report)
    }
    fn parse_callback(&self, callback: &CallbackRequest) -> Result<PaymentEvent, Error> {
        self.mock.parse_callback(callback)
    }
}

#[tokio::test]
async fn an_unconfirmed_final_claim_is_rechecked_within_seconds() {
    let dir = std::env::temp_dir().join(format!("stk-lag-{}", fastrand::u64(..)));
    let store = SqlStore::open_sqlite(&dir.join("p.db")).await.unwrap();
    let provider = Arc::new(Lagging {
        mock: MockProvider::builder()
            .delay(Duration::ZERO)
            .callback_token("t")
            .build(),
        lagging: AtomicBool::new(true),
        says_failed: false,
    });
    let clock = Clock::manual();
    let tracker = Tracker::builder(Arc::new(store))
        .provider(provider.clone())
        .clock(clock.clone())
        .build();
    let request = StkPushRequest::builder()
        .phone("0712345678")
        .amount(100)
        .reference("LAG-1")
        .build()
        .unwrap();
    let attempt = tracker.push(&request).await.unwrap();
    let id = PaymentId::new(attempt.payment_id.clone().unwrap());

    // The provider's callback says completed; its status still says pending.
    let claimed_at = clock.now_ms();
    let callback = provider.mock.callback_for(&id).unwrap();
    tracker.receive("mock", callback).await.unwrap();
    tracker.process_inbox().await.unwrap();
    let noted = tracker.attempt(&attempt.id).await.unwrap();
    assert_eq!(noted.claimed_at, Some(claimed_at));
    assert_eq!(
        noted.next_check_at,
        Some(claimed_at + 1_000),
        "first look after 1 s"
    );

    // 1, 2 and 4 s apart while the status lags.
    let advance_to = |at: i64| {
        let now = clock.now_ms();
        clock.advance(Duration::from_millis(
            u64::try_from(claimed_at + at - now).unwrap(),
        ));
    };
    for at in [1_000, 3_000] {
        advance_to(at - 500);
        assert_eq!(tracker.sweep().await.unwrap().queries, 0, "not due yet");
        advance_to(at);
        let report = tracker.sweep().await.unwrap();
        assert_eq!(report.queries, 1, "due at claim + {at} ms");
        let after = tracker.attempt(&attempt.id).await.unwrap();
        assert!(after.state.is_open());
        let next = [1_000, 3_000, 7_000].into_iter().find(|t| *t > at).unwrap();
        assert_eq!(after.next_check_at, Some(claimed_at + next));
    }

    // The status catches up (lag of about 6 s): recorded at the next look, claim + 7 s.
    provider.lagging.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_millis(4_000));
    assert_eq!(clock.now_ms(), claimed_at + 7_000);
    tracker.sweep().await.unwrap();
    let done = tracker.attempt(&attempt.id).await.unwrap();
    assert_eq!(done.state, AttemptState::Completed);
    assert_eq!(done.next_check_at, None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_long_lag_falls_back_to_the_usual_backoff() {
    let dir = std::env::temp_dir().join(format!("stk-lag-{}", fastrand::u64(..)));
    let store = SqlStore::open_sqlite(&dir.join("p.db")).await.unwrap();
    let provider = Arc::new(Lagging {
        mock: MockProvider::builder()
            .delay(Duration::ZERO)
            .callback_token("t")
            .build(),
        lagging: AtomicBool::new(true),
        says_failed: false,
    });
    let clock = Clock::manual();
    let tracker = Tracker::builder(Arc::new(store))
        .provider(provider.clone())
        .clock(clock.clone())
        .build();
    let request = StkPushRequest::builder()
        .phone("0712345678")
        .amount(100)
        .reference("LAG-2")
        .build()
        .unwrap();
    let attempt = tracker.push(&request).await.unwrap();
    let id = PaymentId::new(attempt.payment_id.clone().unwrap());
    let claimed_at = clock.now_ms();
    tracker
        .receive("mock", provider.mock.callback_for(&id).unwrap())
        .await
        .unwrap();
    tracker.process_inbox().await.unwrap();

    // Five quick looks in the first 31 s, then no more than the sweeper's backoff.
    let mut queries = 0;
    for _ in 0..62 {
        clock.advance(Duration::from_millis(500));
        queries += tracker.sweep().await.unwrap().queries;
    }
    assert_eq!(clock.now_ms(), claimed_at + 31_000);
    assert_eq!(queries, 5);
    let after = tracker.attempt(&attempt.id).await.unwrap();
    assert!(
        after.next_check_at.unwrap() >= claimed_at + 31_000 + 30_000,
        "{after:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The status says "failed (timeout)" while the callback says paid (M-Pesa reports some
/// payments failed, then paid): the attempt is failed on the provider's word, and looked at
/// again within seconds; when the status catches up it is completed (paid late).
#[tokio::test]
async fn a_completion_claim_on_a_failed_status_is_rechecked() {
    let dir = std::env::temp_dir().join(format!("stk-lag-{}", fastrand::u64(..)));
    let store = SqlStore::open_sqlite(&dir.join("p.db")).await.unwrap();
    let provider = Arc::new(Lagging {
        mock: MockProvider::builder()
            .delay(Duration::ZERO)
            .callback_token("t")
            .build(),
        lagging: AtomicBool::new(true),
        says_failed: true,
    });
    let clock = Clock::manual();
    let tracker = Tracker::builder(Arc::new(store))
        .provider(provider.clone())
        .clock(clock.clone())
        .build();
    let request = StkPushRequest::builder()
        .phone("0712345678")
        .amount(100)
        .reference("LAG-3")
        .build()
        .unwrap();
    let attempt = tracker.push(&request).await.unwrap();
    let id = PaymentId::new(attempt.payment_id.clone().unwrap());
    let claimed_at = clock.now_ms();
    tracker
        .receive("mock", provider.mock.callback_for(&id).unwrap())
        .await
        .unwrap();
    tracker.process_inbox().await.unwrap();
    let failed = tracker.attempt(&attempt.id).await.unwrap();
    assert_eq!(failed.state, AttemptState::Failed, "on the provider's word");
    assert_eq!(failed.next_check_at, Some(claimed_at + 1_000));

    clock.advance(Duration::from_millis(1_000));
    assert_eq!(tracker.sweep().await.unwrap().queries, 1);
    provider.lagging.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_millis(2_000));
    assert_eq!(tracker.sweep().await.unwrap().queries, 1);
    let done = tracker.attempt(&attempt.id).await.unwrap();
    assert_eq!(done.state, AttemptState::Completed, "paid late");
    assert_eq!(done.next_check_at, None);

    // Without news, a failed attempt is not looked at again after the quick looks.
    clock.advance(Duration::from_secs(3_600));
    assert_eq!(tracker.sweep().await.unwrap().attempts, 0);
    let _ = std::fs::remove_dir_all(&dir);
}
