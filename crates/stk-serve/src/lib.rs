//! The payment tracker as an HTTP gateway any language can use.
//!
//! - `POST /v1/payments` records the order's attempt, then sends the push: while the order is
//!   live or paid, a repeat with the same reference, phone and amount answers the existing
//!   payment (`200`) and sends nothing, another phone or amount is a `409`. Once its attempt
//!   `failed` (the provider said so), an order may be pushed again: that is a new attempt. `GET /v1/payments/{id}` (`?expand=timeline`) and `GET /v1/payments` (filters,
//!   cursor pages) read them.
//! - Provider callbacks at `POST /v1/callbacks/{account}/{provider}` (with one account also
//!   `/v1/callbacks/{provider}`): the tracker's receiver (stored,
//!   acknowledged, confirmed by status query before anything is paid).
//! - Webhooks to the app, signed per the Standard Webhooks specification, delivered from the
//!   tracker's outbox until a `2xx` (same `webhook-id` on every retry, across restarts).
//! - `GET /healthz`, `GET /readyz`, `GET /metrics` (Prometheus text), `GET /openapi.json`.
//!
//! Every `/v1/payments` and `/metrics` request needs `Authorization: Bearer <key>`: the key
//! says which [`Account`] it is for (each its own tracker, webhook and rate limit;
//! [`file::AccountsFile`] reads several from TOML). Errors are
//! `{"error": {"kind": "...", "message": "..."}}` with the kinds the SDK uses.
//!
//! ```no_run
//! use std::sync::Arc;
//! use stk_serve::{Account, AccountConfig};
//! use stk_tracker::{SqlStore, Tracker};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqlStore::open_sqlite("payments.db".as_ref()).await?;
//! let tracker = Tracker::builder(Arc::new(store))
//!     .provider(Arc::new(stk::mock::MockProvider::new()))
//!     .build();
//! let account = Account::new("shop", tracker, AccountConfig::new("a-long-random-api-key")?)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! stk_serve::serve(listener, vec![account], std::future::pending()).await?;
//! # Ok(()) }
//! ```

mod account;
mod api;
mod auth;
mod config;
mod dashboard;
pub mod file;
mod limit;
mod metrics;
mod mock;
mod openapi;
mod payments;
mod server;
mod view;
mod webhooks;

pub use account::{Account, MAX_ACCOUNT_NAME};
pub use config::{AccountConfig, ConfigError, MIN_API_KEY_CHARS, WebhookTarget, check_bind};
pub use mock::forward_mock_callbacks;
pub use server::{MAX_BODY, ServeError, app, serve};
pub use view::PaymentView;
pub use webhooks::{DELIVERY_TIMEOUT, WebhookSender, sign};
