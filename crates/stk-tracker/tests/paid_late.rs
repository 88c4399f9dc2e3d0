//! A failed attempt paid late while its order already has a new live attempt: the completion
//! cannot be applied (one live attempt per order), and the customer may pay twice, so both
//! attempts raise `paid_late_order_pushed_again`; nothing is dropped silently. The fake
//! provider (whose first answer about one payment is turned into a failure, as a provider that
//! reports a 1037 timeout and later the payment does), a real SQLite file.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stk_core::{
    AmountLimits, CallbackRequest, Error, Failure, FailureReason, PaymentEvent, PaymentId,
    PaymentStatus, PushAccepted, StatusReport, StkProvider, StkPushRequest, async_trait,
};
use stk_mock::MockProvider;
use stk_tracker::{AttemptState, Clock, SqlStore, Tracker};

/// The fake provider, answering "failed (timeout)" about the payments in `failing`.
#[derive(Debug)]
struct Flaky {
    mock: MockProvider,
    failing: Mutex<HashSet<PaymentId>>,
}

#[async_trait]
impl StkProvider for Flaky {
    fn name(&self) -> &'static str {
        self.mock.name()
    }
    fn limits(&self) -> AmountLimits {
        self.mock.limits()
    }
    /// Accepted; the result comes by status query.
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
        if self.failing.lock().unwrap().contains(id) {
            report.status = PaymentStatus::Failed(Failure::new(FailureReason::Timeout));
        }
        Ok(report)
    }
    fn parse_callback(&self, callback: &CallbackRequest) -> Result<PaymentEvent, Error> {
        self.mock.parse_callback(callback)
    }
}

#[tokio::test]
async fn a_late_payment_on_a_relaunched_order_is_raised_on_both_attempts() {
    let dir = std::env::temp_dir().join(format!("stk-paid-late-{}", fastrand::u64(..)));
    let store = SqlStore::open_sqlite(&dir.join("p.db")).await.unwrap();
    let provider = Arc::new(Flaky {
        mock: MockProvider::builder()
            .delay(Duration::ZERO)
            .callback_token("t")
            .build(),
        failing: Mutex::new(HashSet::new()),
    });
    let tracker = Tracker::builder(Arc::new(store))
        .provider(provider.clone())
        .clock(Clock::manual())
        .build();
    let request = StkPushRequest::builder()
        .phone("0712345678")
        .amount(100)
        .reference("ORDER-LATE")
        .build()
        .unwrap();

    // The first attempt is reported failed; the order is pushed again.
    let first = tracker.push(&request).await.unwrap();
    let first_id = PaymentId::new(first.payment_id.clone().unwrap());
    provider.failing.lock().unwrap().insert(first_id.clone());
    assert_eq!(
        tracker.check(&first.id).await.unwrap().state,
        AttemptState::Failed
    );
    let second = tracker.push(&request).await.unwrap();
    assert_eq!(second.state, AttemptState::Submitted);

    // The first payment turns out to have been made: its callback says so, and the query
    // confirms it.
    provider.failing.lock().unwrap().clear();
    let late = || async {
        let callback = provider.mock.callback_for(&first_id).unwrap();
        tracker.receive("mock", callback).await.unwrap();
        while tracker.process_inbox().await.unwrap() > 0 {}
    };
    late().await;
    let after = tracker.attempt(&first.id).await.unwrap();
    assert_eq!(
        after.state,
        AttemptState::Failed,
        "one live attempt per order"
    );
    for (attempt, other) in [(&first.id, &second.id), (&second.id, &first.id)] {
        let events = tracker.store().events(attempt).await.unwrap();
        let raised: Vec<_> = events
            .iter()
            .filter(|e| e.payload["anomaly"] == "paid_late_order_pushed_again")
            .collect();
        assert_eq!(raised.len(), 1, "{attempt}: {events:?}");
        let named = raised[0].payload["detail"].to_string();
        assert!(named.contains(other.as_str()), "{named}");
    }
    // The same news again raises nothing new.
    late().await;
    let anomalies = tracker.store().events(&first.id).await.unwrap();
    assert_eq!(
        anomalies.iter().filter(|e| e.kind == "anomaly").count(),
        1,
        "{anomalies:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
