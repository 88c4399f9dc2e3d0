//! The fake provider: an in-memory [`StkProvider`] scripted by phone number.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stk_core::{
    AmountLimits, CallbackClaim, CallbackRequest, Completed, Error, Failure, PaymentId,
    PaymentStatus, PhoneNumber, PushAccepted, ResultCode, StatusReport, StkProvider,
    StkPushRequest, async_trait, secrets_match,
};
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::Scenario;
use crate::simulation::{Refusal, Script, Simulation};

/// The provider name the fake provider reports.
pub const NAME: &str = "mock";

/// The header carrying the fake provider's callback token.
pub const CALLBACK_TOKEN_HEADER: &str = "x-stk-mock-token";

/// A fake M-Pesa provider: no network, no credentials, outcomes scripted by phone number
/// (see [`TEST_NUMBERS`](crate::TEST_NUMBERS); any other number completes).
///
/// Payments take [`MockProviderBuilder::delay`] (default 2 s) from acceptance to result:
/// `pending`, then `processing` halfway, then final. Time is tokio's clock, so tests under
/// `tokio::time::pause()` run instantly. Clones share state.
///
/// ```
/// use stk_core::{StkProvider, StkPushRequest, wait_for_final, PollPolicy, PaymentStatus};
/// use stk_mock::MockProvider;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), stk_core::Error> {
/// let provider = MockProvider::new();
/// let request = StkPushRequest::builder()
///     .phone("0712345678").amount(100).reference("ORDER-1").build()?;
/// let accepted = provider.initiate(&request).await?;
/// let status = wait_for_final(&provider, &accepted.payment_id, &PollPolicy::default()).await?;
/// assert!(matches!(status, PaymentStatus::Completed(_)));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MockProvider {
    inner: Arc<Inner>,
}

struct Inner {
    simulation: Mutex<Simulation>,
    requests: Mutex<Vec<StkPushRequest>>,
    events: broadcast::Sender<CallbackClaim>,
    limits: AmountLimits,
    callback_token: String,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockProvider")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Configures a [`MockProvider`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MockProviderBuilder {
    seed: u64,
    delay: Duration,
    limits: AmountLimits,
    scripts: Vec<(PhoneNumber, Script)>,
    callback_token: String,
}

impl Default for MockProviderBuilder {
    fn default() -> Self {
        Self {
            seed: 0x5EED,
            delay: Duration::from_secs(2),
            limits: AmountLimits::MPESA,
            scripts: Vec::new(),
            callback_token: "mock-callback-token".to_owned(),
        }
    }
}

impl MockProviderBuilder {
    /// Seed for ids and receipts (same seed, same ids).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Time from acceptance to result for numbers without their own script.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Amount limits to enforce (default: M-Pesa's, KES 1 to 150,000).
    pub fn limits(mut self, limits: AmountLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Scripts one number's outcome and delay, overriding the test-number table.
    pub fn script(mut self, phone: PhoneNumber, scenario: Scenario, delay: Duration) -> Self {
        self.scripts.push((phone, Script::new(scenario, delay)));
        self
    }

    /// The secret the fake provider's callbacks carry in [`CALLBACK_TOKEN_HEADER`].
    pub fn callback_token(mut self, token: impl Into<String>) -> Self {
        self.callback_token = token.into();
        self
    }

    /// Builds the provider.
    pub fn build(self) -> MockProvider {
        let mut simulation = Simulation::new(self.seed, "MOCK", self.delay);
        for (phone, script) in self.scripts {
            simulation.script(phone, script);
        }
        let (events, _) = broadcast::channel(256);
        MockProvider {
            inner: Arc::new(Inner {
                simulation: Mutex::new(simulation),
                requests: Mutex::new(Vec::new()),
                events,
                limits: self.limits,
                callback_token: self.callback_token,
            }),
        }
    }
}

/// The JSON body of the fake provider's callbacks.
#[derive(Debug, Serialize, Deserialize)]
struct CallbackBody {
    payment_id: String,
    reference: String,
    state: String,
    result_code: Option<String>,
    result_desc: Option<String>,
    receipt: Option<String>,
    amount: Option<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the simulation half-updated.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Default for MockProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl MockProvider {
    /// A fake provider with the defaults (2 s delay, M-Pesa limits).
    pub fn new() -> Self {
        MockProviderBuilder::default().build()
    }

    /// Starts a builder.
    pub fn builder() -> MockProviderBuilder {
        MockProviderBuilder::default()
    }

    /// Subscribes to the events the fake provider emits: one when a payment starts
    /// processing and one when it becomes final, as providers' webhooks do.
    pub fn subscribe(&self) -> broadcast::Receiver<CallbackClaim> {
        self.inner.events.subscribe()
    }

    /// Every request that reached [`StkProvider::initiate`] past validation, in order.
    pub fn requests(&self) -> Vec<StkPushRequest> {
        lock(&self.inner.requests).clone()
    }

    /// The callback the fake provider would POST for this payment now, signed with its
    /// token; `None` for an unknown id.
    pub fn callback_for(&self, id: &PaymentId) -> Option<CallbackRequest> {
        let sim = lock(&self.inner.simulation);
        let payment = sim.get(id)?;
        let status = payment.status_at(Instant::now());
        let (result_code, result_desc, receipt) = match &status {
            PaymentStatus::Completed(c) => (Some("0".to_owned()), None, c.receipt.clone()),
            PaymentStatus::Failed(f) => (
                f.code.as_ref().map(|c| c.to_string()),
                f.message.clone(),
                None,
            ),
            _ => (None, None, None),
        };
        let body = CallbackBody {
            payment_id: id.to_string(),
            reference: payment.reference.clone(),
            state: status.as_str().to_owned(),
            result_code,
            result_desc,
            receipt,
            amount: Some(payment.amount.shillings()),
        };
        let json = serde_json::to_vec(&body).ok()?;
        Some(
            CallbackRequest::new(json)
                .header("content-type", "application/json")
                .header(CALLBACK_TOKEN_HEADER, self.inner.callback_token.clone()),
        )
    }

    fn emit_later(&self, id: PaymentId, at: Instant) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let Some(inner) = weak.upgrade() else { return };
            let provider = MockProvider { inner };
            let event = {
                let sim = lock(&provider.inner.simulation);
                let Some(p) = sim.get(&id) else { return };
                CallbackClaim::new(NAME, Some(id.clone()), p.status_at(Instant::now()))
                    .merchant_reference(Some(p.reference.clone()))
            };
            // No subscribers is fine.
            let _ = provider.inner.events.send(event);
        });
    }
}

