//! The rig the provider tests share, over real HTTP on 127.0.0.1 only: one provider's
//! emulator, the tracker over a real SQLite file (its own clock manual, moved by hand), and
//! the tracker's axum receiver, with the provider configured so the emulator's callbacks
//! reach `http://127.0.0.1:PORT/<provider name>`.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use stk_core::{CallbackRequest, CallbackUrl, PaymentStatus, PhoneNumber, StkPushRequest};
use stk_emulator::{
    DarajaEmulator, DarajaEmulatorConfig, Faults, KulmiPayEmulator, KulmiPayEmulatorConfig, Ledger,
    LipiaCallbackShape, LipiaEmulator, LipiaEmulatorConfig, UpesiPayEmulator,
    UpesiPayEmulatorConfig,
};
use stk_mock::Scenario;
use stk_tracker::{
    Attempt, Clock, Event, EventHandler, EventKind, HandlerError, SqlStore, Tracker, TrackerConfig,
    TrackerError, Transition,
};
use tokio::net::TcpListener;

/// The secret in Upesi/Lipia callback URLs (`?token=`) and KulmiPay webhook bodies
/// (`challenge`).
pub const SECRET: &str = "tracker-test-callback-secret";

/// Completes after the emulator's default delay ([`QUICK_DELAY`]).
pub const QUICK: &str = "0712000001";
/// Completes after [`SLOW_DELAY`].
pub const SLOW: &str = "0712000002";
/// Never answers: stays pending at the provider.
pub const NEVER: &str = "0700000007";
/// The customer cancels (1032) after the default delay.
pub const CANCEL: &str = "0700000001";

/// The emulator's delay for numbers without a script.
pub const QUICK_DELAY: Duration = Duration::from_millis(200);
/// Long enough for a forged callback to be stored and processed while the payment is pending.
pub const SLOW_DELAY: Duration = Duration::from_secs(2);

/// The longest a test waits for the emulator (a condition, never a timing).
pub const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);

/// Which provider (and, for Lipia, which callback shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    KulmiPay,
    UpesiPay,
    LipiaNested,
    LipiaFlat,
    /// Safaricom's own API: the query answer names nothing but the CheckoutRequestID.
    Daraja,
}

impl Kind {
    /// Whether a callback can prove a payment to an attempt that has no payment id yet: it
    /// carries an id the status query accepts, and the status answer names the merchant
    /// reference and amount (KulmiPay's `api_ref`/`value`, Lipia's `ExternalReference`/
    /// `Amount`). UpesiPay's answer names neither; Lipia's nested callback carries no id.
    pub fn claims_are_provable(self) -> bool {
        matches!(self, Self::KulmiPay | Self::LipiaFlat)
    }

    /// The provider name: the receiver's route.
    pub fn name(self) -> &'static str {
        match self {
            Self::KulmiPay => stk_kulmipay::NAME,
            Self::UpesiPay => stk_upesipay::NAME,
            Self::LipiaNested | Self::LipiaFlat => stk_lipia::NAME,
            Self::Daraja => stk_daraja::NAME,
        }
    }
}

/// One running emulator.
pub enum Emulator {
    KulmiPay(KulmiPayEmulator),
    UpesiPay(UpesiPayEmulator),
    Lipia(LipiaEmulator),
    Daraja(DarajaEmulator),
}

impl Emulator {
    pub fn ledger(&self) -> &Ledger {
        match self {
            Self::KulmiPay(e) => e.ledger(),
            Self::UpesiPay(e) => e.ledger(),
            Self::Lipia(e) => e.ledger(),
            Self::Daraja(e) => e.ledger(),
        }
    }

    pub fn faults(&self) -> &Faults {
        match self {
            Self::KulmiPay(e) => e.faults(),
            Self::UpesiPay(e) => e.faults(),
            Self::Lipia(e) => e.faults(),
            Self::Daraja(e) => e.faults(),
        }
    }

