//! The Lipia Online emulator: `POST /payments/stk-push`, `GET /payments/status?reference=`,
//! Lipia's `{success, status, message, customerMessage, data | error, timestamp}` envelope,
//! its Safaricom-only phone rule, and callbacks POSTed to each request's `callback_url`.
//!
//! Status codes chosen where Lipia's docs are silent: an accepted push answers **200** (the
//! docs' PHP example checks `=== 200`); validation and payment errors answer 400; a bad or
//! missing API key 401; an unknown reference 404; the scripted outage 503.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Map, Value, json};
use stk_core::scenario::Scenario;
use stk_core::{CallbackRequest, PaymentStatus, PhoneNumber, StkPushRequest};
use tokio::time::Instant;

use super::faults::{Endpoint, Faults};
use super::ledger::{Ledger, RecordedCharge, WebhookDelivery};
use super::server::{Api, Incoming, Reply, ServerHandle};
use super::util::{lock, now_rfc3339};
use crate::simulation::{Refusal, Script, SimulatedPayment, Simulation};

const PREFIX: &str = "/api/v2";
const PUSH: &str = "/payments/stk-push";
const STATUS: &str = "/payments/status";

/// The `expected` text of Lipia's phone-number validation error.
pub const EXPECTED_SAFARICOM: &str = "valid safaricom kenyan number";

/// Which callback body shape the emulator POSTs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LipiaCallbackShape {
    /// `{"response": {…, "Status": "Success" | "Failed"}, "status": bool}` (current docs).
    #[default]
    Nested,
    /// The older flat body some integrations expect: `{TransactionReference, ResultCode,
    /// ResultDesc, Amount, MpesaReceiptNumber, PhoneNumber, ExternalReference,
    /// CheckoutRequestID}`.
    Flat,
}

/// Configures a [`LipiaEmulator`].
#[derive(Clone)]
#[must_use]
pub struct LipiaEmulatorConfig {
    port: u16,
    api_key: String,
    delay: Duration,
    seed: u64,
    callback_attempts: u32,
    callback_shape: LipiaCallbackShape,
    scripts: Vec<(PhoneNumber, Script)>,
}

impl fmt::Debug for LipiaEmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LipiaEmulatorConfig")
            .field("port", &self.port)
            .field("delay", &self.delay)
            .field("callback_shape", &self.callback_shape)
            .finish_non_exhaustive()
    }
}

impl Default for LipiaEmulatorConfig {
    fn default() -> Self {
        Self {
            port: 0,
            api_key: "lipia-emulator-api-key".to_owned(),
            delay: Duration::from_millis(100),
            seed: 0x4C49_5049,
            callback_attempts: 3,
            callback_shape: LipiaCallbackShape::Nested,
            scripts: Vec::new(),
        }
    }
}

impl LipiaEmulatorConfig {
    /// The port to bind on `127.0.0.1` (default `0`: a free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The API key clients must send as `Authorization: Bearer <key>` (default
    /// `lipia-emulator-api-key`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }

    /// Time from acceptance to result for numbers without their own script (default 100 ms).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Seed for references, request ids and receipts.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How many times a callback is POSTed until the receiver acknowledges it with HTTP 200
    /// and the body `ok` (default 3).
    pub fn callback_attempts(mut self, attempts: u32) -> Self {
        self.callback_attempts = attempts.max(1);
        self
    }

    /// Which callback body shape to send (default [`LipiaCallbackShape::Nested`]).
    pub fn callback_shape(mut self, shape: LipiaCallbackShape) -> Self {
        self.callback_shape = shape;
        self
    }

    /// Scripts one number's outcome and delay, overriding the test-number table.
    pub fn script(mut self, phone: PhoneNumber, scenario: Scenario, delay: Duration) -> Self {
        self.scripts.push((phone, Script::new(scenario, delay)));
        self
    }
}

/// One callback POST the emulator made, and whether the receiver acknowledged it the way
/// Lipia asks (HTTP 200 with the body `ok`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LipiaCallbackAttempt {
    /// The payment's `TransactionReference`.
    pub reference: String,
    /// The attempt number, from 1.
    pub attempt: u32,
    /// The receiver's HTTP status, or `None` if the request failed.
    pub status: Option<u16>,
    /// The receiver's body (first 64 bytes, lossily decoded).
    pub body: String,
    /// Whether it was HTTP 200 with the body `ok` (surrounding whitespace ignored).
    pub acknowledged: bool,
}