#[async_trait]
impl StkProvider for MockProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn limits(&self) -> AmountLimits {
        self.inner.limits
    }

    async fn initiate(&self, request: &StkPushRequest) -> Result<PushAccepted, Error> {
        request.check_limits(&self.inner.limits)?;
        lock(&self.inner.requests).push(request.clone());
        let now = Instant::now();
        let started = lock(&self.inner.simulation).start(request, now);
        match started {
            Ok(payment) => {
                if payment.script.delay > Duration::ZERO {
                    self.emit_later(payment.id.clone(), now + payment.script.delay / 2);
                }
                if let Some(at) = payment.final_at() {
                    self.emit_later(payment.id.clone(), at);
                }
                let status = payment.status_at(now);
                Ok(PushAccepted::new(NAME, payment.id)
                    .customer_message(Some(
                        "Enter your M-Pesa PIN on your phone to pay".to_owned(),
                    ))
                    .status(status))
            }
            Err(Refusal::Rejected) => Err(Error::Rejected {
                provider: NAME,
                code: Some("NOT_MPESA_CUSTOMER".to_owned()),
                message: format!(
                    "{} is not a registered M-Pesa line",
                    request.phone().masked()
                ),
                customer_message: Some("This number cannot receive M-Pesa prompts".to_owned()),
            }),
            Err(Refusal::Unavailable) => Err(Error::Unavailable {
                provider: NAME,
                status: Some(503),
                message: "the fake provider is scripted to be down for this number".to_owned(),
                cause: None,
            }),
        }
    }

    async fn status(&self, id: &PaymentId) -> Result<PaymentStatus, Error> {
        self.status_report(id).await.map(|report| report.status)
    }

    /// The fake provider's answer names the payment's reference and phone, as KulmiPay's
    /// and Lipia's do.
    async fn status_report(&self, id: &PaymentId) -> Result<StatusReport, Error> {
        let sim = lock(&self.inner.simulation);
        sim.get(id)
            .map(|p| {
                StatusReport::new(p.status_at(Instant::now()))
                    .merchant_reference(Some(&p.reference))
                    .phone(Some(&p.phone.international()))
            })
            .ok_or_else(|| Error::UnknownPayment {
                provider: NAME,
                id: id.clone(),
            })
    }

    fn parse_callback(&self, callback: &CallbackRequest) -> Result<CallbackClaim, Error> {
        let token = callback
            .header_value(CALLBACK_TOKEN_HEADER)
            .ok_or_else(|| {
                Error::invalid_callback(NAME, format!("missing {CALLBACK_TOKEN_HEADER} header"))
            })?;
        if !secrets_match(token.as_bytes(), self.inner.callback_token.as_bytes()) {
            return Err(Error::invalid_callback(
                NAME,
                "callback token does not match",
            ));
        }
        let body: CallbackBody = serde_json::from_slice(&callback.body)
            .map_err(|e| Error::invalid_callback(NAME, format!("malformed body: {e}")))?;
        let status = match body.state.as_str() {
            "pending" => PaymentStatus::Pending,
            "processing" => PaymentStatus::Processing,
            "completed" => PaymentStatus::Completed(
                Completed::with_receipt(body.receipt.unwrap_or_default())
                    .amount(body.amount.and_then(|a| stk_core::Amount::new(a).ok())),
            ),
            "failed" => {
                let code = body.result_code.ok_or_else(|| {
                    Error::invalid_callback(NAME, "failed callback without result_code")
                })?;
                PaymentStatus::Failed(Failure::from_code(ResultCode::new(code), body.result_desc))
            }
            other => {
                return Err(Error::invalid_callback(
                    NAME,
                    format!("unknown state {other:?}"),
                ));
            }
        };
        Ok(
            CallbackClaim::new(NAME, Some(PaymentId::new(body.payment_id)), status)
                .merchant_reference(Some(body.reference)),
        )
    }
}