    /// The payment's status at the provider now (by the provider's own id).
    pub fn payment_status(&self, id: &str) -> Option<PaymentStatus> {
        match self {
            Self::KulmiPay(e) => e.payment_status(id),
            Self::UpesiPay(e) => e.payment_status(id),
            Self::Lipia(e) => e.payment_status(id),
            Self::Daraja(e) => e.payment_status(id),
        }
    }

    /// The callback the emulator would deliver now (KulmiPay: in any state; the others:
    /// once final).
    pub fn callback_for(&self, id: &str) -> Option<CallbackRequest> {
        match self {
            Self::KulmiPay(e) => e.callback_for(id),
            Self::UpesiPay(e) => e.callback_for(id),
            Self::Lipia(e) => e.callback_for(id),
            Self::Daraja(e) => e.callback_for(id),
        }
    }

    /// M-Pesa's `CheckoutRequestID` of a payment (KulmiPay shows none).
    pub fn checkout_request_id(&self, id: &str) -> Option<String> {
        match self {
            Self::KulmiPay(_) => None,
            Self::UpesiPay(e) => e.checkout_request_id(id),
            Self::Lipia(e) => e.checkout_request_id(id),
            Self::Daraja(_) => Some(id.to_owned()),
        }
    }
}

/// How a rig is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Whether the emulator's callbacks reach the receiver (`false`: no webhook URL for
    /// KulmiPay, a dead callback URL for the others: every callback is lost).
    pub callbacks: bool,
    /// The emulator's delay for numbers without a script.
    pub delay: Duration,
    /// How far the emulator's status answers lag its payments and callbacks.
    pub status_lag: Duration,
    /// The tracker's timing.
    pub config: TrackerConfig,
    /// The emulator's seed (its ids and receipts); `None`: its default.
    pub seed: Option<u64>,
    /// The SQLite file to record in (shared between rigs: a restarted provider); `None`: a
    /// new one.
    pub store: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            callbacks: true,
            delay: QUICK_DELAY,
            status_lag: Duration::ZERO,
            config: TrackerConfig::default(),
            seed: None,
            store: None,
        }
    }
}

/// Collects the events delivered to user code.
#[derive(Default, Clone)]
pub struct Collector {
    pub events: Arc<Mutex<Vec<Event>>>,
}

#[stk_core::async_trait]
impl EventHandler for Collector {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
}

impl Collector {
    /// The kinds of the events delivered for one attempt, in order.
    pub fn kinds(&self, attempt_id: &str) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.attempt_id == attempt_id)
            .map(|e| e.kind.name().to_owned())
            .collect()
    }

    /// The `anomaly` names of the anomaly events delivered for one attempt.
    pub fn anomalies(&self, attempt_id: &str) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.attempt_id == attempt_id)
            .filter_map(|e| match &e.kind {
                EventKind::Anomaly(a) => Some(a.kind.as_str().to_owned()),
                _ => None,
            })
            .collect()
    }

    /// The payloads of one attempt's events of `kind`, in order, in their JSON form.
    pub fn payloads(&self, attempt_id: &str, kind: &str) -> Vec<Value> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.attempt_id == attempt_id && e.kind.name() == kind)
            .map(|e| serde_json::to_value(e).unwrap()["payload"].clone())
            .collect()
    }

    pub fn all(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "stk-tracker-providers-{}-{}",
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

/// What a callback claims, to write a provider's callback body by hand (forgeries).
#[derive(Debug, Clone)]
pub struct Claim {
    /// The success word (`Status: Success`, `state: COMPLETE`, `status: true`).
    pub success: bool,
    /// The M-Pesa `ResultCode` (0: paid).
    pub result_code: u32,
    pub amount: u64,
    pub reference: String,
    pub receipt: String,
}

impl Claim {
    /// "Paid", as the attempt would be.
    pub fn paid(attempt: &Attempt) -> Self {
        Self {
            success: true,
            result_code: 0,
            amount: attempt.amount,
            reference: attempt.reference.clone(),
            receipt: format!("FRG{:07}", fastrand::u32(..10_000_000)),
        }
    }

    /// "Cancelled by the customer" (1032).
    pub fn cancelled(attempt: &Attempt) -> Self {
        Self {
            success: false,
            result_code: 1032,
            receipt: String::new(),
            ..Self::paid(attempt)
        }
    }
}

/// The emulator, the tracker and its receiver for one provider.
pub struct Rig {
    pub kind: Kind,
    pub emulator: Emulator,
    pub tracker: Tracker,
    pub clock: Clock,
    pub events: Collector,
    pub http: reqwest::Client,
    /// `http://127.0.0.1:PORT` of the tracker's receiver.
    pub receiver: String,
    pub config: TrackerConfig,
    db: PathBuf,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: TempDir,
}

/// A callback URL on 127.0.0.1 where nothing listens (the port was bound, then released).
async fn dead_url(path: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}{path}")
}

