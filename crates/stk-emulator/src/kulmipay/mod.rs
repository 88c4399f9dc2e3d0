//! The KulmiPay emulator: both API generations ("express" `/payment/mpesa-stk-push/` and
//! the older "collection" `/payment/collection/stk-push/`), their status endpoints, DRF-style
//! errors, and `collection_event` webhooks.
//!
//! Split like an adapter: this module holds the emulator, its state, authentication and
//! routing; `config` its settings; `wire` request validation, errors and the invoice JSON;
//! `payments` the push and status endpoints; `callback` the webhooks.

mod callback;
mod config;
mod payments;
mod wire;

use std::collections::HashMap;
use std::io;
use std::sync::{Mutex, OnceLock, Weak};

use axum::http::{HeaderMap, Method, StatusCode};
use stk_core::{CallbackRequest, PaymentStatus};
use stk_mock::simulation::{SimulatedPayment, Simulation};
use tokio::time::Instant;

pub use config::KulmiPayEmulatorConfig;

use crate::emulator::{Running, running_emulator};
use crate::faults::Endpoint;
use crate::ledger::Ledger;
use crate::server::{Api, Incoming, Reply};
use crate::util::{bearer, lock};
use crate::webhook::{Acknowledgement, Courier};
use wire::{detail, json_object};

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
    courier: Courier,
}

/// A running KulmiPay emulator on `127.0.0.1`.
///
/// Serves, under [`base_url`](Self::base_url) (`http://127.0.0.1:PORT/api/v1`):
/// `POST /payment/mpesa-stk-push/` and `POST /payment/status/` (Bearer secret key), and
/// `POST /payment/collection/stk-push/` and `POST /payment/collection/status/` (Bearer API
/// token plus `X-KULMI-SECRET-KEY`). Payments follow the test-number scripts of
/// [`stk_mock::TEST_NUMBERS`] in real time.
pub struct KulmiPayEmulator {
    running: Running<KulmiState>,
}

running_emulator!(
    KulmiPayEmulator,
    /// The API base URL, `http://127.0.0.1:PORT/api/v1` (what `KULMIPAY_BASE_URL` takes).
);

impl KulmiPayEmulator {
    /// Starts the emulator on `127.0.0.1` and the configured port.
    pub async fn start(config: KulmiPayEmulatorConfig) -> io::Result<Self> {
        let options = &config.options;
        let books = Books {
            express: options.simulation(0, ""),
            collection: options.simulation(1, "INV-"),
            invoices: HashMap::new(),
            rng: options.rng(2),
        };
        let running = Running::start(options.port, PREFIX, |parts| KulmiState {
            courier: parts.courier(config.options.attempts, Acknowledgement::AnySuccess),
            me: parts.me,
            config,
            books: Mutex::new(books),
            ledger: parts.ledger,
            host: OnceLock::new(),
        })
        .await?;
        let _ = running.state.host.set(format!("http://{}", running.addr()));
        Ok(Self { running })
    }

    /// The secret key clients must send.
    pub fn secret_key(&self) -> &str {
        &self.running.state.config.secret_key
    }

    /// The API token the collection API requires.
    pub fn api_token(&self) -> &str {
        &self.running.state.config.api_token
    }

    /// The challenge secret put in webhooks, if configured.
    pub fn webhook_challenge(&self) -> Option<&str> {
        self.running.state.config.webhook_challenge.as_deref()
    }

    /// The status of an invoice now, as the simulation sees it (`None` if unknown).
    pub fn payment_status(&self, invoice_id: &str) -> Option<PaymentStatus> {
        let books = lock(&self.running.state.books);
        books
            .invoices
            .get(invoice_id)
            .map(|i| i.payment.status_at(Instant::now()))
    }

    /// The `collection_event` webhook the emulator would deliver for this invoice now, as
    /// the merchant's server would receive it (body, content type, signature header when
    /// signing is on); `None` for an unknown invoice.
    pub fn callback_for(&self, invoice_id: &str) -> Option<CallbackRequest> {
        self.running.state.callback_request(invoice_id)
    }
}

fn normalized(path: &str) -> &str {
    let path = path.strip_prefix(PREFIX).unwrap_or(path);
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() { "/" } else { trimmed }
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
        let body = match json_object(&request.body) {
            Ok(map) => map,
            Err(reply) => return reply,
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
    fn paths_normalise() {
        assert_eq!(normalized("/api/v1/payment/status/"), EXPRESS_STATUS);
        assert_eq!(normalized("/payment/collection/stk-push"), COLLECTION_PUSH);
        assert_eq!(normalized("/api/v1/"), "/");
    }
}