#[derive(Debug, Clone)]
struct Payment {
    payment: SimulatedPayment,
    reference: String,
    external_reference: Value,
    callback_url: Option<String>,
    metadata: Value,
    merchant_request_id: String,
    checkout_request_id: String,
    created_at: String,
}

#[derive(Debug)]
struct Books {
    simulation: Simulation,
    payments: HashMap<String, Payment>,
    rng: fastrand::Rng,
}

struct LipiaState {
    me: Weak<LipiaState>,
    config: LipiaEmulatorConfig,
    books: Mutex<Books>,
    ledger: Ledger,
    attempts: Mutex<Vec<LipiaCallbackAttempt>>,
    http: reqwest::Client,
}

/// A running Lipia Online emulator on `127.0.0.1`.
///
/// Serves, under [`base_url`](Self::base_url) (`http://127.0.0.1:PORT/api/v2`),
/// `POST /payments/stk-push` and `GET /payments/status?reference=…`, both with
/// `Authorization: Bearer <API key>`. Payments follow the test-number scripts of
/// [`stk_core::scenario`] in real time; the final result is POSTed to the push's
/// `callback_url`, if it had one.
///
/// ```no_run
/// use stk_mock::emulator::{LipiaEmulator, LipiaEmulatorConfig};
///
/// # async fn demo() -> std::io::Result<()> {
/// let emulator =
///     LipiaEmulator::start(LipiaEmulatorConfig::default().port(8082).api_key("my-key")).await?;
/// println!("LIPIA_BASE_URL={}", emulator.base_url());
/// println!("LIPIA_API_KEY={}", emulator.api_key());
/// emulator.shutdown().await;
/// # Ok(()) }
/// ```
pub struct LipiaEmulator {
    server: ServerHandle,
    state: Arc<LipiaState>,
    faults: Faults,
    base_url: String,
}

impl fmt::Debug for LipiaEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LipiaEmulator")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl LipiaEmulator {
    /// Starts the emulator on `127.0.0.1` and the configured port.
    pub async fn start(config: LipiaEmulatorConfig) -> io::Result<Self> {
        let mut simulation = Simulation::new(config.seed, "", config.delay);
        for (phone, script) in &config.scripts {
            simulation.script(*phone, *script);
        }
        let http = super::util::webhook_client()?;
        let ledger = Ledger::default();
        let faults = Faults::default();
        let port = config.port;
        let seed = config.seed;
        let state = Arc::new_cyclic(|me| LipiaState {
            me: me.clone(),
            config,
            books: Mutex::new(Books {
                simulation,
                payments: HashMap::new(),
                rng: fastrand::Rng::with_seed(seed.wrapping_add(1)),
            }),
            ledger: ledger.clone(),
            attempts: Mutex::new(Vec::new()),
            http,
        });
        let server = ServerHandle::start(port, state.clone(), faults.clone(), ledger).await?;
        let base_url = format!("http://{}{PREFIX}", server.addr());
        Ok(Self {
            server,
            state,
            faults,
            base_url,
        })
    }

    /// The API base URL, `http://127.0.0.1:PORT/api/v2` (what `LIPIA_BASE_URL` takes).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The socket address listened on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The API key clients must send.
    pub fn api_key(&self) -> &str {
        &self.state.config.api_key
    }

    /// The record of requests, charges and callback deliveries.
    pub fn ledger(&self) -> &Ledger {
        &self.state.ledger
    }

    /// The fault queue.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Every callback POST made so far, with whether it was acknowledged.
    pub fn callback_attempts(&self) -> Vec<LipiaCallbackAttempt> {
        lock(&self.state.attempts).clone()
    }

    /// The status of a payment now, as the simulation sees it (`None` if unknown).
    pub fn payment_status(&self, reference: &str) -> Option<PaymentStatus> {
        lock(&self.state.books)
            .payments
            .get(reference)
            .map(|p| p.payment.status_at(Instant::now()))
    }

    /// The `CheckoutRequestID` of a payment, which the (nested) callback carries instead of
    /// the `TransactionReference`; `None` for an unknown reference.
    pub fn checkout_request_id(&self, reference: &str) -> Option<String> {
        lock(&self.state.books)
            .payments
            .get(reference)
            .map(|p| p.checkout_request_id.clone())
    }

    /// The callback the emulator would POST for this payment now, as the merchant's server
    /// would receive it (path and query of the push's `callback_url`, JSON body); `None` for
    /// an unknown reference or a payment that is not final yet.
    pub fn callback_for(&self, reference: &str) -> Option<CallbackRequest> {
        let (body, url) = self.state.callback_body(reference)?;
        let mut cb = CallbackRequest::new(body).header("content-type", "application/json");
        if let Some(url) = url.and_then(|u| reqwest::Url::parse(&u).ok()) {
            let target = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_owned(),
            };
            cb = cb.path_and_query(target);
        }
        Some(cb)
    }

    /// Stops the server.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// Lipia's envelope for a successful call.
