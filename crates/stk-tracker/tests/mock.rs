//! The tracker over the fake provider and a real SQLite file, on tokio's paused clock.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use stk_core::{PaymentId, PhoneNumber, StkProvider, StkPushRequest};
use stk_mock::{MockProvider, Scenario};
use stk_tracker::{
    AttemptState, Clock, Event, EventHandler, HandlerError, SqlStore, Tracker, TrackerConfig,
    TrackerError,
};

struct Rig {
    tracker: Tracker,
    mock: MockProvider,
    clock: Clock,
    _dir: TempDir,
}

/// A temporary directory removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "stk-tracker-test-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn rig() -> Rig {
    rig_with(TrackerConfig::default()).await
}

async fn rig_with(config: TrackerConfig) -> Rig {
    let dir = TempDir::new();
    let store = SqlStore::open_sqlite(&dir.0.join("payments.db"))
        .await
        .unwrap();
    // Real time, no waiting: payments settle at once unless a test scripts otherwise, and
    // the tracker's own clock (deadlines, backoff) is moved by hand.
    let mock = MockProvider::builder()
        .callback_token("cb-secret")
        .delay(Duration::ZERO)
        .script(
            PhoneNumber::parse(LATER).unwrap(),
            Scenario::Complete,
            Duration::from_millis(300),
        )
        .build();
    let clock = Clock::manual();
    let tracker = Tracker::builder(Arc::new(store))
        .provider(Arc::new(mock.clone()))
        .clock(clock.clone())
        .config(config)
        .build();
    Rig {
        tracker,
        mock,
        clock,
        _dir: dir,
    }
}

fn request(phone: &str, reference: &str) -> StkPushRequest {
    StkPushRequest::builder()
        .phone(phone)
        .amount(100)
        .reference(reference)
        .build()
        .unwrap()
}

/// Collects events; refuses the first `fail_first` deliveries.
#[derive(Default, Clone)]
struct Collector {
    events: Arc<Mutex<Vec<Event>>>,
    fail_first: Arc<Mutex<usize>>,
}

#[stk_core::async_trait]
impl EventHandler for Collector {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        {
            let mut fail = self.fail_first.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return Err("the shop's database is down".into());
            }
        }
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
}

impl Collector {
    fn kinds(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.kind.name().to_owned())
            .collect()
    }
}

/// A number whose payment completes 300 ms after the push.
const LATER: &str = "0700000100";

impl Rig {
    /// Moves the tracker's clock by `secs` in steps of `step`, doing its work at each step.
    async fn run_for(&self, handler: &Collector, secs: u64, step: u64) {
        let mut elapsed = 0;
        while elapsed <= secs {
            self.tracker.run_once(handler).await;
            self.clock.advance(Duration::from_secs(step));
            elapsed += step;
        }
    }
}

/// Waits (bounded) until the fake provider reports a final status for `id`.
async fn until_final(mock: &MockProvider, id: &PaymentId) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while !mock.status(id).await.unwrap().is_final() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_push_is_recorded_then_completed_by_the_sweeper_once() {
    let r = rig().await;
    let attempt = r.tracker.push(&request(LATER, "ORDER-1")).await.unwrap();
    assert_eq!(attempt.state, AttemptState::Submitted);
    let events = Collector::default();
    // No callback comes: the sweeper's status query finds the completion.
    until_final(
        &r.mock,
        &PaymentId::new(attempt.payment_id.clone().unwrap()),
    )
    .await;
    r.run_for(&events, 120, 10).await;
    let attempt = r.tracker.attempt(&attempt.id).await.unwrap();
    assert_eq!(attempt.state, AttemptState::Completed);
    assert_eq!(events.kinds(), ["completed"]);
    // Nothing more happens however long it runs.
    r.run_for(&events, 600, 60).await;
    assert_eq!(events.kinds(), ["completed"]);
}

