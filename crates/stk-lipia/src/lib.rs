//! Lipia Online adapter for M-Pesa STK Push.
//!
//! [`Lipia`] implements [`stk_core::StkProvider`] over Lipia Online's v2 API
//! (`POST /payments/stk-push`, `GET /payments/status?reference=…`, `Authorization: Bearer
//! <API key>`). Configure it with [`LipiaConfig::builder`] or from the environment with
//! [`LipiaConfig::from_env`] (`LIPIA_API_KEY`, `LIPIA_BASE_URL`, `LIPIA_CALLBACK_URL`,
//! `LIPIA_CALLBACK_TOKEN`):
//!
//! ```no_run
//! use stk_core::{StkProvider, StkPushRequest};
//! use stk_lipia::{Lipia, LipiaConfig};
//!
//! # async fn demo() -> Result<(), stk_core::Error> {
//! let provider = Lipia::new(LipiaConfig::builder().api_key("lipia_key_…").build()?)?;
//! let request = StkPushRequest::builder()
//!     .phone("0712345678").amount(100).reference("ORDER-1")
//!     .callback_url("https://shop.example/mpesa/lipia")
//!     .build()?;
//! let accepted = provider.initiate(&request).await?;
//! println!("TransactionReference {}", accepted.payment_id);
//! # Ok(()) }
//! ```
//!
//! What is sent: `phone_number` in `254…` form, `amount` as an integer, `external_reference`
//! (the request's reference), `callback_url` (the request's, else the configured default,
//! with the callback token added) and `metadata` (the request's metadata, plus its
//! description under `description` unless the metadata already has that key).
//!
//! Lipia accepts Safaricom numbers only; the adapter does not pre-check the network (numbers
//! are portable), so Lipia's `VALIDATION_ERROR` comes back as [`Error::Rejected`]. The
//! adapter never retries a push: on [`Error::OutcomeUnknown`] the charge may exist, so query
//! [`status`](stk_core::StkProvider::status) instead of pushing again.
//!
//! **Callbacks are unsigned.** Treat one as a hint and confirm it by status query; optionally
//! set a [`callback_token`](LipiaConfigBuilder::callback_token), which the adapter adds to
//! every `callback_url` as `?token=…` and requires of every callback. Answer accepted
//! callbacks with [`CALLBACK_ACK`] (HTTP 200, `text/plain`, `ok`) within 30 s.

mod callback;
mod config;
mod mapping;
mod wire;

use stk_core::{
    AmountLimits, CallbackAck, CallbackClaim, CallbackRequest, Error, PaymentId, PushAccepted,
    StatusReport, StkPushRequest,
};
use stk_http::{ClientOptions, Connector, Endpoints, HttpProvider, RawResponse, Request};

pub use callback::{CALLBACK_ACK, TOKEN_PARAM};
pub use config::{DEFAULT_BASE_URL, LIMITS, LipiaConfig, LipiaConfigBuilder};

/// The provider name, `lipia`.
pub const NAME: &str = "lipia";

/// The Lipia Online provider. Cheap to clone (shares the HTTP client).
pub type Lipia = HttpProvider<LipiaConfig>;

impl Connector for LipiaConfig {
    const NAME: &'static str = NAME;
    type PushBody = wire::PushBody;
    type StatusBody = ();

    fn client_options(&self) -> &ClientOptions {
        &self.client
    }

    fn limits(&self) -> AmountLimits {
        LIMITS
    }

    fn endpoints(&self) -> Endpoints {
        Endpoints {
            push: "payments/stk-push",
            status: "payments/status",
        }
    }

    fn headers(&self) -> Result<reqwest::header::HeaderMap, Error> {
        config::headers(self)
    }

    fn push_body(&self, request: &StkPushRequest) -> Result<wire::PushBody, Error> {
        Ok(wire::PushBody::new(self, request))
    }

    fn push_response(&self, response: &RawResponse) -> Result<PushAccepted, Error> {
        mapping::push_response(response)
    }

    fn status_request(&self, id: &PaymentId) -> Request<()> {
        Request::Get(vec![("reference", id.as_str().to_owned())])
    }

    fn status_response(
        &self,
        id: &PaymentId,
        response: &RawResponse,
    ) -> Result<StatusReport, Error> {
        mapping::status_response(id, response)
    }

    fn parse_callback(&self, callback: &CallbackRequest) -> Result<CallbackClaim, Error> {
        callback::parse(self.callback.token.as_ref(), callback)
    }

    fn callback_ack(&self) -> CallbackAck {
        CALLBACK_ACK
    }
}