fn ok_envelope(message: &str, customer_message: &str, data: Value) -> Value {
    json!({
        "success": true,
        "status": "success",
        "message": message,
        "customerMessage": customer_message,
        "data": data,
        "timestamp": now_rfc3339(),
    })
}

/// Lipia's error envelope.
fn error_reply(status: StatusCode, message: &str, customer_message: &str, error: Value) -> Reply {
    Reply::json(
        status,
        json!({
            "success": false,
            "status": "error",
            "message": message,
            "customerMessage": customer_message,
            "error": error,
            "timestamp": now_rfc3339(),
        }),
    )
}

/// A `VALIDATION_ERROR` for one field.
fn validation_error(field: &str, location: &str, value: &Value, expected: &str) -> Reply {
    error_reply(
        StatusCode::BAD_REQUEST,
        "Validation failed",
        "Please check your input and try again",
        json!({
            "code": "VALIDATION_ERROR",
            "field": field,
            "location": location,
            "value": value,
            "expected": expected,
        }),
    )
}

fn normalized(path: &str) -> &str {
    let path = path.split('?').next().unwrap_or("/");
    let path = path.strip_prefix(PREFIX).unwrap_or(path);
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() { "/" } else { trimmed }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Lipia's phone rule: `2547…`, `2541…`, `+2547…`, `+2541…`, `07…` or `01…`, nine digits
/// after the prefix's `7`/`1`, and a Safaricom number.
pub(crate) fn safaricom_phone(input: &str) -> Option<PhoneNumber> {
    let s = input.trim();
    let national = s
        .strip_prefix("+254")
        .or_else(|| s.strip_prefix("254"))
        .or_else(|| s.strip_prefix('0'))?;
    let well_formed = national.len() == 9
        && national.bytes().all(|b| b.is_ascii_digit())
        && (national.starts_with('7') || national.starts_with('1'));
    if !well_formed {
        return None;
    }
    PhoneNumber::parse(s).ok().filter(PhoneNumber::is_safaricom)
}

/// `amount`: a positive integer (a JSON integer, or integer text), at least 1.
fn parse_amount(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f <= 1e12)
                .map(|f| f as u64)
        }),
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        }
        _ => None,
    }
    .filter(|n| *n >= 1)
}

fn hex_id(rng: &mut fastrand::Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(b"0123456789abcdef"[rng.usize(..16)]))
        .collect()
}

/// A result code as Lipia sends it: a JSON number when numeric.
fn code_json(code: &str) -> Value {
    code.parse::<i64>()
        .map_or_else(|_| json!(code), Value::from)
}

impl LipiaState {
    /// `None` when authorised, else the 401 reply.
    fn check_auth(&self, headers: &HeaderMap) -> Option<Reply> {
        let unauthorized = |message: &str| {
            error_reply(
                StatusCode::UNAUTHORIZED,
                message,
                "Authentication failed",
                json!({"code": "UNAUTHORIZED"}),
            )
        };
        let Some(token) = bearer(headers) else {
            return Some(unauthorized("API key is required"));
        };
        if !stk_core::secrets_match(token.as_bytes(), self.config.api_key.as_bytes()) {
            return Some(unauthorized("Invalid API key"));
        }
        None
    }

