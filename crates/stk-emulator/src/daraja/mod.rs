//! The Safaricom Daraja (M-Pesa Express) emulator: `GET /oauth/v1/generate` (Basic consumer
//! key and secret → a bearer token that expires), `POST /mpesa/stkpush/v1/processrequest`
//! (the `Password` checked against shortcode + passkey + `Timestamp`), `POST
//! /mpesa/stkpushquery/v1/query` (`500.001.1001` "The transaction is being processed" until
//! the result), Daraja's `{"requestId", "errorCode", "errorMessage"}` error bodies, and
//! `Body.stkCallback` callbacks POSTed to each push's `CallBackURL`.
//!
//! Answers chosen where the contract is silent (Daraja's error code prefix is its HTTP
//! status): a missing or malformed `Authorization` is HTTP 404 `404.001.04` "Invalid
//! Authentication Header"; an unknown or expired token HTTP 404 `404.001.03` "Invalid Access
//! Token"; a wrong consumer key or secret HTTP 400 `400.008.01` "Invalid Authentication
//! passed"; a `grant_type` other than `client_credentials` HTTP 400 `400.008.02`; an invalid
//! field HTTP 400 `400.002.02` "Bad Request - Invalid \<field\>" (an unknown `CheckoutRequestID`
//! too); a wrong `Password` HTTP 500 `500.001.1001` "Wrong credentials"; the scripted refusal
//! `400.002.02` "Invalid PhoneNumber"; the scripted outage HTTP 503 `503.001.01` "Service
//! Unavailable" (inferred: Daraja documents no outage body); an unknown path HTTP 404 `404.001.01` "Resource not found". A
//! `TransactionDesc` over 13 characters is accepted and then fails with `1025`, as the
//! contract reports.
//!
//! Split like an adapter: this module holds the emulator, its state, authentication (the token
//! endpoint included) and routing; `config` its settings; `wire` the error bodies, request
//! validation and EAT timestamps; `payments` the push and query endpoints; `callback` the
//! callbacks.

mod callback;
mod config;
mod payments;
mod wire;

use std::collections::HashMap;
use std::io;
use std::sync::{Mutex, Weak};

