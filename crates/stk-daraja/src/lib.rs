//! Safaricom Daraja adapter for M-Pesa STK Push (M-Pesa Express), for merchants with their own
//! paybill or till.
//!
//! [`Daraja`] implements [`stk_core::StkProvider`] over Daraja's API:
//! `POST /mpesa/stkpush/v1/processrequest` to push, `POST /mpesa/stkpushquery/v1/query` to
//! query, with `Authorization: Bearer <token>` from `GET
//! /oauth/v1/generate?grant_type=client_credentials` (Basic consumer key and secret). Configure
//! it with [`DarajaConfig::builder`] or from the environment with [`DarajaConfig::from_env`]
//! (`DARAJA_CONSUMER_KEY`, `DARAJA_CONSUMER_SECRET`, `DARAJA_SHORTCODE`, `DARAJA_PASSKEY`,
//! `DARAJA_TILL`, `DARAJA_CALLBACK_URL`, `DARAJA_BASE_URL`, `DARAJA_ENVIRONMENT`, …). In the
//! sandbox (the default) the shortcode and passkey default to Safaricom's published test
//! pair ([`SANDBOX_SHORTCODE`], [`SANDBOX_PASSKEY`]):
//!
//! ```no_run
//! use stk_core::{CallbackUrl, StkProvider, StkPushRequest};
//! use stk_daraja::{Daraja, DarajaConfig};
//!
//! # async fn demo() -> Result<(), stk_core::Error> {
//! let config = DarajaConfig::builder()
//!     .consumer_key("…").consumer_secret("…")                     // sandbox: 174379 + its passkey
//!     .callback_url(CallbackUrl::parse("https://shop.example/mpesa/daraja")?)
//!     .build()?;
//! let provider = Daraja::new(config)?;
//! let request = StkPushRequest::builder()
//!     .phone("0712345678").amount(100).reference("ORDER-1")      // AccountReference: <= 12 chars
//!     .build()?;
//! let accepted = provider.initiate(&request).await?;
//! println!("CheckoutRequestID {}", accepted.payment_id);
//! # Ok(()) }
//! ```
//!
//! What is sent: `BusinessShortCode` (the shortcode), `Password` =
//! base64(shortcode + passkey + `Timestamp`) with the same `Timestamp` (one clock read, East Africa Time
//! `YYYYMMDDHHmmss`, see [`timestamp`]), `TransactionType` (`CustomerPayBillOnline`, or
//! `CustomerBuyGoodsOnline` for a till, with `PartyB` = the till number), `Amount` (whole
//! shillings), `PartyA` and `PhoneNumber` (`2547…`/`2541…`), `CallBackURL` (the request's,
//! else the configured one, with the callback token), `AccountReference` (the request's
//! reference) and `TransactionDesc` (its description, else the reference). Before anything is
//! sent, the adapter refuses as [`Error::InvalidRequest`] a reference over 12 characters, a
//! description over 13, and a push with no callback URL (Daraja requires one).
//!
//! `ResponseCode` `"0"` is the only acceptance, and it means accepted, not paid; the payment id
//! is the `CheckoutRequestID`. A query answered `500.001.1001` "The transaction is being
//! processed" is pending; a `ResultCode` goes through the core mapping
//! ([`stk_core::ResultCode`]). The query carries no receipt: the callback does. The mapping
//! module's table lists every answer.
//!
//! **The token.** The OAuth token is cached per provider (clones share it), used until five
//! minutes before it expires (`expires_in`, sent as a string), fetched by one task at a time
//! however many pushes run at once, on tokio's clock. When Daraja refuses a token
//! (`404.001.03` "Invalid Access Token", `401.*`), the token is dropped, a fresh one fetched,
//! and the request **sent once more** — for a push too, because that refusal comes before
//! Daraja processes anything, so no prompt and no charge can exist. That is the only re-send:
//! a push whose answer is lost (timeout, reset) is [`Error::OutcomeUnknown`], never re-sent;
//! query [`status`](stk_core::StkProvider::status) instead of pushing again.
//!
//! **Callbacks are unsigned**: see [below](#callbacks).
//!
//! # Callbacks
//!
//! [`parse_callback`](stk_core::StkProvider::parse_callback) reads `Body.stkCallback`
//! (`CallbackMetadata.Item` as name → optional value); the event's `status_id` is the
//! `CheckoutRequestID`. Daraja signs nothing: treat a callback as a hint and confirm it with
//! a status query; with [`callback_token`](DarajaConfigBuilder::callback_token) set, callbacks
//! without the token (query parameter [`TOKEN_PARAM`], or a last path segment) are refused;
//! [`DarajaConfig::verify_callback_peer`] and [`is_safaricom_callback_ip`] check the
//! connection's address, which [`stk_core::CallbackRequest`] does not carry. Answer accepted
//! callbacks at once with [`CALLBACK_ACK`] (HTTP 200,
//! `{"ResultCode":0,"ResultDesc":"Accepted"}`).

