//! What every `stk` HTTP adapter shares.
//!
//! - [`Connector`] + [`HttpProvider`]: the provider flow written once; an adapter declares
//!   only its wire format and mapping, and, for expiring tokens, an asynchronous
//!   per-request [`authorization`](Connector::authorization) refreshed once when the provider
//!   refuses it.
//! - [`ClientOptions`]: base URL, timeouts and user agent, embedded in every adapter config.
//! - [`HttpClient`]: a `reqwest` client with timeouts, a user agent and default (secret)
//!   headers that **never retries or follows redirects**: a re-sent push could charge twice.
//! - [`transport_error`]: a connect error means nothing was sent ([`Error::Unavailable`]);
//!   a timeout or a connection lost after sending may have reached the provider
//!   ([`Error::OutcomeUnknown`]).
//! - [`status_error`]: the HTTP status classes every provider shares (401/403, 404 on a
//!   status query, 429 with `Retry-After`, 5xx).
//!
//! [`Error::Unavailable`]: stk_core::Error::Unavailable
//! [`Error::OutcomeUnknown`]: stk_core::Error::OutcomeUnknown

mod callback_options;
mod client;
mod connector;
mod options;
mod retry;
pub mod serde_helpers;

pub use callback_options::{CallbackOptions, redact_query};
pub use client::{
    HttpClient, MAX_RESPONSE_BYTES, RawResponse, parse_retry_after, secret_header, status_error,
    transport_error,
};
pub use connector::{Connector, Endpoints, HttpProvider, Request};
pub use options::{
    ClientOptions, ClientOptionsBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, ProviderInfo,
};
pub use retry::RetryPolicy;

#[cfg(feature = "axum")]
pub mod receive;
