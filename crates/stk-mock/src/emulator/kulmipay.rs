//! The KulmiPay emulator: both API generations ("express" `/payment/mpesa-stk-push/` and
//! the older "collection" `/payment/collection/stk-push/`), their status endpoints, DRF-style
//! errors, and `collection_event` webhooks.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use stk_core::scenario::Scenario;
use stk_core::{CallbackRequest, PaymentId, PaymentStatus, PhoneNumber, StkPushRequest};
use tokio::time::Instant;

use super::faults::{Endpoint, Faults};
use super::ledger::{Ledger, RecordedCharge, WebhookDelivery};
use super::server::{Api, Incoming, Reply, ServerHandle};
use super::util::{cents_text, lock, now_rfc3339};
use crate::simulation::{Refusal, Script, SimulatedPayment, Simulation};

/// The header carrying the hex HMAC-SHA256 of a webhook's raw body, keyed by the challenge
/// secret (older KulmiPay docs), when [`KulmiPayEmulatorConfig::sign_webhooks`] is on.
pub const SIGNATURE_HEADER: &str = "X-KulmiPay-Signature";

const PREFIX: &str = "/api/v1";
const EXPRESS_PUSH: &str = "/payment/mpesa-stk-push";
const EXPRESS_STATUS: &str = "/payment/status";
const COLLECTION_PUSH: &str = "/payment/collection/stk-push";
const COLLECTION_STATUS: &str = "/payment/collection/status";
const MIN_AMOUNT: u64 = 10;
const MAX_AMOUNT: u64 = 150_000;

/// Configures a [`KulmiPayEmulator`].
#[derive(Clone)]
#[must_use]
pub struct KulmiPayEmulatorConfig {
    port: u16,
    secret_key: String,
    api_token: String,
    delay: Duration,
    seed: u64,
    webhook_url: Option<String>,
    webhook_challenge: Option<String>,
    sign_webhooks: bool,
    webhook_attempts: u32,
    scripts: Vec<(PhoneNumber, Script)>,
}

impl fmt::Debug for KulmiPayEmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KulmiPayEmulatorConfig")
            .field("port", &self.port)
            .field("delay", &self.delay)
            .field("webhook_url", &self.webhook_url)
            .field("sign_webhooks", &self.sign_webhooks)
            .finish_non_exhaustive()
    }
}

impl Default for KulmiPayEmulatorConfig {
    fn default() -> Self {
        Self {
            port: 0,
            secret_key: "ISSecretKey_test_emulator".to_owned(),
            api_token: "emulator-api-token".to_owned(),
            delay: Duration::from_millis(100),
            seed: 0x4B55_4C4D,
            webhook_url: None,
            webhook_challenge: None,
            sign_webhooks: false,
            webhook_attempts: 5,
            scripts: Vec::new(),
        }
    }
}

impl KulmiPayEmulatorConfig {
    /// The port to bind on `127.0.0.1` (default `0`: a free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The secret key clients must send (default `ISSecretKey_test_emulator`).
    pub fn secret_key(mut self, key: impl Into<String>) -> Self {
        self.secret_key = key.into();
        self
    }

    /// The API token the collection API requires as its Bearer token (default
    /// `emulator-api-token`).
    pub fn api_token(mut self, token: impl Into<String>) -> Self {
        self.api_token = token.into();
        self
    }

    /// Time from acceptance to result for numbers without their own script (default 100 ms).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Seed for invoice ids and receipts.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Where to POST `collection_event` webhooks (none by default).
    pub fn webhook_url(mut self, url: impl Into<String>) -> Self {
        self.webhook_url = Some(url.into());
        self
    }

    /// The `challenge` secret put in every webhook body.
    pub fn webhook_challenge(mut self, challenge: impl Into<String>) -> Self {
        self.webhook_challenge = Some(challenge.into());
        self
    }