mod callback;
mod config;
mod mapping;
mod token;
mod wire;

use std::time::SystemTime;

use reqwest::header::{HeaderMap, HeaderValue};
use stk_core::{
    AmountLimits, CallbackAck, CallbackClaim, CallbackRequest, Error, Operation, PaymentId,
    PushAccepted, StatusReport, StkPushRequest,
};
use stk_http::{
    ClientOptions, Connector, Endpoints, HttpClient, HttpProvider, RawResponse, Request,
};

pub use callback::{CALLBACK_ACK, SAFARICOM_CALLBACK_IPS, TOKEN_PARAM, is_safaricom_callback_ip};
pub use config::{
    DarajaConfig, DarajaConfigBuilder, Environment, LIMITS, PRODUCTION_BASE_URL, SANDBOX_BASE_URL,
    SANDBOX_PASSKEY, SANDBOX_SHORTCODE, TokenPlacement, TransactionType,
};
pub use mapping::DEFAULT_TOKEN_LIFETIME;
pub use token::REFRESH_MARGIN;
pub use wire::{
    ACCOUNT_REFERENCE_MAX, PushBody, QueryBody, TRANSACTION_DESC_MAX, password, timestamp,
};

/// The provider name, `daraja`.
pub const NAME: &str = "daraja";

/// The Daraja provider. Cheap to clone (clones share the HTTP client and the token cache).
pub type Daraja = HttpProvider<DarajaConfig>;

impl Connector for DarajaConfig {
    const NAME: &'static str = NAME;
    type PushBody = wire::PushBody;
    type StatusBody = wire::QueryBody;

    fn client_options(&self) -> &ClientOptions {
        &self.client
    }

    fn limits(&self) -> AmountLimits {
        self.limits
    }

    fn endpoints(&self) -> Endpoints {
        Endpoints {
            push: "mpesa/stkpush/v1/processrequest",
            status: "mpesa/stkpushquery/v1/query",
        }
    }

    fn headers(&self) -> Result<HeaderMap, Error> {
        Ok(config::headers())
    }

    async fn authorization(&self, http: &HttpClient) -> Result<Option<HeaderValue>, Error> {
        self.tokens.get(|| token::fetch(self, http)).await.map(Some)
    }

    fn authorization_rejected(&self, _operation: Operation, response: &RawResponse) -> bool {
        mapping::token_refused(response)
    }

    fn invalidate_authorization(&self, rejected: &HeaderValue) {
        self.tokens.invalidate(rejected);
    }

    fn push_body(&self, request: &StkPushRequest) -> Result<wire::PushBody, Error> {
        wire::PushBody::new(self, request, SystemTime::now())
    }

    fn push_response(&self, response: &RawResponse) -> Result<PushAccepted, Error> {
        mapping::push_response(response)
    }

    fn status_request(&self, id: &PaymentId) -> Request<wire::QueryBody> {
        Request::PostJson(wire::QueryBody::new(self, id, SystemTime::now()))
    }

    fn status_response(
        &self,
        id: &PaymentId,
        response: &RawResponse,
    ) -> Result<StatusReport, Error> {
        mapping::status_response(id, response)
    }

    fn parse_callback(&self, callback: &CallbackRequest) -> Result<CallbackClaim, Error> {
        callback::parse(self, callback)
    }

    fn callback_ack(&self) -> CallbackAck {
        CALLBACK_ACK
    }
}
