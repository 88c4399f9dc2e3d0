//! The UpesiPay emulator: `POST /payments` (Basic token), `GET /transaction-status`, the
//! documented callback envelope, `{"error_message": …}` errors, and the documented STK abuse
//! protection (see [`UpesiPayAbuseRules`]).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode, header};
use serde_json::{Map, Value, json};
use stk_core::scenario::Scenario;
use stk_core::{CallbackRequest, PaymentId, PaymentStatus, PhoneNumber, StkPushRequest};
use tokio::time::Instant;

use super::faults::{Endpoint, Faults};
use super::ledger::{Ledger, RecordedCharge, WebhookDelivery};
use super::server::{Api, Incoming, Reply, ServerHandle};
use super::util::{lock, now_rfc3339};
use crate::simulation::{Refusal, Script, SimulatedPayment, Simulation};

const PREFIX: &str = "/api/v2";
const PAYMENTS: &str = "/payments";
const STATUS: &str = "/transaction-status";
const MAX_AMOUNT: u64 = 150_000;
const HOUR: Duration = Duration::from_secs(3600);

/// UpesiPay's documented STK abuse protection, as the emulator enforces it.
///
/// # Abuse protection
///
/// UpesiPay documents two rules, emulated here to the letter (thresholds and windows are
/// configurable):
///
/// - **Per number**: more than 10 successive failed or cancelled pushes to one number block
///   that number for 24 h. Pushes 1 to 11 reach M-Pesa; when the 11th fails the block starts,
///   so the 12th push (and every push to that number for 24 h) is refused. Other numbers are
///   not affected. A completed payment ends the run.
/// - **Account**: more than 50 failures within a sliding 6 h window restrict the whole
///   account for 4 h (more than 500: 24 h; more than 1000: 72 h).
///
/// A failure counts when the payment reaches its final failed status (as UpesiPay can only
/// know then). Refused pushes are not charges and do not count.
///
/// UpesiPay does not document how a blocked push is answered. The emulator answers
/// **`403 Forbidden`** with `{"error_message": "…"}` (and `Retry-After` in seconds until the
/// block ends): the credentials are fine (those failures are `401`), but the account is not
/// allowed to push to this number now. Retrying does not help until the block ends, so 403
/// is a better fit than 429.
///
/// The abuse rules run on their own clock: real time plus an offset that tests move forward
/// with [`UpesiPayEmulator::advance_clock`], so a 24 h block can be seen to clear without
/// waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpesiPayAbuseRules {
    /// A number is blocked once it has had **more than** this many successive failed or
    /// cancelled pushes (UpesiPay: 10). `None` disables the rule.
    pub phone_max_successive_failures: Option<usize>,
    /// How long a number stays blocked (UpesiPay: 24 h).
    pub phone_block: Duration,
    /// The sliding window account failures are counted in (UpesiPay: 6 h).
    pub account_window: Duration,
    /// `(threshold, restriction)`: once the account has had **more than** `threshold`
    /// failures within the window it is restricted for `restriction` (UpesiPay: 50 → 4 h,
    /// 500 → 24 h, 1000 → 72 h). Empty disables the rule.
    pub account_tiers: Vec<(usize, Duration)>,
}

impl Default for UpesiPayAbuseRules {
    fn default() -> Self {
        Self::documented()
    }
}

impl UpesiPayAbuseRules {
    /// The rules UpesiPay documents.
    pub fn documented() -> Self {
        Self {
            phone_max_successive_failures: Some(10),
            phone_block: 24 * HOUR,
            account_window: 6 * HOUR,
            account_tiers: vec![(50, 4 * HOUR), (500, 24 * HOUR), (1000, 72 * HOUR)],
        }
    }

    /// No abuse protection at all.
    pub fn disabled() -> Self {
        Self {
            phone_max_successive_failures: None,
            phone_block: Duration::ZERO,
            account_window: Duration::ZERO,
            account_tiers: Vec::new(),
        }
    }