    /// The fields shared by the status `response` and the nested callback.
    fn record_json(payment: &Payment, now: Instant) -> (Map<String, Value>, &'static str, bool) {
        let status = payment.payment.status_at(now);
        let (receipt, code, desc, state, ok) = match &status {
            PaymentStatus::Completed(c) => (
                c.receipt.clone().unwrap_or_default(),
                json!(0),
                json!("The service request is processed successfully."),
                "SUCCESS",
                true,
            ),
            PaymentStatus::Failed(f) => (
                String::new(),
                f.code.as_ref().map_or(json!(1), |c| code_json(c.as_str())),
                json!(f.message),
                "FAILED",
                false,
            ),
            _ => (
                String::new(),
                json!(0),
                json!("Request accepted for processing"),
                "PENDING",
                false,
            ),
        };
        let mut map = Map::new();
        map.insert(
            "Amount".to_owned(),
            json!(payment.payment.amount.shillings()),
        );
        map.insert(
            "ExternalReference".to_owned(),
            payment.external_reference.clone(),
        );
        map.insert(
            "MerchantRequestID".to_owned(),
            json!(payment.merchant_request_id),
        );
        map.insert("MpesaReceiptNumber".to_owned(), json!(receipt));
        map.insert(
            "Phone".to_owned(),
            json!(payment.payment.phone.international()),
        );
        map.insert("ResultCode".to_owned(), code);
        map.insert("ResultDesc".to_owned(), desc);
        map.insert("Metadata".to_owned(), payment.metadata.clone());
        (map, state, ok)
    }

