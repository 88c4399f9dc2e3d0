//! The UpesiPay emulator: `POST /payments` (Basic token), `GET /transaction-status`, the
//! documented callback envelope, `{"error_message": …}` errors, and the documented STK abuse
//! protection (see [`UpesiPayAbuseRules`]).
//!
//! Split like an adapter: this module holds the emulator, its state, authentication and
//! routing; `config` its settings; `wire` request validation, errors and the status JSON;
//! `payments` the push and status endpoints; `abuse` the abuse protection; `callback` the
//! callbacks.

mod abuse;
mod callback;
mod config;
mod payments;
mod wire;

use std::collections::HashMap;
use std::io;
use std::sync::{Mutex, Weak};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode, header};
use serde_json::Value;
use stk_core::{CallbackRequest, PaymentStatus};
use stk_mock::simulation::{SimulatedPayment, Simulation};
use tokio::time::Instant;

pub use abuse::UpesiPayAbuseRules;
pub use config::UpesiPayEmulatorConfig;

use crate::emulator::{Running, running_emulator};
use crate::faults::Endpoint;
use crate::ledger::Ledger;
use crate::server::{Api, Incoming, Reply};
use crate::util::lock;
use crate::webhook::{Acknowledgement, Courier};
use wire::error;

const PREFIX: &str = "/api/v2";
const PAYMENTS: &str = "/payments";
const STATUS: &str = "/transaction-status";
const MAX_AMOUNT: u64 = 150_000;

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
    courier: Courier,
}

/// A running UpesiPay emulator on `127.0.0.1`.
///
/// Serves, under [`base_url`](Self::base_url) (`http://127.0.0.1:PORT/api/v2`):
/// `POST /payments` and `GET /transaction-status?reference=…`, both with
/// `Authorization: Basic <token>`. Payments follow the test-number scripts of
/// [`stk_mock::TEST_NUMBERS`] in real time; the final result is POSTed to the push's
/// `callback_url`. See [`UpesiPayAbuseRules`] for the abuse protection.
pub struct UpesiPayEmulator {
    running: Running<UpesiState>,
}

running_emulator!(
    UpesiPayEmulator,
    /// The API base URL, `http://127.0.0.1:PORT/api/v2` (what `UPESIPAY_BASE_URL` takes).
);

impl UpesiPayEmulator {
    /// Starts the emulator on `127.0.0.1` and the configured port.
    pub async fn start(config: UpesiPayEmulatorConfig) -> io::Result<Self> {
        let options = &config.options;
        let books = Books {
            sim: options.simulation(0, ""),
            txns: HashMap::new(),
            order: Vec::new(),
            by_checkout: HashMap::new(),
            rng: options.rng(1),
            sequence: 0,
        };
        let running = Running::start(options.port, PREFIX, |parts| UpesiState {
            courier: parts.courier(config.options.attempts, Acknowledgement::AnySuccess),
            me: parts.me,
            config,
            books: Mutex::new(books),
            ledger: parts.ledger,
            clock_offset: Mutex::new(Duration::ZERO),
        })
        .await?;
        Ok(Self { running })
    }

    /// The Basic token clients must send.
    pub fn token(&self) -> &str {
        &self.running.state.config.token
    }

    /// The payment channel id pushes must name.
    pub fn channel_id(&self) -> u64 {
        self.running.state.config.channel_id
    }

    /// Moves the abuse rules' clock forward (blocks and windows expire), without touching
    /// payments in flight. The total offset is capped at about 100 years.
    pub fn advance_clock(&self, by: Duration) {
        const MAX_OFFSET: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
        let mut offset = lock(&self.running.state.clock_offset);
        *offset = offset.saturating_add(by).min(MAX_OFFSET);
    }

    /// The `CheckoutRequestID` of a push, by its `reference`.
    pub fn checkout_request_id(&self, reference: &str) -> Option<String> {
        lock(&self.running.state.books)
            .txns
            .get(reference)
            .map(|t| t.checkout_request_id.clone())
    }

    /// The status of a payment now, by `reference` or `CheckoutRequestID`, as the simulation
    /// sees it (`None` if unknown).
    pub fn payment_status(&self, reference: &str) -> Option<PaymentStatus> {
        let books = lock(&self.running.state.books);
        books
            .find(reference)
            .map(|t| t.payment.status_at(Instant::now()))
    }

    /// The callback the emulator delivers for a payment (by `reference`) once it is final,
    /// as the merchant's server would receive it (body, content type, and the path and query
    /// of the push's `callback_url`); `None` for an unknown or unfinished payment.
    pub fn callback_for(&self, reference: &str) -> Option<CallbackRequest> {
        self.running.state.callback_request(reference)
    }
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

impl Books {
    /// A transaction by its `reference`, its `CheckoutRequestID` or, once completed, its
    /// M-Pesa receipt.
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

    #[test]
    fn routes() {
        assert_eq!(route("/api/v2/payments"), PAYMENTS);
        assert_eq!(route("/api/v2/transaction-status?reference=X"), STATUS);
        assert_eq!(route("/api/v2/"), "/");
    }
}