    /// Custom rules: block a number after more than `max_successive` failures in a row for
    /// `block`; restrict the account per `tiers` within `window`.
    pub fn new(
        max_successive: Option<usize>,
        block: Duration,
        window: Duration,
        tiers: Vec<(usize, Duration)>,
    ) -> Self {
        Self {
            phone_max_successive_failures: max_successive,
            phone_block: block,
            account_window: window,
            account_tiers: tiers,
        }
    }
}

/// Configures an [`UpesiPayEmulator`].
#[derive(Clone)]
#[must_use]
pub struct UpesiPayEmulatorConfig {
    port: u16,
    token: String,
    channel_id: u64,
    delay: Duration,
    seed: u64,
    callback_attempts: u32,
    scripts: Vec<(PhoneNumber, Script)>,
    abuse: UpesiPayAbuseRules,
}

impl fmt::Debug for UpesiPayEmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpesiPayEmulatorConfig")
            .field("port", &self.port)
            .field("channel_id", &self.channel_id)
            .field("delay", &self.delay)
            .field("abuse", &self.abuse)
            .finish_non_exhaustive()
    }
}

impl Default for UpesiPayEmulatorConfig {
    fn default() -> Self {
        Self {
            port: 0,
            token: "emulator-basic-token".to_owned(),
            channel_id: 2133,
            delay: Duration::from_millis(100),
            seed: 0x5550_4553,
            callback_attempts: 5,
            scripts: Vec::new(),
            abuse: UpesiPayAbuseRules::documented(),
        }
    }
}

impl UpesiPayEmulatorConfig {
    /// The port to bind on `127.0.0.1` (default `0`: a free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The token clients must send as `Authorization: Basic <token>` (default
    /// `emulator-basic-token`).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// The payment channel id pushes must name (default `2133`, the docs' example).
    pub fn channel_id(mut self, channel_id: u64) -> Self {
        self.channel_id = channel_id;
        self
    }

    /// Time from acceptance to result for numbers without their own script (default 100 ms).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Seed for references and receipts.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How many times a callback is attempted until the receiver answers 2xx (default 5).
    pub fn callback_attempts(mut self, attempts: u32) -> Self {
        self.callback_attempts = attempts.max(1);
        self
    }

    /// Scripts one number's outcome and delay, overriding the test-number table.
    pub fn script(mut self, phone: PhoneNumber, scenario: Scenario, delay: Duration) -> Self {
        self.scripts.push((phone, Script::new(scenario, delay)));
        self
    }

    /// The abuse rules (default [`UpesiPayAbuseRules::documented`]).
    pub fn abuse_rules(mut self, rules: UpesiPayAbuseRules) -> Self {
        self.abuse = rules;
        self
    }
}

#[derive(Debug, Clone)]
struct Txn {
    payment: SimulatedPayment,
    checkout_request_id: String,
    merchant_request_id: String,
    external_reference: Option<String>,
    customer_name: Option<String>,
    callback_url: Option<String>,
    created_at: String,
    /// The abuse clock's offset when the push was made: outcomes are dated on that clock.
    clock_offset: Duration,
}

#[derive(Debug)]
struct Books {
    sim: Simulation,
    /// By the initiate `reference`.
    txns: HashMap<String, Txn>,
    /// References in creation order.
    order: Vec<String>,
    /// `CheckoutRequestID` → reference.
    by_checkout: HashMap<String, String>,
    rng: fastrand::Rng,
    sequence: u32,
}

struct UpesiState {
    me: Weak<UpesiState>,
    config: UpesiPayEmulatorConfig,
    books: Mutex<Books>,
    ledger: Ledger,
    clock_offset: Mutex<Duration>,
    http: reqwest::Client,
}

/// A running UpesiPay emulator on `127.0.0.1`.
///
/// Serves, under [`base_url`](Self::base_url) (`http://127.0.0.1:PORT/api/v2`):
/// `POST /payments` and `GET /transaction-status?reference=…`, both with
/// `Authorization: Basic <token>`. Payments follow the test-number scripts of
/// [`stk_core::scenario`] in real time; the final result is POSTed to the push's
/// `callback_url`. See [`UpesiPayAbuseRules`] for the abuse protection.
pub struct UpesiPayEmulator {
    server: ServerHandle,
    state: Arc<UpesiState>,
    faults: Faults,
    base_url: String,
}