#[tokio::test]
async fn a_second_push_for_a_live_or_paid_order_is_refused_without_sending() {
    let r = rig().await;
    let first = r
        .tracker
        .push(&request("0700000000", "ORDER-2"))
        .await
        .unwrap();
    let err = r
        .tracker
        .push(&request("0700000000", "ORDER-2"))
        .await
        .unwrap_err();
    let TrackerError::AlreadyLive { attempt } = &err else {
        panic!("{err}")
    };
    assert_eq!(attempt.id, first.id);
    assert_eq!(r.mock.requests().len(), 1, "the second push was never sent");
    r.run_for(&Collector::default(), 60, 10).await;
    let err = r
        .tracker
        .push(&request("0700000000", "ORDER-2"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("paid"), "{err}");
    assert_eq!(r.mock.requests().len(), 1);
}

#[tokio::test]
async fn a_refused_push_is_failed_and_the_order_may_be_pushed_again() {
    let r = rig().await;
    // 0700000008 is refused at initiate.
    let err = r
        .tracker
        .push(&request("0700000008", "ORDER-3"))
        .await
        .unwrap_err();
    let TrackerError::Provider {
        attempt: Some(attempt),
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(attempt.state, AttemptState::Failed);
    let again = r
        .tracker
        .push(&request("0700000000", "ORDER-3"))
        .await
        .unwrap();
    assert_eq!(again.state, AttemptState::Completed);
}

#[tokio::test]
async fn callbacks_are_confirmed_deduplicated_and_forgeries_ignored() {
    let r = rig().await;
    let events = Collector::default();
    let attempt = r.tracker.push(&request(LATER, "ORDER-4")).await.unwrap();
    let id = PaymentId::new(attempt.payment_id.clone().unwrap());

    // A forged "completed" before the customer has paid: stored, acknowledged, not paid.
    let mut forged = r.mock.callback_for(&id).unwrap();
    forged.body = forged_completed_body(&forged.body);
    let received = r.tracker.receive("mock", forged).await.unwrap();
    assert!(!received.duplicate);
    r.tracker.process_inbox().await.unwrap();
    assert_ne!(
        r.tracker.attempt(&attempt.id).await.unwrap().state,
        AttemptState::Completed
    );

    // The genuine completion, delivered three times. Final claims about a payment ask at
    // most every two seconds: if the forgery spent that, the look a second later confirms it.
    until_final(&r.mock, &id).await;
    let genuine = r.mock.callback_for(&id).unwrap();
    for _ in 0..3 {
        r.tracker.receive("mock", genuine.clone()).await.unwrap();
    }
    r.tracker.process_inbox().await.unwrap();
    r.clock.advance(Duration::from_secs(1));
    r.tracker.sweep().await.unwrap();
    r.tracker.deliver_events(&events).await.unwrap();
    assert_eq!(
        r.tracker.attempt(&attempt.id).await.unwrap().state,
        AttemptState::Completed
    );
    assert_eq!(events.kinds(), ["completed"]);
}

/// A body of the mock's callback shape claiming completion.
fn forged_completed_body(genuine: &[u8]) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(genuine).unwrap();
    value["state"] = "completed".into();
    value["result_code"] = "0".into();
    value["receipt"] = "FORGED0001".into();
    serde_json::to_vec(&value).unwrap()
}

#[tokio::test]
async fn events_are_redelivered_until_acknowledged() {
    let r = rig().await;
    let events = Collector::default();
    *events.fail_first.lock().unwrap() = 2;
    r.tracker
        .push(&request("0700000001", "ORDER-5"))
        .await
        .unwrap();
    r.run_for(&events, 600, 1).await;
    let got = events.events.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].kind.name(), "failed");
    assert_eq!(got[0].deliveries, 2, "two refused deliveries came first");
}

#[tokio::test]
async fn an_unanswered_push_expires_for_review_but_is_never_failed() {
    let r = rig().await;
    let events = Collector::default();
    // 0700000007 never answers: the provider keeps saying pending.
    let attempt = r
        .tracker
        .push(&request("0700000007", "ORDER-6"))
        .await
        .unwrap();
    r.run_for(&events, 900, 10).await;
    let attempt = r.tracker.attempt(&attempt.id).await.unwrap();
    assert_eq!(attempt.state, AttemptState::Expired);
    assert_eq!(events.kinds(), ["expired"]);
    assert!(attempt.check_count >= 3, "{}", attempt.check_count);
    assert!(
        attempt.check_count <= 12,
        "backoff: {} queries",
        attempt.check_count
    );
}

/// Counts the handler calls running at once.
#[derive(Default)]
struct InFlight {
    now: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    handled: std::sync::atomic::AtomicUsize,
}

#[stk_core::async_trait]
impl EventHandler for InFlight {
    async fn handle(&self, _event: &Event) -> Result<(), HandlerError> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        // A handler that waits on I/O: the others get their turn meanwhile.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.now.fetch_sub(1, SeqCst);
        self.handled.fetch_add(1, SeqCst);
        Ok(())
    }
}

/// Events of different attempts are handed over several at a time (a slow webhook endpoint
/// does not serialize every payment behind it); `deliveries_at_once = 1` means one at a time.
#[tokio::test]
async fn events_of_different_attempts_are_delivered_together() {
    for (at_once, expected) in [(16, 16), (1, 1)] {
        let mut config = TrackerConfig::default();
        config.deliveries_at_once = at_once;
        let r = rig_with(config).await;
        for n in 0..40 {
            r.tracker
                .push(&request("0700000001", &format!("ORDER-{n}")))
                .await
                .unwrap();
        }
        let handler = InFlight::default();
        while r.tracker.deliver_events(&handler).await.unwrap() > 0 {}
        assert_eq!(
            handler.handled.load(std::sync::atomic::Ordering::SeqCst),
            40
        );
        assert_eq!(
            handler.most.load(std::sync::atomic::Ordering::SeqCst),
            expected,
            "at most {at_once} at once"
        );
    }
}

/// Delivered events are pruned after the retention like processed callbacks (storage stays
/// bounded); an event still to deliver is kept however old, and the timeline stays.
#[tokio::test]
async fn delivered_events_are_pruned_after_the_retention_undelivered_ones_never() {
    let r = rig().await;
    let delivered = r
        .tracker
        .push(&request("0700000001", "ORDER-P1"))
        .await
        .unwrap();
    assert_eq!(delivered.state, AttemptState::Failed);
    let handler = Collector::default();
    assert_eq!(r.tracker.deliver_events(&handler).await.unwrap(), 1);
    let waiting = r
        .tracker
        .push(&request("0700000001", "ORDER-P2"))
        .await
        .unwrap();
    r.clock.advance(Duration::from_secs(31 * 24 * 3600));
    r.tracker.prune().await.unwrap();
    let record = r.tracker.payment(&delivered.id).await.unwrap();
    assert!(record.events.is_empty(), "delivered long ago: pruned");
    assert!(!record.timeline.is_empty(), "the timeline stays");
    let record = r.tracker.payment(&waiting.id).await.unwrap();
    assert_eq!(record.events.len(), 1, "never delivered: kept");
}