    /// Whether to add [`SIGNATURE_HEADER`] (HMAC-SHA256 of the body keyed by the challenge)
    /// to webhooks. Off by default, as in the newer docs.
    pub fn sign_webhooks(mut self, sign: bool) -> Self {
        self.sign_webhooks = sign;
        self
    }

    /// How many times a webhook is attempted until the receiver answers 2xx (default 5).
    pub fn webhook_attempts(mut self, attempts: u32) -> Self {
        self.webhook_attempts = attempts.max(1);
        self
    }

    /// Scripts one number's outcome and delay, overriding the test-number table.
    pub fn script(mut self, phone: PhoneNumber, scenario: Scenario, delay: Duration) -> Self {
        self.scripts.push((phone, Script::new(scenario, delay)));
        self
    }
}

/// Which API generation a request or invoice belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Generation {
    Express,
    Collection,
}

impl Generation {
    fn name(self) -> &'static str {
        match self {
            Self::Express => "express",
            Self::Collection => "collection",
        }
    }
}

#[derive(Debug, Clone)]
struct Invoice {
    payment: SimulatedPayment,
    generation: Generation,
    api_ref: Option<String>,
    value_cents: u64,
    customer_pays: bool,
    session_id: String,
    customer_id: String,
    created_at: String,
}

#[derive(Debug)]
struct Books {
    express: Simulation,
    collection: Simulation,
    invoices: HashMap<String, Invoice>,
    rng: fastrand::Rng,
}

struct KulmiState {
    me: Weak<KulmiState>,
    config: KulmiPayEmulatorConfig,
    books: Mutex<Books>,
    ledger: Ledger,
    host: OnceLock<String>,
    http: reqwest::Client,
}

/// A running KulmiPay emulator on `127.0.0.1`.
///
/// Serves, under [`base_url`](Self::base_url) (`http://127.0.0.1:PORT/api/v1`):
/// `POST /payment/mpesa-stk-push/` and `POST /payment/status/` (Bearer secret key), and
/// `POST /payment/collection/stk-push/` and `POST /payment/collection/status/` (Bearer API
/// token plus `X-KULMI-SECRET-KEY`). Payments follow the test-number scripts of
/// [`stk_core::scenario`] in real time.
pub struct KulmiPayEmulator {
    server: ServerHandle,
    state: Arc<KulmiState>,
    faults: Faults,
    base_url: String,
}

impl fmt::Debug for KulmiPayEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KulmiPayEmulator")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl KulmiPayEmulator {
    /// Starts the emulator on `127.0.0.1` and the configured port.
    pub async fn start(config: KulmiPayEmulatorConfig) -> io::Result<Self> {
        let mut express = Simulation::new(config.seed, "", config.delay);
        let mut collection = Simulation::new(config.seed.wrapping_add(1), "INV-", config.delay);
        for (phone, script) in &config.scripts {
            express.script(*phone, *script);
            collection.script(*phone, *script);
        }
        let http = super::util::webhook_client()?;
        let ledger = Ledger::default();
        let faults = Faults::default();
        let port = config.port;
        let seed = config.seed;
        let state = Arc::new_cyclic(|me| KulmiState {
            me: me.clone(),
            config,
            books: Mutex::new(Books {
                express,
                collection,
                invoices: HashMap::new(),
                rng: fastrand::Rng::with_seed(seed.wrapping_add(2)),
            }),
            ledger: ledger.clone(),
            host: OnceLock::new(),
            http,
        });
        let server = ServerHandle::start(port, state.clone(), faults.clone(), ledger).await?;
        let root = format!("http://{}", server.addr());
        let _ = state.host.set(root.clone());
        Ok(Self {
            server,
            state,
            faults,
            base_url: format!("{root}{PREFIX}"),
        })
    }

    /// The API base URL, `http://127.0.0.1:PORT/api/v1` (what `KULMIPAY_BASE_URL` takes).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The socket address listened on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The secret key clients must send.
    pub fn secret_key(&self) -> &str {
        &self.state.config.secret_key
    }

    /// The API token the collection API requires.
    pub fn api_token(&self) -> &str {
        &self.state.config.api_token
    }

    /// The challenge secret put in webhooks, if configured.
    pub fn webhook_challenge(&self) -> Option<&str> {
        self.state.config.webhook_challenge.as_deref()
    }

    /// The record of requests, charges and webhook deliveries.
    pub fn ledger(&self) -> &Ledger {
        &self.state.ledger
    }

    /// The fault queue.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The status of an invoice now, as the simulation sees it (`None` if unknown).
    pub fn payment_status(&self, invoice_id: &str) -> Option<PaymentStatus> {
        let books = lock(&self.state.books);
        books
            .invoices
            .get(invoice_id)
            .map(|i| i.payment.status_at(Instant::now()))
    }

    /// The `collection_event` webhook the emulator would deliver for this invoice now, as
    /// the merchant's server would receive it (body, content type, signature header when
    /// signing is on); `None` for an unknown invoice.
    pub fn callback_for(&self, invoice_id: &str) -> Option<CallbackRequest> {
        let (body, signature) = self.state.webhook_body(invoice_id)?;
        let mut cb = CallbackRequest::new(body)
            .header("content-type", "application/json")
            .path_and_query("/webhooks/kulmipay");
        if let Some(sig) = signature {
            cb = cb.header(SIGNATURE_HEADER, sig);
        }
        Some(cb)
    }

    /// Stops the server.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