impl fmt::Debug for UpesiPayEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpesiPayEmulator")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl UpesiPayEmulator {
    /// Starts the emulator on `127.0.0.1` and the configured port.
    pub async fn start(config: UpesiPayEmulatorConfig) -> io::Result<Self> {
        let mut sim = Simulation::new(config.seed, "", config.delay);
        for (phone, script) in &config.scripts {
            sim.script(*phone, *script);
        }
        let http = super::util::webhook_client()?;
        let ledger = Ledger::default();
        let faults = Faults::default();
        let port = config.port;
        let seed = config.seed;
        let state = Arc::new_cyclic(|me| UpesiState {
            me: me.clone(),
            config,
            books: Mutex::new(Books {
                sim,
                txns: HashMap::new(),
                order: Vec::new(),
                by_checkout: HashMap::new(),
                rng: fastrand::Rng::with_seed(seed.wrapping_add(1)),
                sequence: 0,
            }),
            ledger: ledger.clone(),
            clock_offset: Mutex::new(Duration::ZERO),
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

    /// The API base URL, `http://127.0.0.1:PORT/api/v2` (what `UPESIPAY_BASE_URL` takes).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The socket address listened on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The Basic token clients must send.
    pub fn token(&self) -> &str {
        &self.state.config.token
    }

    /// The payment channel id pushes must name.
    pub fn channel_id(&self) -> u64 {
        self.state.config.channel_id
    }

    /// The record of requests, charges and callback deliveries.
    pub fn ledger(&self) -> &Ledger {
        &self.state.ledger
    }

    /// The fault queue.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Moves the abuse rules' clock forward (blocks and windows expire), without touching
    /// payments in flight. The total offset is capped at about 100 years.
    pub fn advance_clock(&self, by: Duration) {
        const MAX_OFFSET: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
        let mut offset = lock(&self.state.clock_offset);
        *offset = offset.saturating_add(by).min(MAX_OFFSET);
    }

    /// The `CheckoutRequestID` of a push, by its `reference`.
    pub fn checkout_request_id(&self, reference: &str) -> Option<String> {
        lock(&self.state.books)
            .txns
            .get(reference)
            .map(|t| t.checkout_request_id.clone())
    }

    /// The status of a payment now, by `reference` or `CheckoutRequestID`, as the simulation
    /// sees it (`None` if unknown).
    pub fn payment_status(&self, reference: &str) -> Option<PaymentStatus> {
        let books = lock(&self.state.books);
        books
            .find(reference)
            .map(|t| t.payment.status_at(Instant::now()))
    }

    /// The callback the emulator delivers for a payment (by `reference`) once it is final,
    /// as the merchant's server would receive it (body, content type, and the path and query
    /// of the push's `callback_url`); `None` for an unknown or unfinished payment.
    pub fn callback_for(&self, reference: &str) -> Option<CallbackRequest> {
        let (body, url, _) = self.state.callback_body(reference)?;
        let target = url
            .as_deref()
            .and_then(|u| reqwest::Url::parse(u).ok())
            .map_or_else(
                || "/".to_owned(),
                |u| match u.query() {
                    Some(q) => format!("{}?{q}", u.path()),
                    None => u.path().to_owned(),
                },
            );
        Some(
            CallbackRequest::new(body)
                .header("content-type", "application/json")
                .path_and_query(target),
        )
    }

    /// Stops the server.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

fn error(status: StatusCode, message: &str) -> Reply {
    Reply::json(status, json!({ "error_message": message }))
}

fn route(path: &str) -> &str {
    let path = path.split('?').next().unwrap_or(path);
    let path = path.strip_prefix(PREFIX).unwrap_or(path);
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() { "/" } else { trimmed }
}

fn basic(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("basic").then(|| token.trim())
}

/// A whole number from a JSON integer (UpesiPay documents `Integer`); integral floats such
/// as `100.0` are accepted too.
fn integer(value: &Value) -> Option<i128> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| f as i128)
            }),
        _ => None,
    }
}

