//! The Lipia Online emulator: `POST /payments/stk-push`, `GET /payments/status?reference=`,
//! Lipia's `{success, status, message, customerMessage, data | error, timestamp}` envelope,
//! its Safaricom-only phone rule, and callbacks POSTed to each request's `callback_url`.
//!
//! Status codes chosen where Lipia's docs are silent: an accepted push answers **200** (the
//! docs' PHP example checks `=== 200`); validation and payment errors answer 400; a bad or
//! missing API key 401; an unknown reference 404; the scripted outage 503.
//!
//! Split like an adapter: this module holds the emulator, its state, authentication and
//! routing; `config` its settings; `wire` the envelope, request validation and the payment
//! record; `payments` the push and status endpoints; `callback` the callbacks.

mod callback;
mod config;
mod payments;
mod wire;

use std::collections::HashMap;
use std::io;
use std::sync::{Mutex, Weak};

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};
use stk_core::{CallbackRequest, PaymentStatus};
use stk_mock::simulation::{SimulatedPayment, Simulation};
use tokio::time::Instant;

pub use callback::{LipiaCallbackAttempt, LipiaCallbackShape};
pub use config::LipiaEmulatorConfig;
pub use wire::EXPECTED_SAFARICOM;

use crate::emulator::{Running, running_emulator};
use crate::faults::Endpoint;
use crate::ledger::Ledger;
use crate::server::{Api, Incoming, Reply};
use crate::util::{bearer, lock};
use crate::webhook::{Acknowledgement, Courier};
use wire::error_reply;

const PREFIX: &str = "/api/v2";
const PUSH: &str = "/payments/stk-push";
const STATUS: &str = "/payments/status";

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
    courier: Courier,
}

/// A running Lipia Online emulator on `127.0.0.1`.
///
/// Serves, under [`base_url`](Self::base_url) (`http://127.0.0.1:PORT/api/v2`),
/// `POST /payments/stk-push` and `GET /payments/status?reference=…`, both with
/// `Authorization: Bearer <API key>`. Payments follow the test-number scripts of
/// [`stk_mock::TEST_NUMBERS`] in real time; the final result is POSTed to the push's
/// `callback_url`, if it had one.
///
/// ```no_run
/// use stk_emulator::{LipiaEmulator, LipiaEmulatorConfig};
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
    running: Running<LipiaState>,
}

running_emulator!(
    LipiaEmulator,
    /// The API base URL, `http://127.0.0.1:PORT/api/v2` (what `LIPIA_BASE_URL` takes).
);

impl LipiaEmulator {
    /// Starts the emulator on `127.0.0.1` and the configured port.
    pub async fn start(config: LipiaEmulatorConfig) -> io::Result<Self> {
        let options = &config.options;
        let books = Books {
            simulation: options.simulation(0, ""),
            payments: HashMap::new(),
            rng: options.rng(1),
        };
        let running = Running::start(options.port, PREFIX, |parts| LipiaState {
            courier: parts.courier(config.options.attempts, Acknowledgement::OkBody),
            me: parts.me,
            config,
            books: Mutex::new(books),
            ledger: parts.ledger,
            attempts: Mutex::new(Vec::new()),
        })
        .await?;
        Ok(Self { running })
    }

    /// The API key clients must send.
    pub fn api_key(&self) -> &str {
        &self.running.state.config.api_key
    }

    /// Every callback POST made so far, with whether it was acknowledged.
    pub fn callback_attempts(&self) -> Vec<LipiaCallbackAttempt> {
        lock(&self.running.state.attempts).clone()
    }

    /// The status of a payment now, as the simulation sees it (`None` if unknown).
    pub fn payment_status(&self, reference: &str) -> Option<PaymentStatus> {
        lock(&self.running.state.books)
            .payments
            .get(reference)
            .map(|p| p.payment.status_at(Instant::now()))
    }

    /// The `CheckoutRequestID` of a payment, which the (nested) callback carries instead of
    /// the `TransactionReference`; `None` for an unknown reference.
    pub fn checkout_request_id(&self, reference: &str) -> Option<String> {
        lock(&self.running.state.books)
            .payments
            .get(reference)
            .map(|p| p.checkout_request_id.clone())
    }

    /// The callback the emulator would POST for this payment now, as the merchant's server
    /// would receive it (path and query of the push's `callback_url`, JSON body); `None` for
    /// an unknown reference or a payment that is not final yet.
    pub fn callback_for(&self, reference: &str) -> Option<CallbackRequest> {
        self.running.state.callback_request(reference)
    }
}

fn normalized(path: &str) -> &str {
    let path = path.split('?').next().unwrap_or("/");
    let path = path.strip_prefix(PREFIX).unwrap_or(path);
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() { "/" } else { trimmed }
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
    fn paths_normalise() {
        assert_eq!(normalized("/api/v2/payments/stk-push"), PUSH);
        assert_eq!(normalized("/api/v2/payments/status?reference=x"), STATUS);
        assert_eq!(normalized("/api/v2/"), "/");
    }
}