fn state_name(status: &PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Processing => "PROCESSING",
        PaymentStatus::Completed(_) => "COMPLETE",
        PaymentStatus::Failed(_) => "FAILED",
        _ => "PENDING",
    }
}

fn detail(status: StatusCode, text: &str) -> Reply {
    Reply::json(status, json!({ "detail": text }))
}

fn field_errors(errors: Map<String, Value>) -> Reply {
    Reply::json(StatusCode::BAD_REQUEST, Value::Object(errors))
}

fn add_error(errors: &mut Map<String, Value>, field: &str, message: &str) {
    errors.insert(field.to_owned(), json!([message]));
}

fn normalized(path: &str) -> &str {
    let path = path.strip_prefix(PREFIX).unwrap_or(path);
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() { "/" } else { trimmed }
}

/// An amount as KulmiPay reads it: decimal text or a JSON number.
enum AmountParse {
    /// Whole shillings, rounded up, and whether the raw value was within the limits.
    Valid {
        shillings: u64,
        below: bool,
        above: bool,
    },
    Invalid,
}

fn parse_amount(value: &Value) -> AmountParse {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return AmountParse::Invalid,
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || whole.len() > 12
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return AmountParse::Invalid;
    }
    let Ok(whole) = whole.parse::<u64>() else {
        return AmountParse::Invalid;
    };
    let has_fraction = frac.bytes().any(|b| b != b'0');
    if negative {
        return AmountParse::Valid {
            shillings: 0,
            below: true,
            above: false,
        };
    }
    let shillings = whole + u64::from(has_fraction);
    AmountParse::Valid {
        shillings,
        below: whole < MIN_AMOUNT,
        above: whole > MAX_AMOUNT || (whole == MAX_AMOUNT && has_fraction),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl KulmiState {
    fn host(&self) -> String {
        self.host.get().cloned().unwrap_or_default()
    }

    /// `None` when authorised, else the 401 reply.
    fn check_auth(&self, generation: Generation, headers: &HeaderMap) -> Option<Reply> {
        let missing = || {
            detail(
                StatusCode::UNAUTHORIZED,
                "Authentication credentials were not provided.",
            )
        };
        let invalid = || detail(StatusCode::UNAUTHORIZED, "Invalid api token");
        let Some(token) = bearer(headers) else {
            return Some(missing());
        };
        match generation {
            Generation::Express => {
                if !stk_core::secrets_match(token.as_bytes(), self.config.secret_key.as_bytes()) {
                    return Some(invalid());
                }
            }
            Generation::Collection => {
                let Some(secret) = headers
                    .get("x-kulmi-secret-key")
                    .and_then(|v| v.to_str().ok())
                else {
                    return Some(missing());
                };
                let token_ok =
                    stk_core::secrets_match(token.as_bytes(), self.config.api_token.as_bytes());
                let secret_ok = stk_core::secrets_match(
                    secret.trim().as_bytes(),
                    self.config.secret_key.as_bytes(),
                );
                if !(token_ok && secret_ok) {
                    return Some(invalid());
                }
            }
        }
        None
    }

    fn invoice_json(&self, invoice: &Invoice, now: Instant) -> Value {
        let status = invoice.payment.status_at(now);
        let charges = invoice.value_cents.saturating_mul(15).div_ceil(1000);
        let net = if invoice.customer_pays {
            invoice.value_cents
        } else {
            invoice.value_cents.saturating_sub(charges)
        };
        let (mpesa_reference, failed_code, failed_reason, clearing) = match &status {
            PaymentStatus::Completed(c) => {
                (json!(c.receipt), Value::Null, Value::Null, "AVAILABLE")
            }
            PaymentStatus::Failed(f) => (
                Value::Null,
                json!(f.code.as_ref().map(|c| c.to_string())),
                json!(f.message),
                "FAILED",
            ),
            _ => (Value::Null, Value::Null, Value::Null, "PENDING"),
        };
        let failed_code_link = match &failed_code {
            Value::String(code) => json!(format!("https://developers.kulmipay.com/errors/{code}")),
            _ => Value::Null,
        };
        let id = invoice.payment.id.to_string();
        let mut map = Map::new();
        match invoice.generation {
            Generation::Express => map.insert("invoice_id".to_owned(), json!(id)),
            Generation::Collection => map.insert("id".to_owned(), json!(id)),
        };
        let fields = json!({
            "state": state_name(&status),
            "provider": "M-PESA",
            "charges": cents_text(charges),
            "net_amount": cents_text(net),
            "currency": "KES",
            "value": cents_text(invoice.value_cents),
            "account": invoice.payment.phone.international(),
            "api_ref": invoice.api_ref.clone().unwrap_or_else(|| "MPesa Express".to_owned()),
            "clearing_status": clearing,
            "mpesa_reference": mpesa_reference,
            "host": self.host(),
            "retry_count": 0,
            "failed_reason": failed_reason,
            "failed_code": failed_code,
            "failed_code_link": failed_code_link,
            "created_at": invoice.created_at,
            "updated_at": now_rfc3339(),
        });
        if let Value::Object(rest) = fields {
            map.extend(rest);
        }
        Value::Object(map)
    }

    fn customer_json(invoice: &Invoice) -> Value {
        json!({
            "customer_id": invoice.customer_id,
            "phone_number": invoice.payment.phone.international(),
            "email": null,
            "first_name": null,
            "last_name": null,
            "country": "KE",
            "zipcode": null,
            "provider": "M-PESA",
            "created_at": invoice.created_at,
            "updated_at": invoice.created_at,
        })
    }

    fn initiate(&self, generation: Generation, body: &Map<String, Value>) -> Reply {
        let mut errors = Map::new();
        let phone = match body.get("phone_number") {
            None | Some(Value::Null) => {
                add_error(&mut errors, "phone_number", "This field is required.");
                None
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                add_error(&mut errors, "phone_number", "This field may not be blank.");
                None
            }
            Some(Value::String(s)) => {
                let s = s.trim();
                let well_formed =
                    s.len() == 12 && s.starts_with("254") && s.bytes().all(|b| b.is_ascii_digit());
                match PhoneNumber::parse(s) {
                    Ok(p) if well_formed => Some(p),
                    _ => {
                        add_error(
                            &mut errors,
                            "phone_number",
                            "Enter a valid phone number in the format 254XXXXXXXXX.",
                        );
                        None
                    }
                }
            }
            Some(_) => {
                add_error(&mut errors, "phone_number", "Not a valid string.");
                None
            }
        };
        let shillings = match body.get("amount") {
            None | Some(Value::Null) => {
                add_error(&mut errors, "amount", "This field is required.");
                None
            }
            Some(v) => match parse_amount(v) {
                AmountParse::Invalid => {
                    add_error(&mut errors, "amount", "A valid number is required.");
                    None
                }
                AmountParse::Valid { below: true, .. } => {
                    add_error(
                        &mut errors,
                        "amount",
                        "Ensure this value is greater than or equal to 10.",
                    );
                    None
                }
                AmountParse::Valid { above: true, .. } => {
                    add_error(
                        &mut errors,
                        "amount",
                        "Ensure this value is less than or equal to 150000.",
                    );
                    None
                }
                AmountParse::Valid { shillings, .. } => Some(shillings),
            },
        };
        let api_ref = match body.get("api_ref") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.chars().count() > 140 => {
                add_error(
                    &mut errors,
                    "api_ref",
                    "Ensure this field has no more than 140 characters.",
                );
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                add_error(&mut errors, "api_ref", "Not a valid string.");
                None
            }
        };
        match body.get("wallet_id") {
            None | Some(Value::Null | Value::String(_)) => {}
            Some(_) => add_error(&mut errors, "wallet_id", "Not a valid string."),
        }
        let customer_pays = match body.get("mobile_tarrif") {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) if s == "BUSINESS-PAYS" => false,
            Some(Value::String(s)) if s == "CUSTOMER-PAYS" => true,
            Some(other) => {
                let shown = other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_owned);
                add_error(
                    &mut errors,
                    "mobile_tarrif",
                    &format!("\"{shown}\" is not a valid choice."),
                );
                false
            }
        };
        let (Some(phone), Some(shillings)) = (phone, shillings) else {
            return field_errors(errors);
        };
        if !errors.is_empty() {
            return field_errors(errors);
        }
        let reference = api_ref
            .as_deref()
            .filter(|r| stk_core::Reference::new(*r).is_ok())
            .unwrap_or("MPesa-Express");
        let Ok(request) = StkPushRequest::builder()
            .phone(phone)
            .amount(shillings)
            .reference(reference)
            .build()
        else {
            return detail(StatusCode::BAD_REQUEST, "Invalid request.");
        };

        let now = Instant::now();
        let mut books = lock(&self.books);
        let started = match generation {
            Generation::Express => books.express.start(&request, now),
            Generation::Collection => books.collection.start(&request, now),
        };
        let payment = match started {
            Ok(p) => p,
            Err(Refusal::Rejected) => {
                let mut errors = Map::new();
                add_error(
                    &mut errors,
                    "phone_number",
                    "The phone number is not registered for M-PESA.",
                );
                return field_errors(errors);
            }
            Err(_) => {
                return detail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "M-PESA is temporarily unavailable. Please try again later.",
                );
            }
        };
        let session_id = uuid_like(&mut books.rng);
        let customer_id = format!("CUS{}", books.rng.u32(100_000..1_000_000));
        let invoice = Invoice {
            payment: payment.clone(),
            generation,
            api_ref: api_ref.clone(),
            value_cents: shillings.saturating_mul(100),
            customer_pays,
            session_id,
            customer_id,
            created_at: now_rfc3339(),
        };
        books
            .invoices
            .insert(payment.id.to_string(), invoice.clone());
        drop(books);
        self.ledger.record_charge(RecordedCharge {
            id: payment.id.to_string(),
            phone: payment.phone.international(),
            amount: shillings,
            reference: api_ref,
            api: generation.name(),
        });
        self.schedule_webhooks(&payment);

        let reply = match generation {
            Generation::Express => json!({
                "id": invoice.session_id,
                "invoice": self.invoice_json(&invoice, now),
                "customer": Self::customer_json(&invoice),
                "payment_link": null,
                "customer_comment": null,
                "refundable": "false",
                "created_at": invoice.created_at,
                "updated_at": invoice.created_at,
            }),
            Generation::Collection => {
                let id = payment.id.to_string();
                json!({
                    "id": id,
                    "invoice": {
                        "id": id,
                        "state": state_name(&payment.status_at(now)),
                        "provider": "M-PESA",
                        "value": shillings,
                        "api_ref": invoice.api_ref,
                        "account": payment.phone.international(),
                        "created_at": invoice.created_at,
                    },
                    "customer": {
                        "phone_number": payment.phone.international(),
                        "provider": "M-PESA",
                    },
                    "signature": format!("eyJhbGciOiJIUzI1NiJ9.{}.emulator", invoice.session_id),
                })
            }
        };
        Reply::json(StatusCode::OK, reply)
    }

    fn status(&self, body: &Map<String, Value>) -> Reply {
        let id = match body.get("invoice_id") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(_)) => {
                let mut errors = Map::new();
                add_error(&mut errors, "invoice_id", "This field may not be blank.");
                return field_errors(errors);
            }
            _ => {
                let mut errors = Map::new();
                add_error(&mut errors, "invoice_id", "This field is required.");
                return field_errors(errors);
            }
        };
        let invoice = lock(&self.books).invoices.get(&id).cloned();
        let Some(invoice) = invoice else {
            return detail(StatusCode::NOT_FOUND, "Not found.");
        };
        let now = Instant::now();
        Reply::json(
            StatusCode::OK,
            json!({
                "invoice": self.invoice_json(&invoice, now),
                "meta": {
                    "id": invoice.session_id,
                    "customer": Self::customer_json(&invoice),
                    "payment_link": null,
                    "customer_comment": null,
                    "created_at": invoice.created_at,
                    "updated_at": now_rfc3339(),
                },
            }),
        )
    }

    /// The webhook body for an invoice now, and its signature when signing is on.
    fn webhook_body(&self, invoice_id: &str) -> Option<(Vec<u8>, Option<String>)> {
        let invoice = lock(&self.books).invoices.get(invoice_id).cloned()?;
        let mut value = self.invoice_json(&invoice, Instant::now());
        if let Value::Object(map) = &mut value {
            // The webhook is the flat invoice with `invoice_id`, whatever the generation.
            if let Some(id) = map.remove("id") {
                map.insert("invoice_id".to_owned(), id);
            }
            map.insert("challenge".to_owned(), json!(self.config.webhook_challenge));
        }
        let body = serde_json::to_vec(&value).ok()?;
        let signature = match (&self.config.webhook_challenge, self.config.sign_webhooks) {
            (Some(secret), true) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
                mac.update(&body);
                Some(hex::encode(mac.finalize().into_bytes()))
            }
            _ => None,
        };
        Some((body, signature))
    }

    fn schedule_webhooks(&self, payment: &SimulatedPayment) {
        if self.config.webhook_url.is_none() {
            return;
        }
        let me = self.me.clone();
        let id = payment.id.clone();
        let created = payment.created;
        let delay = payment.script.delay;
        let final_at = payment.final_at();
        tokio::spawn(async move {
            let mut times = vec![created];
            if delay > Duration::ZERO {
                times.push(created + delay / 2);
            }
            if let Some(at) = final_at.filter(|_| delay > Duration::ZERO) {
                times.push(at);
            }
            for at in times {
                tokio::time::sleep_until(at).await;
                let Some(state) = me.upgrade() else { return };
                state.deliver(&id).await;
            }
        });
    }

    async fn deliver(&self, id: &PaymentId) {
        let Some(url) = self.config.webhook_url.clone() else {
            return;
        };
        let Some((body, signature)) = self.webhook_body(id.as_str()) else {
            return;
        };
        let state = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("state").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        let mut backoff = Duration::from_millis(50);
        for attempt in 1..=self.config.webhook_attempts {
            let mut request = self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone());
            if let Some(sig) = &signature {
                request = request.header(SIGNATURE_HEADER, sig);
            }
            let status = request.send().await.ok().map(|r| r.status().as_u16());
            self.ledger.record_webhook(WebhookDelivery {
                payment_id: id.to_string(),
                state: state.clone(),
                attempt,
                status,
            });
            if matches!(status, Some(200..=299)) {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
}

fn uuid_like(rng: &mut fastrand::Rng) -> String {
    let hex: String = (0..32)
        .map(|_| char::from(b"0123456789abcdef"[rng.usize(..16)]))
        .collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

#[stk_core::async_trait]
impl Api for KulmiState {
    fn endpoint(&self, method: &Method, path: &str) -> Endpoint {
        if method != Method::POST {
            return Endpoint::Other;
        }
        match normalized(path) {
            EXPRESS_PUSH | COLLECTION_PUSH => Endpoint::Initiate,
            EXPRESS_STATUS | COLLECTION_STATUS => Endpoint::Status,
            _ => Endpoint::Other,
        }
    }

    fn is_secret_header(&self, name: &str) -> bool {
        matches!(name, "authorization" | "x-kulmi-secret-key" | "cookie")
    }

    fn key_fields(&self, endpoint: Endpoint) -> &'static [&'static str] {
        match endpoint {
            Endpoint::Initiate => &["id", "invoice"],
            _ => &["invoice"],
        }
    }

    async fn handle(&self, request: Incoming) -> Reply {
        let route = normalized(request.path.split('?').next().unwrap_or("/"));
        let generation = match route {
            EXPRESS_PUSH | EXPRESS_STATUS => Generation::Express,
            COLLECTION_PUSH | COLLECTION_STATUS => Generation::Collection,
            _ => return detail(StatusCode::NOT_FOUND, "Not found."),
        };
        if request.method != Method::POST {
            return detail(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("Method \"{}\" not allowed.", request.method),
            );
        }
        if let Some(refusal) = self.check_auth(generation, &request.headers) {
            return refusal;
        }
        let body = match serde_json::from_slice::<Value>(&request.body) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                let kind = match other {
                    Value::Array(_) => "list",
                    Value::String(_) => "str",
                    Value::Number(_) => "int",
                    Value::Bool(_) => "bool",
                    _ => "NoneType",
                };
                return field_errors(Map::from_iter([(
                    "non_field_errors".to_owned(),
                    json!([format!(
                        "Invalid data. Expected a dictionary, but got {kind}."
                    )]),
                )]));
            }
            Err(e) => {
                return detail(StatusCode::BAD_REQUEST, &format!("JSON parse error - {e}"));
            }
        };
        match request.endpoint {
            Endpoint::Initiate => self.initiate(generation, &body),
            _ => self.status(&body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_up_and_respect_limits() {
        let shillings = |v: Value| match parse_amount(&v) {
            AmountParse::Valid {
                shillings,
                below: false,
                above: false,
            } => Some(shillings),
            _ => None,
        };
        assert_eq!(shillings(json!("100")), Some(100));
        assert_eq!(shillings(json!("100.01")), Some(101));
        assert_eq!(shillings(json!(10)), Some(10));
        assert_eq!(shillings(json!(99.5)), Some(100));
        assert_eq!(shillings(json!("9.99")), None);
        assert_eq!(shillings(json!("150000.00")), Some(150_000));
        assert_eq!(shillings(json!("150000.01")), None);
        assert_eq!(shillings(json!("-5")), None);
        assert!(matches!(parse_amount(&json!("abc")), AmountParse::Invalid));
        assert!(matches!(parse_amount(&json!("1e3")), AmountParse::Invalid));
        assert!(matches!(parse_amount(&json!(true)), AmountParse::Invalid));
    }

    #[test]
    fn paths_normalise() {
        assert_eq!(normalized("/api/v1/payment/status/"), EXPRESS_STATUS);
        assert_eq!(normalized("/payment/collection/stk-push"), COLLECTION_PUSH);
        assert_eq!(normalized("/api/v1/"), "/");
        assert_eq!(uuid_like(&mut fastrand::Rng::with_seed(1)).len(), 36);
    }
}
