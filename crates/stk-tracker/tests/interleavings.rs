//! The binding rules under random interleavings (issue 17): pushes (some answers lost),
//! payments made outside the tracker, genuine, forged, replayed and late callbacks, status
//! queries and the deadline, over several orders, on a real SQLite file. Whatever the order:
//! no provider payment id or receipt completes two attempts, and every completed attempt's
//! payment is one the provider itself ties to that order (reference, amount, phone).

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use serde_json::json;
use stk_core::{
    AmountLimits, CallbackClaim, CallbackRequest, Error, Operation, PaymentId, PaymentStatus,
    PushAccepted, StatusReport, StkProvider, StkPushRequest, async_trait,
};
use stk_mock::{CALLBACK_TOKEN_HEADER, MockProvider};
use stk_tracker::{AttemptState, Clock, SqlStore, Tracker, TrackerConfig};

const TOKEN: &str = "interleavings";
const ORDERS: [&str; 3] = ["ORD-A", "ORD-B", "ORD-C"];
/// Completes, completes, cancels (the fake provider's test numbers).
const PHONES: [&str; 3] = ["0712345678", "0722000003", "0700000001"];

/// The fake provider, whose push answers can be lost after the payment was made (the
/// ambiguous case), and which remembers every payment it made.
#[derive(Debug)]
struct Lossy {
    mock: MockProvider,
    lose_next: Mutex<bool>,
    payments: Mutex<Vec<PaymentId>>,
}

#[async_trait]
impl StkProvider for Lossy {
    fn name(&self) -> &'static str {
        self.mock.name()
    }
    fn limits(&self) -> AmountLimits {
        self.mock.limits()
    }
    async fn initiate(&self, request: &StkPushRequest) -> Result<PushAccepted, Error> {
        let accepted = self.mock.initiate(request).await?;
        self.payments
            .lock()
            .unwrap()
            .push(accepted.payment_id.clone());
        if std::mem::take(&mut *self.lose_next.lock().unwrap()) {
            return Err(Error::OutcomeUnknown {
                provider: "mock",
                operation: Operation::Initiate,
                message: "the connection closed after the push was sent".into(),
                cause: None,
            });
        }
        Ok(accepted)
    }
    async fn status(&self, id: &PaymentId) -> Result<PaymentStatus, Error> {
        self.mock.status(id).await
    }
    async fn status_report(&self, id: &PaymentId) -> Result<StatusReport, Error> {
        self.mock.status_report(id).await
    }
    fn parse_callback(&self, callback: &CallbackRequest) -> Result<CallbackClaim, Error> {
        self.mock.parse_callback(callback)
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// The tracker pushes for an order.
    Push {
        order: usize,
        phone: usize,
        lose_answer: bool,
    },
    /// A payment made outside the tracker (another till, a test, an old run) naming an
    /// order's reference or not.
    Outsider {
        order: Option<usize>,
        phone: usize,
        amount: u64,
    },
    /// The provider's own callback about the n-th payment it made.
    Genuine { payment: usize },
    /// A callback naming the n-th payment, claiming it for an order.
    Forged {
        payment: usize,
        order: usize,
        success: bool,
        amount: u64,
        receipt: u8,
    },
    /// An earlier callback, delivered again.
    Replay { nth: usize },
    /// Stored callbacks processed, events delivered.
    Process,
    /// Time passes; the sweeper queries what is due and flags what is past its deadline.
    Sweep { minutes: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3_usize, 0..3_usize, any::<bool>())
            .prop_map(|(order, phone, lose_answer)| Step::Push { order, phone, lose_answer }),
        1 => (proptest::option::of(0..3_usize), 0..3_usize, prop_oneof![Just(100_u64), Just(250)])
            .prop_map(|(order, phone, amount)| Step::Outsider { order, phone, amount }),
        3 => (0..8_usize).prop_map(|payment| Step::Genuine { payment }),
        3 => (0..8_usize, 0..3_usize, any::<bool>(), prop_oneof![Just(100_u64), Just(250)], any::<u8>())
            .prop_map(|(payment, order, success, amount, receipt)| Step::Forged { payment, order, success, amount, receipt }),
        1 => (0..16_usize).prop_map(|nth| Step::Replay { nth }),
        2 => Just(Step::Process),
        1 => (0..15_u8).prop_map(|minutes| Step::Sweep { minutes }),
    ]
}

fn request(reference: &str, phone: &str, amount: u64) -> StkPushRequest {
    StkPushRequest::builder()
        .phone(phone)
        .amount(amount)
        .reference(reference)
        .build()
        .unwrap()
}

async fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let dir = std::env::temp_dir().join(format!("stk-interleave-{}", fastrand::u64(..)));
    let store = SqlStore::open_sqlite(&dir.join("p.db")).await.unwrap();
    let mock = MockProvider::builder()
        .callback_token(TOKEN)
        .delay(Duration::ZERO)
        .seed(fastrand::u64(..))
        .build();
    let provider = Arc::new(Lossy {
        mock: mock.clone(),
        lose_next: Mutex::new(false),
        payments: Mutex::new(Vec::new()),
    });
    let clock = Clock::manual();
    let tracker = Tracker::builder(Arc::new(store))
        .provider(provider.clone())
        .config(TrackerConfig::default())
        .clock(clock.clone())
        .build();
    let mut delivered: Vec<CallbackRequest> = Vec::new();
    let payment = |n: usize| {
        let payments = provider.payments.lock().unwrap();
        (!payments.is_empty()).then(|| payments[n % payments.len()].clone())
    };
    for step in steps {
        match step {
            Step::Push {
                order,
                phone,
                lose_answer,
            } => {
                *provider.lose_next.lock().unwrap() = lose_answer;
                let _ = tracker
                    .push(&request(ORDERS[order], PHONES[phone], 100))
                    .await;
                *provider.lose_next.lock().unwrap() = false;
            }
            Step::Outsider {
                order,
                phone,
                amount,
            } => {
                let reference = order.map_or("ELSEWHERE", |o| ORDERS[o]);
                let accepted = mock
                    .initiate(&request(reference, PHONES[phone], amount))
                    .await
                    .unwrap();
                provider.payments.lock().unwrap().push(accepted.payment_id);
            }
            Step::Genuine { payment: n } => {
                if let Some(callback) = payment(n).and_then(|id| mock.callback_for(&id)) {
                    delivered.push(callback.clone());
                    tracker.receive("mock", callback).await.unwrap();
                }
            }
            Step::Forged {
                payment: n,
                order,
                success,
                amount,
                receipt,
            } => {
                let Some(id) = payment(n) else { continue };
                let body = json!({
                    "payment_id": id.as_str(),
                    "reference": ORDERS[order],
                    "state": if success { "completed" } else { "failed" },
                    "result_code": if success { "0" } else { "1032" },
                    "receipt": format!("FRG{receipt:07}"),
                    "amount": amount,
                });
                let callback = CallbackRequest::new(serde_json::to_vec(&body).unwrap())
                    .header(CALLBACK_TOKEN_HEADER, TOKEN);
                delivered.push(callback.clone());
                tracker.receive("mock", callback).await.unwrap();
            }
            Step::Replay { nth } => {
                if !delivered.is_empty() {
                    let callback = delivered[nth % delivered.len()].clone();
                    tracker.receive("mock", callback).await.unwrap();
                }
            }
            Step::Process => while tracker.process_inbox().await.unwrap() > 0 {},
            Step::Sweep { minutes } => {
                clock.advance(Duration::from_secs(u64::from(minutes) * 60));
                tracker.sweep().await.unwrap();
            }
        }
    }
    while tracker.process_inbox().await.unwrap() > 0 {}

    let attempts = tracker
        .store()
        .search_attempts(&stk_tracker::AttemptQuery::newest(500))
        .await
        .unwrap();
    let mut ids = HashSet::new();
    let mut receipts = HashSet::new();
    let mut paid_orders = HashSet::new();
    for attempt in &attempts {
        if let Some(id) = &attempt.payment_id {
            prop_assert!(ids.insert(id.clone()), "payment {id} held by two attempts");
        }
        // A failure claim never binds: nothing fails on an id only a callback supplied.
        for t in tracker.store().transitions(&attempt.id).await.unwrap() {
            prop_assert!(
                !(t.to == "failed" && t.evidence["queried_by_callback_id"] == true),
                "{} failed on a claimed id: {}",
                attempt.id,
                t.evidence
            );
        }
        if attempt.state != AttemptState::Completed {
            continue;
        }
        prop_assert!(
            paid_orders.insert(attempt.reference.clone()),
            "{} paid twice",
            attempt.reference
        );
        let id = attempt.payment_id.clone().unwrap();
        let receipt = attempt.receipt.clone().unwrap();
        prop_assert!(
            receipts.insert(receipt.clone()),
            "receipt {receipt} completes two attempts"
        );
        // The provider's own answer ties the payment to this order.
        let report = mock
            .status_report(&PaymentId::new(id.clone()))
            .await
            .unwrap();
        let PaymentStatus::Completed(done) = &report.status else {
            return Err(TestCaseError::fail(format!(
                "{} completed on {id}, which is {:?}",
                attempt.id, report.status
            )));
        };
        prop_assert_eq!(done.receipt.as_deref(), Some(receipt.as_str()));
        prop_assert_eq!(
            report.merchant_reference.as_deref(),
            Some(attempt.reference.as_str())
        );
        prop_assert_eq!(done.amount.map(|a| a.shillings()), Some(attempt.amount));
        prop_assert_eq!(report.phone.as_deref(), Some(attempt.phone.as_str()));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn one_payment_pays_one_order_and_only_on_the_providers_proof(
        steps in proptest::collection::vec(step(), 1..40)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(steps))?;
    }
}