fn optional_string(body: &Map<String, Value>, field: &str) -> Result<Option<String>, Reply> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(error(
            StatusCode::BAD_REQUEST,
            &format!("The {field} must be a string."),
        )),
    }
}

type OptionalFields = (Option<String>, Option<String>, Option<String>);

/// `external_reference`, `customer_name` and `callback_url`; `credential_id` is checked too.
fn optional_fields(body: &Map<String, Value>) -> Result<OptionalFields, Reply> {
    let external_reference = optional_string(body, "external_reference")?;
    let customer_name = optional_string(body, "customer_name")?;
    let callback_url = optional_string(body, "callback_url")?;
    optional_string(body, "credential_id")?;
    Ok((external_reference, customer_name, callback_url))
}

fn status_word(status: &PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Completed(_) => "SUCCESS",
        PaymentStatus::Failed(_) => "FAILED",
        _ => "QUEUED",
    }
}

/// `2026-01-15T10:30:00.123456Z` → `2026-01-15T10:30:00Z`, as UpesiPay's samples show.
fn seconds_only(rfc3339: &str) -> String {
    match rfc3339.split_once('.') {
        Some((head, _)) => format!("{head}Z"),
        None => rfc3339.to_owned(),
    }
}

impl Books {
    fn find(&self, key: &str) -> Option<&Txn> {
        if let Some(t) = self.txns.get(key) {
            return Some(t);
        }
        if let Some(r) = self.by_checkout.get(key) {
            return self.txns.get(r);
        }
        // The M-Pesa receipt, once the payment completed.
        let now = Instant::now();
        self.txns.values().find(|t| {
            t.payment.receipt == key
                && matches!(t.payment.status_at(now), PaymentStatus::Completed(_))
        })
    }

    /// Final outcomes known at `real_now`: `(when on the abuse clock, phone, failed)`, oldest
    /// first.
    fn outcomes(&self, real_now: Instant) -> Vec<(Instant, PhoneNumber, bool)> {
        let mut out: Vec<(Instant, PhoneNumber, bool)> = self
            .order
            .iter()
            .filter_map(|r| self.txns.get(r))
            .filter_map(|t| {
                let at = t.payment.final_at()?;
                if at > real_now {
                    return None;
                }
                let failed = matches!(t.payment.status_at(at), PaymentStatus::Failed(_));
                Some((at + t.clock_offset, t.payment.phone, failed))
            })
            .collect();
        out.sort_by_key(|(at, _, _)| *at);
        out
    }
}

/// Why a push is refused by the abuse rules, and for how much longer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Block {
    message: String,
    remaining: Duration,
}

/// Applies `rules` to the outcomes; `now` is the abuse clock (real time plus the offset).
fn abuse_block(
    rules: &UpesiPayAbuseRules,
    outcomes: &[(Instant, PhoneNumber, bool)],
    phone: &PhoneNumber,
    now: Instant,
) -> Option<Block> {
    // The account rule first: it applies to every number.
    let failures: Vec<Instant> = outcomes
        .iter()
        .filter(|(_, _, failed)| *failed)
        .map(|(at, _, _)| *at)
        .collect();
    let mut restricted: Option<(Instant, usize)> = None;
    let mut start = 0;
    for (i, at) in failures.iter().enumerate() {
        while failures
            .get(start)
            .is_some_and(|s| *s + rules.account_window <= *at)
        {
            start += 1;
        }
        let count = i + 1 - start;
        for (threshold, length) in &rules.account_tiers {
            if count > *threshold {
                let until = *at + *length;
                if restricted.is_none_or(|(u, _)| until > u) {
                    restricted = Some((until, *threshold));
                }
            }
        }
    }
    if let Some((until, threshold)) = restricted.filter(|(u, _)| *u > now) {
        let remaining = until - now;
        return Some(Block {
            message: format!(
                "General Abuse Protection: this account has had more than {threshold} failed STK push requests within {} hours and is restricted from sending STK push requests for {} more minutes.",
                rules.account_window.as_secs() / 3600,
                remaining.as_secs().div_ceil(60)
            ),
            remaining,
        });
    }

    let max = rules.phone_max_successive_failures?;
    let mut run = 0usize;
    let mut blocked_until: Option<Instant> = None;
    for (at, p, failed) in outcomes {
        if p != phone {
            continue;
        }
        if *failed {
            run += 1;
            if run > max {
                blocked_until = Some(*at + rules.phone_block);
                run = 0;
            }
        } else {
            run = 0;
        }
    }
    let until = blocked_until.filter(|u| *u > now)?;
    let remaining = until - now;
    Some(Block {
        message: format!(
            "STK Abuse Protection: phone number {} is blocked from receiving STK push requests from this account for {} more minutes after more than {max} successive failed or cancelled requests.",
            phone.masked(),
            remaining.as_secs().div_ceil(60)
        ),
        remaining,
    })
}