use axum::http::{HeaderMap, Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use stk_core::{CallbackRequest, PaymentStatus};
use stk_mock::simulation::{SimulatedPayment, Simulation};
use tokio::time::Instant;

pub use callback::DarajaCallbackAttempt;
pub use config::DarajaEmulatorConfig;

use crate::emulator::{Running, running_emulator};
use crate::faults::Endpoint;
use crate::ledger::Ledger;
use crate::server::{Api, Incoming, Reply};
use crate::util::{bearer, lock};
use crate::webhook::{Acknowledgement, Courier};
use wire::error_reply;

const TOKEN: &str = "/oauth/v1/generate";
const PUSH: &str = "/mpesa/stkpush/v1/processrequest";
const QUERY: &str = "/mpesa/stkpushquery/v1/query";

#[derive(Debug, Clone)]
struct Payment {
    payment: SimulatedPayment,
    merchant_request_id: String,
    checkout_request_id: String,
    callback_url: String,
}

#[derive(Debug)]
struct Books {
    simulation: Simulation,
    /// By `CheckoutRequestID`.
    payments: HashMap<String, Payment>,
    /// Issued access tokens and when each expires.
    tokens: HashMap<String, Instant>,
    rng: fastrand::Rng,
}

struct DarajaState {
    me: Weak<DarajaState>,
    config: DarajaEmulatorConfig,
    books: Mutex<Books>,
    ledger: Ledger,
    attempts: Mutex<Vec<DarajaCallbackAttempt>>,
    courier: Courier,
}

/// A running Daraja emulator on `127.0.0.1`.
///
/// Serves, under [`base_url`](Self::base_url) (`http://127.0.0.1:PORT`), `GET
/// /oauth/v1/generate?grant_type=client_credentials` (Basic consumer key and secret), and
/// `POST /mpesa/stkpush/v1/processrequest` and `POST /mpesa/stkpushquery/v1/query` with
/// `Authorization: Bearer <token>`. By default it is the sandbox's shortcode `174379` with its
/// published passkey, so the adapter's sandbox defaults work against it. Payments follow the
/// test-number scripts of [`stk_mock::TEST_NUMBERS`] in real time; the result is POSTed to the
/// push's `CallBackURL`. Token requests are recorded in the ledger as
/// [`Endpoint::Token`](crate::Endpoint::Token).
///
/// ```no_run
/// use stk_emulator::{DarajaEmulator, DarajaEmulatorConfig};
///
/// # async fn demo() -> std::io::Result<()> {
/// let emulator = DarajaEmulator::start(DarajaEmulatorConfig::default().port(8703)).await?;
/// println!("DARAJA_BASE_URL={}", emulator.base_url());
/// println!("DARAJA_CONSUMER_KEY={}", emulator.consumer_key());
/// println!("DARAJA_CONSUMER_SECRET={}", emulator.consumer_secret());
/// emulator.shutdown().await;
/// # Ok(()) }
/// ```
pub struct DarajaEmulator {
    running: Running<DarajaState>,
}

running_emulator!(
    DarajaEmulator,
    /// The API base URL, `http://127.0.0.1:PORT` (what `DARAJA_BASE_URL` takes).
);

impl DarajaEmulator {
    /// Starts the emulator on `127.0.0.1` and the configured port.
    pub async fn start(config: DarajaEmulatorConfig) -> io::Result<Self> {
        let options = &config.options;
        let books = Books {
            simulation: options.simulation(0, ""),
            payments: HashMap::new(),
            tokens: HashMap::new(),
            rng: options.rng(1),
        };
        let running = Running::start(options.port, "", |parts| DarajaState {
            courier: parts.courier(config.options.attempts, Acknowledgement::ResultCodeZero),
            me: parts.me,
            config,
            books: Mutex::new(books),
            ledger: parts.ledger,
            attempts: Mutex::new(Vec::new()),
        })
        .await?;
        Ok(Self { running })
    }

    /// The consumer key clients must send.
    pub fn consumer_key(&self) -> &str {
        &self.running.state.config.consumer_key
    }

    /// The consumer secret clients must send.
    pub fn consumer_secret(&self) -> &str {
        &self.running.state.config.consumer_secret
    }

    /// The `BusinessShortCode` pushes must use.
    pub fn shortcode(&self) -> &str {
        &self.running.state.config.shortcode
    }

    /// The passkey the `Password` must be made with.
    pub fn passkey(&self) -> &str {
        &self.running.state.config.passkey
    }

    /// Forgets every access token issued so far, as if Daraja had revoked them: the next call
    /// with one is refused with `404.001.03` "Invalid Access Token".
    pub fn revoke_tokens(&self) {
        lock(&self.running.state.books).tokens.clear();
    }

    /// The access tokens issued and not yet expired or revoked (for tests that check a
    /// client never shows its bearer token).
    pub fn access_tokens(&self) -> Vec<String> {
        let now = Instant::now();
        lock(&self.running.state.books)
            .tokens
            .iter()
            .filter(|(_, expires)| **expires > now)
            .map(|(token, _)| token.clone())
            .collect()
    }

    /// Every callback POST made so far, with whether it was acknowledged.
    pub fn callback_attempts(&self) -> Vec<DarajaCallbackAttempt> {
        lock(&self.running.state.attempts).clone()
    }

    /// The status of a payment now, as the simulation sees it (`None` if unknown).
    pub fn payment_status(&self, checkout_request_id: &str) -> Option<PaymentStatus> {
        lock(&self.running.state.books)
            .payments
            .get(checkout_request_id)
            .map(|p| p.payment.status_at(Instant::now()))
    }

    /// The callback the emulator would POST for this payment now, as the merchant's server
    /// would receive it (path and query of the push's `CallBackURL`, JSON body); `None` for an
    /// unknown `CheckoutRequestID` or a payment that is not final yet.
    pub fn callback_for(&self, checkout_request_id: &str) -> Option<CallbackRequest> {
        self.running.state.callback_request(checkout_request_id)
    }
}

fn normalized(path: &str) -> &str {
    let path = path.split('?').next().unwrap_or("/");
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() { "/" } else { trimmed }
}

/// The value of `name` in a request target's query, if any.
fn query_param(path: &str, name: &str) -> Option<String> {
    let (_, query) = path.split_once('?')?;
    reqwest::Url::parse(&format!("http://q.invalid/?{query}"))
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl DarajaState {
    /// `GET /oauth/v1/generate?grant_type=client_credentials`.
    fn token(&self, path: &str, headers: &HeaderMap) -> Reply {
        if query_param(path, "grant_type").as_deref() != Some("client_credentials") {
            return error_reply(
                StatusCode::BAD_REQUEST,
                "",
                "400.008.02",
                "Invalid grant type passed",
            );
        }
        let expected = STANDARD.encode(format!(
            "{}:{}",
            self.config.consumer_key, self.config.consumer_secret
        ));
        let sent = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .map(|(_, credentials)| credentials.trim());
        if !sent.is_some_and(|s| stk_core::secrets_match(s.as_bytes(), expected.as_bytes())) {
            return error_reply(
                StatusCode::BAD_REQUEST,
                "",
                "400.008.01",
                "Invalid Authentication passed",
            );
        }
        let lifetime = self.config.token_lifetime;
        let mut books = lock(&self.books);
        let now = Instant::now();
        books.tokens.retain(|_, expires| *expires > now);
        let token: String = (0..28).map(|_| books.rng.alphanumeric()).collect();
        books.tokens.insert(token.clone(), now + lifetime);
        Reply::json(
            StatusCode::OK,
            json!({"access_token": token, "expires_in": lifetime.as_secs().to_string()}),
        )
    }

    /// `None` when the bearer token is valid, else the refusal.
    fn check_auth(&self, headers: &HeaderMap) -> Option<Reply> {
        let Some(token) = bearer(headers) else {
            return Some(error_reply(
                StatusCode::NOT_FOUND,
                "",
                "404.001.04",
                "Invalid Authentication Header",
            ));
        };
        let valid = lock(&self.books)
            .tokens
            .get(token)
            .is_some_and(|expires| Instant::now() < *expires);
        (!valid).then(|| {
            error_reply(
                StatusCode::NOT_FOUND,
                "",
                "404.001.03",
                "Invalid Access Token",
            )
        })
    }
}

#[stk_core::async_trait]
impl Api for DarajaState {
    fn endpoint(&self, method: &Method, path: &str) -> Endpoint {
        match (method, normalized(path)) {
            (&Method::POST, PUSH) => Endpoint::Initiate,
            (&Method::POST, QUERY) => Endpoint::Status,
            (&Method::GET, TOKEN) => Endpoint::Token,
            _ => Endpoint::Other,
        }
    }

    fn is_secret_header(&self, name: &str) -> bool {
        matches!(name, "authorization" | "cookie")
    }

    fn key_fields(&self, endpoint: Endpoint) -> &'static [&'static str] {
        match endpoint {
            Endpoint::Initiate => &["CheckoutRequestID", "ResponseCode"],
            // A pending query is an error body: without its code it is a bare HTTP 500.
            Endpoint::Status => &["ResultCode", "errorCode"],
            Endpoint::Token => &["access_token"],
            _ => &[],
        }
    }

    async fn handle(&self, request: Incoming) -> Reply {
        let route = normalized(&request.path);
        let allowed = match route {
            TOKEN => Method::GET,
            PUSH | QUERY => Method::POST,
            _ => {
                return error_reply(
                    StatusCode::NOT_FOUND,
                    "",
                    "404.001.01",
                    "Resource not found",
                );
            }
        };
        if request.method != allowed {
            return error_reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "",
                "405.001.01",
                &format!("Method {} not allowed", request.method),
            );
        }
        if route == TOKEN {
            return self.token(&request.path, &request.headers);
        }
        if let Some(refusal) = self.check_auth(&request.headers) {
            return refusal;
        }
        let body = match serde_json::from_slice::<Value>(&request.body) {
            Ok(Value::Object(map)) => map,
            Ok(_) | Err(_) => {
                return error_reply(
                    StatusCode::BAD_REQUEST,
                    "",
                    "400.002.02",
                    "Bad Request - Invalid JSON body",
                );
            }
        };
        if route == PUSH {
            self.initiate(&body)
        } else {
            self.query(&body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries() {
        assert_eq!(normalized("/mpesa/stkpush/v1/processrequest/"), PUSH);
        assert_eq!(
            normalized("/oauth/v1/generate?grant_type=client_credentials"),
            TOKEN
        );
        assert_eq!(normalized("/"), "/");
        assert_eq!(
            query_param(
                "/oauth/v1/generate?x=1&grant_type=client_credentials",
                "grant_type"
            )
            .as_deref(),
            Some("client_credentials")
        );
        assert_eq!(query_param("/oauth/v1/generate", "grant_type"), None);
    }
}