    fn initiate(&self, body: &Map<String, Value>) -> Reply {
        let phone_value = body.get("phone_number").cloned().unwrap_or(Value::Null);
        let phone = match &phone_value {
            Value::String(s) => safaricom_phone(s),
            Value::Number(n) => safaricom_phone(&n.to_string()),
            _ => None,
        };
        let Some(phone) = phone else {
            return validation_error("phone_number", "body", &phone_value, EXPECTED_SAFARICOM);
        };
        let amount_value = body.get("amount").cloned().unwrap_or(Value::Null);
        let Some(amount) = parse_amount(&amount_value) else {
            return validation_error(
                "amount",
                "body",
                &amount_value,
                "positive integer, minimum 1",
            );
        };
        let external_reference = match body.get("external_reference") {
            None | Some(Value::Null) => Value::Null,
            Some(v @ (Value::String(_) | Value::Number(_))) => v.clone(),
            Some(v) => {
                return validation_error("external_reference", "body", v, "string or number");
            }
        };
        let callback_url = match body.get("callback_url") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if reqwest::Url::parse(s.trim()).is_ok() => {
                Some(s.trim().to_owned())
            }
            Some(v) => return validation_error("callback_url", "body", v, "valid URL"),
        };
        let metadata = match body.get("metadata") {
            None | Some(Value::Null) => json!({}),
            Some(v @ Value::Object(_)) => v.clone(),
            Some(v) => return validation_error("metadata", "body", v, "object"),
        };
        let reference_text = match &external_reference {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let sim_reference = reference_text
            .as_deref()
            .filter(|r| stk_core::Reference::new(*r).is_ok())
            .unwrap_or("LIPIA");
        let Ok(request) = StkPushRequest::builder()
            .phone(phone)
            .amount(amount)
            .reference(sim_reference)
            .build()
        else {
            return validation_error(
                "amount",
                "body",
                &amount_value,
                "amount within M-Pesa limits",
            );
        };

        let now = Instant::now();
        let mut books = lock(&self.books);
        let payment = match books.simulation.start(&request, now) {
            Ok(p) => p,
            Err(Refusal::Rejected) => {
                return error_reply(
                    StatusCode::BAD_REQUEST,
                    "Failed to initiate STK push: the subscriber cannot be charged",
                    "We could not send the payment request to this number. Please try another number.",
                    json!({"code": "PAYMENT_ERROR", "details": "STK push rejected by M-Pesa"}),
                );
            }
            Err(_) => {
                return error_reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "M-Pesa service is temporarily unavailable",
                    "Payments are temporarily unavailable. Please try again shortly.",
                    json!({"code": "SERVICE_UNAVAILABLE"}),
                );
            }
        };
        let reference = hex_id(&mut books.rng, 24);
        let merchant_request_id = format!(
            "{}-{}-1",
            books.rng.u32(10_000..100_000),
            books.rng.u32(10_000_000..100_000_000)
        );
        let checkout_request_id = format!("ws_CO_{}", hex_id(&mut books.rng, 20));
        let record = Payment {
            payment: payment.clone(),
            reference: reference.clone(),
            external_reference,
            callback_url,
            metadata,
            merchant_request_id,
            checkout_request_id,
            created_at: now_rfc3339(),
        };
        books.payments.insert(reference.clone(), record.clone());
        drop(books);
        self.ledger.record_charge(RecordedCharge {
            id: reference.clone(),
            phone: payment.phone.international(),
            amount,
            reference: reference_text,
            api: "v2",
        });
        self.schedule_callback(&record);
        Reply::json(
            StatusCode::OK,
            ok_envelope(
                "STK push initiated successfully",
                "STK push initiated successfully",
                json!({
                    "TransactionReference": reference,
                    "ResponseCode": 0,
                    "ResponseDescription": "Success. Request accepted for processing",
                }),
            ),
        )
    }

    fn status(&self, path: &str) -> Reply {
        let reference = path
            .split_once('?')
            .and_then(|(_, q)| {
                reqwest::Url::parse(&format!("http://q.invalid/?{q}"))
                    .ok()?
                    .query_pairs()
                    .find(|(k, _)| k == "reference")
                    .map(|(_, v)| v.trim().to_owned())
            })
            .filter(|r| !r.is_empty());
        let Some(reference) = reference else {
            return validation_error("reference", "query", &Value::Null, "transaction reference");
        };
        let payment = lock(&self.books).payments.get(&reference).cloned();
        let Some(payment) = payment else {
            return error_reply(
                StatusCode::NOT_FOUND,
                "Transaction not found",
                "We could not find this transaction",
                json!({"code": "NOT_FOUND", "reference": reference}),
            );
        };
        let (mut record, state, ok) = Self::record_json(&payment, Instant::now());
        record.insert("Status".to_owned(), json!(state));
        record.insert("TransactionDate".to_owned(), json!(payment.created_at));
        let (message, customer) = match state {
            "SUCCESS" => ("Payment completed successfully", "Payment received"),
            "FAILED" => ("Payment failed", "Payment was not completed"),
            _ => ("Payment is pending", "Waiting for the customer to pay"),
        };
        Reply::json(
            StatusCode::OK,
            json!({
                "success": true,
                "message": message,
                "customerMessage": customer,
                "data": {"response": Value::Object(record), "status": ok},
            }),
        )
    }

    /// The final callback body for a payment now and its callback URL; `None` if unknown or
    /// not final.
    fn callback_body(&self, reference: &str) -> Option<(Vec<u8>, Option<String>)> {
        let payment = lock(&self.books).payments.get(reference).cloned()?;
        let (mut record, state, ok) = Self::record_json(&payment, Instant::now());
        if state == "PENDING" {
            return None;
        }
        let body = match self.config.callback_shape {
            LipiaCallbackShape::Nested => {
                record.insert(
                    "CheckoutRequestID".to_owned(),
                    json!(payment.checkout_request_id),
                );
                record.insert(
                    "Status".to_owned(),
                    json!(if ok { "Success" } else { "Failed" }),
                );
                json!({"response": Value::Object(record), "status": ok})
            }
            LipiaCallbackShape::Flat => json!({
                "TransactionReference": payment.reference,
                "ResultCode": record.get("ResultCode"),
                "ResultDesc": record.get("ResultDesc"),
                "Amount": record.get("Amount"),
                "MpesaReceiptNumber": record.get("MpesaReceiptNumber"),
                "PhoneNumber": record.get("Phone"),
                "ExternalReference": record.get("ExternalReference"),
                "CheckoutRequestID": payment.checkout_request_id,
            }),
        };
        Some((serde_json::to_vec(&body).ok()?, payment.callback_url))
    }

    fn schedule_callback(&self, payment: &Payment) {
        if payment.callback_url.is_none() {
            return;
        }
        let Some(final_at) = payment.payment.final_at() else {
            return;
        };
        let me = self.me.clone();
        let reference = payment.reference.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(final_at).await;
            let Some(state) = me.upgrade() else { return };
            state.deliver(&reference).await;
        });
    }

    async fn deliver(&self, reference: &str) {
        let Some((body, Some(url))) = self.callback_body(reference) else {
            return;
        };
        let state = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| {
                v.pointer("/response/Status")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| v.get("ResultCode").map(|c| format!("ResultCode {c}")))
            })
            .unwrap_or_default();
        let mut backoff = Duration::from_millis(50);
        for attempt in 1..=self.config.callback_attempts {
            let sent = self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            let (status, text) = match sent {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let bytes = r.bytes().await.unwrap_or_default();
                    let text = String::from_utf8_lossy(bytes.get(..64).unwrap_or(&bytes));
                    (Some(status), text.into_owned())
                }
                Err(_) => (None, String::new()),
            };
            let acknowledged = status == Some(200) && text.trim() == "ok";
            self.ledger.record_webhook(WebhookDelivery {
                payment_id: reference.to_owned(),
                state: state.clone(),
                attempt,
                status,
            });
            lock(&self.attempts).push(LipiaCallbackAttempt {
                reference: reference.to_owned(),
                attempt,
                status,
                body: text,
                acknowledged,
            });
            if acknowledged {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
}