fn phone(local: &str) -> PhoneNumber {
    PhoneNumber::parse(local).unwrap()
}

impl Rig {
    pub async fn start(kind: Kind, options: Options) -> Self {
        let dir = TempDir::new();
        let db = options
            .store
            .clone()
            .unwrap_or_else(|| dir.0.join("payments.db"));
        let store = SqlStore::open_sqlite(&db).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = format!("http://{}", listener.local_addr().unwrap());
        let route = format!("/{}", kind.name());
        let callback_url = if options.callbacks {
            format!("{receiver}{route}")
        } else {
            dead_url(&route).await
        };
        let timeout = Duration::from_secs(5);
        let (emulator, provider): (Emulator, Arc<dyn stk_core::StkProvider>) = match kind {
            Kind::KulmiPay => {
                let mut config = KulmiPayEmulatorConfig::default()
                    .seed(options.seed.unwrap_or(11))
                    .delay(options.delay)
                    .status_lag(options.status_lag)
                    .script(phone(SLOW), Scenario::Complete, SLOW_DELAY)
                    .webhook_challenge(SECRET)
                    .webhook_attempts(2);
                if options.callbacks {
                    config = config.webhook_url(callback_url);
                }
                let emulator = KulmiPayEmulator::start(config).await.unwrap();
                let provider = stk_kulmipay::KulmiPay::new(
                    stk_kulmipay::KulmiPayConfig::builder()
                        .secret_key(emulator.secret_key())
                        .webhook_challenge(SECRET)
                        .base_url(emulator.base_url())
                        .timeout(timeout)
                        .build()
                        .unwrap(),
                )
                .unwrap();
                (Emulator::KulmiPay(emulator), Arc::new(provider))
            }
            Kind::UpesiPay => {
                let emulator = UpesiPayEmulator::start(
                    UpesiPayEmulatorConfig::default()
                        .seed(options.seed.unwrap_or(12))
                        .delay(options.delay)
                        .status_lag(options.status_lag)
                        .script(phone(SLOW), Scenario::Complete, SLOW_DELAY)
                        .callback_attempts(2),
                )
                .await
                .unwrap();
                let provider = stk_upesipay::UpesiPay::new(
                    stk_upesipay::UpesiPayConfig::builder()
                        .api_token(emulator.token())
                        .channel_id(emulator.channel_id())
                        .base_url(emulator.base_url())
                        .callback_url(CallbackUrl::parse(&callback_url).unwrap())
                        .callback_token(SECRET)
                        .timeout(timeout)
                        .build()
                        .unwrap(),
                )
                .unwrap();
                (Emulator::UpesiPay(emulator), Arc::new(provider))
            }
            Kind::LipiaNested | Kind::LipiaFlat => {
                let shape = if kind == Kind::LipiaFlat {
                    LipiaCallbackShape::Flat
                } else {
                    LipiaCallbackShape::Nested
                };
                let emulator = LipiaEmulator::start(
                    LipiaEmulatorConfig::default()
                        .seed(options.seed.unwrap_or(13))
                        .delay(options.delay)
                        .status_lag(options.status_lag)
                        .script(phone(SLOW), Scenario::Complete, SLOW_DELAY)
                        .callback_shape(shape)
                        .callback_attempts(2),
                )
                .await
                .unwrap();
                let provider = stk_lipia::Lipia::new(
                    stk_lipia::LipiaConfig::builder()
                        .api_key(emulator.api_key())
                        .base_url(emulator.base_url())
                        .callback_url(CallbackUrl::parse(&callback_url).unwrap())
                        .callback_token(SECRET)
                        .timeout(timeout)
                        .build()
                        .unwrap(),
                )
                .unwrap();
                (Emulator::Lipia(emulator), Arc::new(provider))
            }
            Kind::Daraja => {
                let emulator = DarajaEmulator::start(
                    DarajaEmulatorConfig::default()
                        .seed(options.seed.unwrap_or(14))
                        .delay(options.delay)
                        .status_lag(options.status_lag)
                        .script(phone(SLOW), Scenario::Complete, SLOW_DELAY)
                        .callback_attempts(2),
                )
                .await
                .unwrap();
                let env = [
                    ("DARAJA_BASE_URL", emulator.base_url().to_owned()),
                    ("DARAJA_CONSUMER_KEY", emulator.consumer_key().to_owned()),
                    (
                        "DARAJA_CONSUMER_SECRET",
                        emulator.consumer_secret().to_owned(),
                    ),
                    ("DARAJA_CALLBACK_URL", callback_url.clone()),
                    ("DARAJA_CALLBACK_TOKEN", SECRET.to_owned()),
                ];
                let config = stk_daraja::DarajaConfig::from_lookup(|key| {
                    env.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
                })
                .unwrap();
                let provider = stk_daraja::Daraja::new(config).unwrap();
                (Emulator::Daraja(emulator), Arc::new(provider))
            }
        };
        let clock = Clock::manual();
        let tracker = Tracker::builder(Arc::new(store))
            .provider(provider)
            .config(options.config)
            .clock(clock.clone())
            .build();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = stk_tracker::receiver::router(tracker.clone());
        tokio::spawn(stk_tracker::receiver::serve(listener, app, async move {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            kind,
            emulator,
            tracker,
            clock,
            events: Collector::default(),
            http,
            receiver,
            config: options.config,
            db,
            _stop: stop,
            _dir: dir,
        }
    }

    /// The SQLite file the tracker records in.
    pub fn db(&self) -> &std::path::Path {
        &self.db
    }

    /// Pushes KES 100 from `phone` for `reference` through the tracker.
    pub async fn push(&self, phone: &str, reference: &str) -> Result<Attempt, TrackerError> {
        self.tracker.push(&request(phone, reference)).await
    }

    pub async fn attempt(&self, id: &str) -> Attempt {
        self.tracker.attempt(id).await.unwrap()
    }

    pub async fn transitions(&self, attempt_id: &str) -> Vec<Transition> {
        self.tracker.store().transitions(attempt_id).await.unwrap()
    }

    /// Processes every stored callback and delivers every due event.
    pub async fn settle(&self) {
        while self.tracker.process_inbox().await.unwrap() > 0 {}
        while self.tracker.deliver_events(&self.events).await.unwrap() > 0 {}
    }

    /// Processes stored callbacks and delivers events until the attempt satisfies `done`
    /// (the emulator's callbacks come in real time; bounded by [`WAIT`]). Never sweeps.
    pub async fn process_until(
        &self,
        attempt_id: &str,
        done: impl Fn(&Attempt) -> bool,
    ) -> Attempt {
        self.rounds_until(attempt_id, done, false).await
    }

    /// As [`process_until`](Self::process_until), and each round a second later on the
    /// tracker's clock with a sweep: the quick looks after a final claim that found the
    /// payment's query budget spent.
    pub async fn process_and_look_until(
        &self,
        attempt_id: &str,
        done: impl Fn(&Attempt) -> bool,
    ) -> Attempt {
        self.rounds_until(attempt_id, done, true).await
    }

    async fn rounds_until(
        &self,
        attempt_id: &str,
        done: impl Fn(&Attempt) -> bool,
        look: bool,
    ) -> Attempt {
        let wait = async {
            loop {
                self.settle().await;
                if look {
                    self.clock.advance(Duration::from_secs(1));
                    self.tracker.sweep().await.unwrap();
                    self.settle().await;
                }
                let attempt = self.attempt(attempt_id).await;
                if done(&attempt) {
                    return attempt;
                }
                tokio::time::sleep(POLL).await;
            }
        };
        match tokio::time::timeout(WAIT, wait).await {
            Ok(attempt) => attempt,
            Err(_) => panic!(
                "{:?}: attempt {attempt_id} never got there: {:?}",
                self.kind,
                self.attempt(attempt_id).await
            ),
        }
    }

    /// Waits until the provider says the payment is final.
    pub async fn until_provider_final(&self, id: &str) -> PaymentStatus {
        let wait = async {
            loop {
                if let Some(status) = self.emulator.payment_status(id).filter(|s| s.is_final()) {
                    return status;
                }
                tokio::time::sleep(POLL).await;
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .unwrap_or_else(|_| panic!("{:?}: payment {id} never became final", self.kind))
    }

    /// Waits until the emulator has delivered a final callback about `id` (not KulmiPay's
    /// `PENDING` or `PROCESSING` webhooks) that the receiver acknowledged.
    pub async fn until_callback_delivered(&self, id: &str) {
        let wait = async {
            loop {
                let delivered = self.emulator.ledger().webhooks().iter().any(|w| {
                    w.payment_id == id
                        && w.status.is_some_and(|s| s / 100 == 2)
                        && !matches!(w.state.as_str(), "PENDING" | "PROCESSING")
                });
                if delivered {
                    return;
                }
                tokio::time::sleep(POLL).await;
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .unwrap_or_else(|_| panic!("{:?}: no callback about {id} was delivered", self.kind));
    }

    /// The receiver's path for this provider, with the genuine secret in the query for
    /// the providers whose secret travels in the URL.
    pub fn target(&self) -> String {
        match self.kind {
            Kind::KulmiPay => "/kulmipay".to_owned(),
            _ => format!("/{}?token={SECRET}", self.kind.name()),
        }
    }

    /// POSTs a callback body to the receiver, as the provider would; returns the status.
    pub async fn post(&self, body: &[u8]) -> reqwest::StatusCode {
        self.post_to(&self.target(), body).await
    }

    pub async fn post_to(&self, target: &str, body: &[u8]) -> reqwest::StatusCode {
        self.http
            .post(format!("{}{target}", self.receiver))
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
            .status()
    }

    /// POSTs a body with a guessed secret (wrong `?token=`, or KulmiPay's `challenge`).
    pub async fn post_with_guessed_secret(&self, body: &[u8]) -> reqwest::StatusCode {
        match self.kind {
            Kind::KulmiPay => {
                let mut value: Value = serde_json::from_slice(body).unwrap();
                value["challenge"] = json!("guessed-challenge");
                self.post(&serde_json::to_vec(&value).unwrap()).await
            }
            _ => {
                let target = format!("/{}?token=guessed-token", self.kind.name());
                self.post_to(&target, body).await
            }
        }
    }

    /// A callback body in this provider's documented shape about payment `id` (the
    /// provider's own id) claiming `claim`, with the genuine secret: what a forger who
    /// learnt the callback URL (or KulmiPay's challenge) can send.
    pub fn claim_body(&self, id: &str, claim: &Claim) -> Vec<u8> {
        let charge = self
            .emulator
            .ledger()
            .charges()
            .into_iter()
            .find(|c| c.id == id);
        let phone = charge.map_or_else(|| "254712000001".to_owned(), |c| c.phone);
        let checkout = self.emulator.checkout_request_id(id).unwrap_or_default();
        let word = if claim.success { "Success" } else { "Failed" };
        let desc = if claim.result_code == 0 {
            "The service request is processed successfully."
        } else {
            "Request cancelled by user"
        };
        let body = match self.kind {
            Kind::KulmiPay => {
                // Edit the genuine invoice webhook (it carries the challenge).
                let genuine = self.emulator.callback_for(id).unwrap();
                let mut v: Value = serde_json::from_slice(&genuine.body).unwrap();
                v["state"] = json!(if claim.success { "COMPLETE" } else { "FAILED" });
                v["value"] = json!(format!("{}.00", claim.amount));
                v["api_ref"] = json!(claim.reference);
                v["mpesa_reference"] = if claim.success {
                    json!(claim.receipt)
                } else {
                    Value::Null
                };
                if claim.result_code == 0 {
                    v["failed_code"] = Value::Null;
                    v["failed_reason"] = Value::Null;
                } else {
                    v["failed_code"] = json!(claim.result_code.to_string());
                    v["failed_reason"] = json!(desc);
                }
                v
            }
            Kind::UpesiPay => json!({
                "forward_url": "",
                "response": {
                    "Amount": claim.amount,
                    "CheckoutRequestID": checkout,
                    "ExternalReference": claim.reference,
                    "MerchantRequestID": "4242-12345678-1",
                    "MpesaReceiptNumber": claim.receipt,
                    "Phone": format!("+{phone}"),
                    "ResultCode": claim.result_code,
                    "ResultDesc": desc,
                    "Status": word,
                },
                "status": claim.success,
            }),
            Kind::LipiaNested => json!({
                "response": {
                    "Amount": claim.amount,
                    "ExternalReference": claim.reference,
                    "MerchantRequestID": "42424-12345678-1",
                    "MpesaReceiptNumber": claim.receipt,
                    "Phone": phone,
                    "ResultCode": claim.result_code,
                    "ResultDesc": desc,
                    "Metadata": {},
                    "CheckoutRequestID": checkout,
                    "Status": word,
                },
                "status": claim.success,
            }),
            Kind::LipiaFlat => {
                let mut v = json!({
                    "TransactionReference": id,
                    "ResultCode": claim.result_code,
                    "ResultDesc": desc,
                    "Amount": claim.amount,
                    "MpesaReceiptNumber": claim.receipt,
                    "PhoneNumber": phone,
                    "ExternalReference": claim.reference,
                    "CheckoutRequestID": checkout,
                });
                // The flat shape has no status word; a contradicting one is added.
                if claim.success != (claim.result_code == 0) {
                    v["Status"] = json!(word);
                }
                v
            }
            Kind::Daraja => {
                let mut callback = json!({
                    "MerchantRequestID": "29115-34620561-1",
                    "CheckoutRequestID": id,
                    "ResultCode": claim.result_code,
                    "ResultDesc": desc,
                });
                if claim.result_code == 0 {
                    let phone: u64 = phone.parse().unwrap_or(254_712_000_001);
                    callback["CallbackMetadata"] = json!({ "Item": [
                        { "Name": "Amount", "Value": claim.amount },
                        { "Name": "MpesaReceiptNumber", "Value": claim.receipt },
                        { "Name": "TransactionDate", "Value": 20_261_206_101_500_u64 },
                        { "Name": "PhoneNumber", "Value": phone },
                    ]});
                }
                json!({ "Body": { "stkCallback": callback } })
            }
        };
        serde_json::to_vec(&body).unwrap()
    }

    /// How many stored callbacks ended with each outcome (`unprocessed` for none yet).
    pub async fn inbox_outcomes(&self) -> BTreeMap<String, i64> {
        let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", self.db.display()))
            .await
            .unwrap();
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT COALESCE(outcome, 'unprocessed'), COUNT(*) FROM stk_inbox GROUP BY 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        rows.into_iter().collect()
    }

    /// Stored callbacks in all.
    pub async fn inbox_rows(&self) -> i64 {
        self.inbox_outcomes().await.values().sum()
    }
}

pub fn request(phone: &str, reference: &str) -> StkPushRequest {
    StkPushRequest::builder()
        .phone(phone)
        .amount(100)
        .reference(reference)
        .build()
        .unwrap()
}