impl UpesiState {
    /// `None` when authorised, else the 401 reply.
    fn check_auth(&self, headers: &HeaderMap) -> Option<Reply> {
        match basic(headers) {
            None => Some(error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized: provide your API token as 'Authorization: Basic <token>'.",
            )),
            Some(token)
                if !stk_core::secrets_match(token.as_bytes(), self.config.token.as_bytes()) =>
            {
                Some(error(
                    StatusCode::UNAUTHORIZED,
                    "Invalid authentication token.",
                ))
            }
            Some(_) => None,
        }
    }

    fn initiate(&self, body: &Map<String, Value>) -> Reply {
        let bad = |m: &str| error(StatusCode::BAD_REQUEST, m);
        let amount = match body.get("amount") {
            None | Some(Value::Null) => return bad("The amount field is required."),
            Some(v) => match integer(v) {
                None => return bad("The amount must be an integer."),
                Some(a) if a < 1 => return bad("The amount must be at least 1."),
                Some(a) if a > i128::from(MAX_AMOUNT) => {
                    return bad("The amount may not be greater than 150000.");
                }
                Some(a) => u64::try_from(a).unwrap_or(MAX_AMOUNT),
            },
        };
        let phone = match body.get("phone_number") {
            None | Some(Value::Null) => return bad("The phone number field is required."),
            Some(Value::String(s)) => match PhoneNumber::parse(s) {
                Ok(p) => p,
                Err(_) => return bad("The phone number is not a valid Kenyan mobile number."),
            },
            Some(_) => return bad("The phone number must be a string."),
        };
        match body.get("channel_id") {
            None | Some(Value::Null) => return bad("The channel id field is required."),
            Some(v) => match integer(v) {
                None => return bad("The channel id must be an integer."),
                Some(c) if c != i128::from(self.config.channel_id) => {
                    return bad("The selected channel id is invalid.");
                }
                Some(_) => {}
            },
        }
        match body.get("provider") {
            None | Some(Value::Null) => return bad("The provider field is required."),
            Some(Value::String(s)) if s == "m-pesa" => {}
            Some(_) => return bad("The selected provider is invalid. Use 'm-pesa'."),
        }
        let (external_reference, customer_name, callback_url) = match optional_fields(body) {
            Ok(f) => f,
            Err(reply) => return reply,
        };
        if let Some(url) = &callback_url {
            if reqwest::Url::parse(url).is_err() {
                return bad("The callback url must be a valid URL.");
            }
        }

        let real_now = Instant::now();
        let clock_offset = *lock(&self.clock_offset);
        let mut books = lock(&self.books);
        let outcomes = books.outcomes(real_now);
        if let Some(block) = abuse_block(
            &self.config.abuse,
            &outcomes,
            &phone,
            real_now + clock_offset,
        ) {
            drop(books);
            let mut reply = error(StatusCode::FORBIDDEN, &block.message);
            reply.headers.push((
                header::RETRY_AFTER,
                block.remaining.as_secs().max(1).to_string(),
            ));
            return reply;
        }
        let reference = external_reference
            .as_deref()
            .filter(|r| stk_core::Reference::new(*r).is_ok())
            .unwrap_or("UPESIPAY");
        let Ok(request) = StkPushRequest::builder()
            .phone(phone)
            .amount(amount)
            .reference(reference)
            .build()
        else {
            return bad("Invalid request");
        };
        let payment = match books.sim.start(&request, real_now) {
            Ok(p) => p,
            Err(Refusal::Rejected) => {
                return bad("The phone number is not registered for M-PESA.");
            }
            Err(_) => {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "M-PESA is temporarily unavailable. Please try again later.",
                );
            }
        };
        books.sequence = books.sequence.wrapping_add(1);
        let created_at = now_rfc3339();
        let checkout_request_id = checkout_id(&created_at, books.sequence, &payment.phone);
        let merchant_request_id = format!(
            "{}-{}-1",
            books.rng.u32(1000..10_000),
            books.rng.u32(10_000_000..100_000_000)
        );
        let reference = payment.id.to_string();
        let txn = Txn {
            payment: payment.clone(),
            checkout_request_id: checkout_request_id.clone(),
            merchant_request_id,
            external_reference: external_reference.clone(),
            customer_name,
            callback_url,
            created_at,
            clock_offset,
        };
        books.txns.insert(reference.clone(), txn);
        books.order.push(reference.clone());
        books
            .by_checkout
            .insert(checkout_request_id.clone(), reference.clone());
        drop(books);
        self.ledger.record_charge(RecordedCharge {
            id: reference.clone(),
            phone: payment.phone.international(),
            amount,
            reference: external_reference,
            api: "v2",
        });
        self.schedule_callback(&payment);
        Reply::json(
            StatusCode::CREATED,
            json!({
                "success": true,
                "status": "QUEUED",
                "reference": reference,
                "CheckoutRequestID": checkout_request_id,
            }),
        )
    }

    fn status(&self, path: &str) -> Reply {
        let reference = reqwest::Url::parse(&format!("http://emulator.invalid{path}"))
            .ok()
            .and_then(|u| {
                u.query_pairs()
                    .find(|(k, _)| k == "reference")
                    .map(|(_, v)| v.trim().to_owned())
            })
            .filter(|r| !r.is_empty());
        let Some(reference) = reference else {
            return error(StatusCode::BAD_REQUEST, "The reference field is required.");
        };
        let books = lock(&self.books);
        let Some(txn) = books.find(&reference).cloned() else {
            return error(StatusCode::NOT_FOUND, "Transaction not found.");
        };
        drop(books);
        Reply::json(StatusCode::OK, self.status_json(&txn, Instant::now()))
    }

    fn status_json(&self, txn: &Txn, now: Instant) -> Value {
        let status = txn.payment.status_at(now);
        let receipt = match &status {
            PaymentStatus::Completed(c) => c.receipt.clone().unwrap_or_default(),
            _ => String::new(),
        };
        let mut value = json!({
            "transaction_date": seconds_only(&txn.created_at),
            "provider": "m-pesa",
            "success": !matches!(status, PaymentStatus::Failed(_)),
            "merchant": txn.customer_name.clone().unwrap_or_else(|| "Emulator Merchant".to_owned()),
            "payment_reference": txn.external_reference.clone().unwrap_or_default(),
            "third_party_reference": receipt,
            "status": status_word(&status),
            "reference": txn.payment.id.to_string(),
            "CheckoutRequestID": txn.checkout_request_id,
            "provider_reference": receipt,
        });
        // Not in UpesiPay's (success-only) sample: the M-Pesa result of a final payment, as
        // the callback carries it, so a failure's reason survives a status query.
        if let (Value::Object(map), Some((code, text))) =
            (&mut value, txn.payment.script.scenario.result())
        {
            if status.is_final() {
                map.insert(
                    "ResultCode".to_owned(),
                    json!(code.as_str().parse::<i64>().unwrap_or(-1)),
                );
                map.insert("ResultDesc".to_owned(), json!(text));
            }
        }
        value
    }

    /// The callback body for a final payment, its callback URL, and its `Status` word.
    fn callback_body(&self, reference: &str) -> Option<(Vec<u8>, Option<String>, String)> {
        let txn = lock(&self.books).find(reference).cloned()?;
        let status = txn.payment.status_at(Instant::now());
        let (code, text) = txn.payment.script.scenario.result()?;
        if !status.is_final() {
            return None;
        }
        let success = code.is_success();
        let word = if success { "Success" } else { "Failed" };
        let body = json!({
            "forward_url": "",
            "response": {
                "Amount": txn.payment.amount.shillings(),
                "CheckoutRequestID": txn.checkout_request_id,
                "ExternalReference": txn.external_reference.clone().unwrap_or_default(),
                "MerchantRequestID": txn.merchant_request_id,
                "MpesaReceiptNumber": if success { txn.payment.receipt.clone() } else { String::new() },
                "Phone": txn.payment.phone.e164(),
                "ResultCode": code.as_str().parse::<i64>().unwrap_or(-1),
                "ResultDesc": text,
                "Status": word,
            },
            "status": success,
        });
        Some((
            serde_json::to_vec(&body).ok()?,
            txn.callback_url,
            word.to_owned(),
        ))
    }

    fn schedule_callback(&self, payment: &SimulatedPayment) {
        let Some(at) = payment.final_at() else { return };
        let me = self.me.clone();
        let id = payment.id.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let Some(state) = me.upgrade() else { return };
            state.deliver(&id).await;
        });
    }

    async fn deliver(&self, id: &PaymentId) {
        let Some((body, Some(url), word)) = self.callback_body(id.as_str()) else {
            return;
        };
        let mut backoff = Duration::from_millis(50);
        for attempt in 1..=self.config.callback_attempts {
            let status = self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .ok()
                .map(|r| r.status().as_u16());
            self.ledger.record_webhook(WebhookDelivery {
                payment_id: id.to_string(),
                state: word.clone(),
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

/// `ws_CO_` + `ddMMyyyyHHmmss` + a three-digit sequence + the national number, the shape of
/// UpesiPay's sample `ws_CO_02012026164321519708344109`.
fn checkout_id(rfc3339: &str, sequence: u32, phone: &PhoneNumber) -> String {
    let digits: String = rfc3339.chars().filter(char::is_ascii_digit).collect();
    let part = |from: usize, to: usize| digits.get(from..to).unwrap_or("00").to_owned();
    let local = phone.local();
    format!(
        "ws_CO_{}{}{}{}{}{}{:03}{}",
        part(6, 8),
        part(4, 6),
        part(0, 4),
        part(8, 10),
        part(10, 12),
        part(12, 14),
        sequence % 1000,
        local.get(1..).unwrap_or_default()
    )
}

#[stk_core::async_trait]
impl Api for UpesiState {
    fn endpoint(&self, method: &Method, path: &str) -> Endpoint {
        match (method, route(path)) {
            (&Method::POST, PAYMENTS) => Endpoint::Initiate,
            (&Method::GET, STATUS) => Endpoint::Status,
            _ => Endpoint::Other,
        }
    }

    fn is_secret_header(&self, name: &str) -> bool {
        matches!(name, "authorization" | "cookie")
    }

    fn key_fields(&self, endpoint: Endpoint) -> &'static [&'static str] {
        match endpoint {
            Endpoint::Initiate => &["reference", "CheckoutRequestID"],
            _ => &["status"],
        }
    }

    async fn handle(&self, request: Incoming) -> Reply {
        let expected = match route(&request.path) {
            PAYMENTS => Method::POST,
            STATUS => Method::GET,
            _ => return error(StatusCode::NOT_FOUND, "Not found."),
        };
        if request.method != expected {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!(
                    "The {} method is not supported for this route.",
                    request.method
                ),
            );
        }
        if let Some(refusal) = self.check_auth(&request.headers) {
            return refusal;
        }
        match request.endpoint {
            Endpoint::Initiate => match serde_json::from_slice::<Value>(&request.body) {
                Ok(Value::Object(map)) => self.initiate(&map),
                _ => error(StatusCode::BAD_REQUEST, "Invalid request"),
            },
            _ => self.status(&request.path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(n: &str) -> PhoneNumber {
        PhoneNumber::parse(n).unwrap()
    }

    #[test]
    fn routes_and_ids() {
        assert_eq!(route("/api/v2/payments"), PAYMENTS);
        assert_eq!(route("/api/v2/transaction-status?reference=X"), STATUS);
        assert_eq!(route("/api/v2/"), "/");
        let id = checkout_id("2026-01-02T16:43:21.519000Z", 7, &phone("0708344109"));
        assert_eq!(id, "ws_CO_02012026164321007708344109");
        assert_eq!(integer(&json!(100)), Some(100));
        assert_eq!(integer(&json!(100.0)), Some(100));
        assert_eq!(integer(&json!(100.5)), None);
        assert_eq!(integer(&json!("100")), None);
        assert_eq!(
            seconds_only("2026-01-02T08:41:14.123Z"),
            "2026-01-02T08:41:14Z"
        );
    }

    #[test]
    fn phone_block_after_more_than_max_and_clears() {
        let rules = UpesiPayAbuseRules::documented();
        let t0 = Instant::now();
        let p = phone("0700000001");
        let other = phone("0712345678");
        let sec = Duration::from_secs(1);
        let mut outcomes: Vec<_> = (0..10u32).map(|i| (t0 + sec * i, p, true)).collect();
        outcomes.push((t0 + sec * 10, other, true));
        let now = t0 + sec * 20;
        assert_eq!(
            abuse_block(&rules, &outcomes, &p, now),
            None,
            "10 is not more than 10"
        );
        outcomes.push((t0 + sec * 11, p, true));
        let block = abuse_block(&rules, &outcomes, &p, now).unwrap();
        assert!(block.remaining > 23 * HOUR && block.remaining <= 24 * HOUR);
        assert_eq!(abuse_block(&rules, &outcomes, &other, now), None);
        assert_eq!(abuse_block(&rules, &outcomes, &p, now + 24 * HOUR), None);
        // A success in the run resets it.
        let mut reset: Vec<_> = (0..6u32).map(|i| (t0 + sec * i, p, true)).collect();
        reset.push((t0 + sec * 6, p, false));
        reset.extend((7..13u32).map(|i| (t0 + sec * i, p, true)));
        assert_eq!(abuse_block(&rules, &reset, &p, now), None);
    }

    #[test]
    fn account_restriction_in_a_sliding_window() {
        let rules = UpesiPayAbuseRules::documented();
        let t0 = Instant::now();
        let min = Duration::from_secs(60);
        // 51 failures spread over many numbers, 5 minutes apart: 250 min < 6 h.
        let outcomes: Vec<_> = (0..51u32)
            .map(|i| {
                let n = format!("07120000{:02}", i % 100);
                (t0 + min * 5 * i, phone(&n), true)
            })
            .collect();
        let now = t0 + min * 5 * 50 + min;
        let block = abuse_block(&rules, &outcomes, &phone("0799999999"), now).unwrap();
        assert!(block.message.contains("General Abuse Protection"));
        assert!(block.remaining <= 4 * HOUR && block.remaining > 3 * HOUR);
        assert_eq!(
            abuse_block(&rules, &outcomes, &phone("0799999999"), now + 4 * HOUR),
            None
        );
        // The same 51 failures spread over more than 6 h never exceed 50 in a window.
        let spread: Vec<_> = (0..51u32)
            .map(|i| (t0 + min * 10 * i, phone("0712345678"), true))
            .collect();
        let rules = UpesiPayAbuseRules::new(None, Duration::ZERO, 6 * HOUR, vec![(50, 4 * HOUR)]);
        assert_eq!(
            abuse_block(&rules, &spread, &phone("0712345678"), t0 + min * 510),
            None
        );
    }
}