#[stk_core::async_trait]
impl Api for LipiaState {
    fn endpoint(&self, method: &Method, path: &str) -> Endpoint {
        match (method, normalized(path)) {
            (&Method::POST, PUSH) => Endpoint::Initiate,
            (&Method::GET, STATUS) => Endpoint::Status,
            _ => Endpoint::Other,
        }
    }

    fn is_secret_header(&self, name: &str) -> bool {
        matches!(name, "authorization" | "cookie")
    }

    fn key_fields(&self, _endpoint: Endpoint) -> &'static [&'static str] {
        &["data"]
    }

    async fn handle(&self, request: Incoming) -> Reply {
        let route = normalized(&request.path);
        let allowed = match route {
            PUSH => Method::POST,
            STATUS => Method::GET,
            _ => {
                return error_reply(
                    StatusCode::NOT_FOUND,
                    "Route not found",
                    "The requested resource was not found",
                    json!({"code": "NOT_FOUND", "path": route}),
                );
            }
        };
        if request.method != allowed {
            return error_reply(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("Method {} not allowed", request.method),
                "The requested resource was not found",
                json!({"code": "METHOD_NOT_ALLOWED"}),
            );
        }
        if let Some(refusal) = self.check_auth(&request.headers) {
            return refusal;
        }
        if request.endpoint == Endpoint::Status {
            return self.status(&request.path);
        }
        match serde_json::from_slice::<Value>(&request.body) {
            Ok(Value::Object(map)) => self.initiate(&map),
            Ok(_) | Err(_) => error_reply(
                StatusCode::BAD_REQUEST,
                "Invalid JSON body",
                "Please check your input and try again",
                json!({"code": "VALIDATION_ERROR", "location": "body", "expected": "JSON object"}),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_rule_takes_the_documented_forms_and_safaricom_only() {
        for ok in [
            "254712345678",
            "254112345678",
            "+254712345678",
            "+254112345678",
            "0712345678",
            "0112345678",
            " 0700000000 ",
        ] {
            assert!(safaricom_phone(ok).is_some(), "{ok}");
        }
        for bad in [
            "0733000000",   // Airtel
            "254733000000", // Airtel
            "0771234567",   // Telkom
            "712345678",    // no prefix
            "07123456789",  // too long
            "0812345678",   // not mobile
            "07 1234 5678", // spaces inside
            "",
        ] {
            assert!(safaricom_phone(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn amounts_are_positive_integers() {
        assert_eq!(parse_amount(&json!(1)), Some(1));
        assert_eq!(parse_amount(&json!("100")), Some(100));
        assert_eq!(parse_amount(&json!(100.0)), Some(100));
        assert_eq!(parse_amount(&json!(0)), None);
        assert_eq!(parse_amount(&json!(-5)), None);
        assert_eq!(parse_amount(&json!(10.5)), None);
        assert_eq!(parse_amount(&json!("1.5")), None);
        assert_eq!(parse_amount(&json!(true)), None);
    }

    #[test]
    fn paths_normalise() {
        assert_eq!(normalized("/api/v2/payments/stk-push"), PUSH);
        assert_eq!(normalized("/api/v2/payments/status?reference=x"), STATUS);
        assert_eq!(normalized("/api/v2/"), "/");
        assert_eq!(hex_id(&mut fastrand::Rng::with_seed(1), 24).len(), 24);
        assert_eq!(code_json("1032"), json!(1032));
        assert_eq!(code_json("SFC_IC0003"), json!("SFC_IC0003"));
    }
}
