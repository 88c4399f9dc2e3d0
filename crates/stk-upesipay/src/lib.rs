//! UpesiPay adapter for M-Pesa STK Push.
//!
//! [`UpesiPay`] implements [`stk_core::StkProvider`] over UpesiPay's HTTP API
//! (`POST /payments`, `GET /transaction-status`, callbacks to the push's `callback_url`).
//! Configure it with [`UpesiPayConfig::builder`] or from the environment with
//! [`UpesiPayConfig::from_env`]:
//!
//! ```no_run
//! use stk_core::{CallbackUrl, StkProvider, StkPushRequest};
//! use stk_upesipay::{UpesiPay, UpesiPayConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = UpesiPay::new(
//!     UpesiPayConfig::builder()
//!         .api_token("token-from-the-dashboard")
//!         .channel_id(2133)
//!         .callback_url(CallbackUrl::parse("https://shop.example/mpesa/upesipay")?)
//!         .callback_token("long-random-secret")
//!         .build()?,
//! )?;
//! let request = StkPushRequest::builder()
//!     .phone("0712345678").amount(100).reference("ORDER-1")
//!     .metadata("customer_name", "Jane Doe")
//!     .build()?;
//! let accepted = provider.initiate(&request).await?;
//! println!("reference {}", accepted.payment_id);
//! # Ok(()) }
//! ```
//!
//! - The payment id is UpesiPay's `reference`; `PushAccepted::checkout_request_id` is
//!   M-Pesa's `CheckoutRequestID`. [`status`](stk_core::StkProvider::status) accepts either (and the
//!   M-Pesa receipt).
//! - The core request has no customer name: the metadata entry `customer_name`, when
//!   present, is sent as UpesiPay's `customer_name`. Other metadata is not sent.
//! - Callbacks carry no UpesiPay `reference`: events have no `payment_id`; their
//!   `CallbackClaim::status_id` is the `CheckoutRequestID`, which `status` accepts, so every
//!   event can be confirmed by query. UpesiPay signs nothing: set a
//!   [`callback_token`](UpesiPayConfigBuilder::callback_token) (added to every callback URL
//!   as `?token=…`, required of every callback) and confirm events before fulfilling.
//! - UpesiPay blocks a number after more than 10 successive failed or cancelled pushes and
//!   restricts accounts after more than 50 failures in 6 h. Wrap the provider in
//!   [`stk_core::Guarded`] with [`guard_rules`] to stay below both; a push
//!   UpesiPay refuses for abuse maps to [`Error::Rejected`] with code
//!   [`ABUSE_CODE`].
//!
//! The adapter never retries a push: on [`Error::OutcomeUnknown`] the charge may exist, so
//! query [`status`](stk_core::StkProvider::status) instead of pushing again.

mod callback;
mod config;
mod mapping;
mod wire;

use std::time::Duration;

use stk_core::{
    AccountRule, AmountLimits, CallbackClaim, CallbackRequest, Error, GuardRules, PaymentId,
    PhoneRule, PushAccepted, StatusReport, StkPushRequest,
};
use stk_http::{ClientOptions, Connector, Endpoints, HttpProvider, RawResponse, Request};

pub use config::{
    CALLBACK_TOKEN_PARAM, DEFAULT_BASE_URL, LIMITS, UpesiPayConfig, UpesiPayConfigBuilder,
};
pub use mapping::ABUSE_CODE;

/// The provider name, `upesipay`.
pub const NAME: &str = "upesipay";

/// The metadata key whose value is sent as `customer_name`.
pub const CUSTOMER_NAME_KEY: &str = "customer_name";

/// The UpesiPay provider. Cheap to clone (shares the HTTP client).
pub type UpesiPay = HttpProvider<UpesiPayConfig>;

const HOUR: Duration = Duration::from_secs(3600);

/// UpesiPay's documented STK abuse protection, for [`stk_core::Guarded`]: a number is blocked
/// for 24 h after more than 10 successive failed or cancelled pushes; the account is
/// restricted after more than 50 failures in a sliding 6 h window. The guard refuses the push
/// that could cross either.
pub fn guard_rules() -> GuardRules {
    GuardRules::new(
        NAME,
        Some(PhoneRule::new(10, 24 * HOUR)),
        vec![AccountRule::new(50, 6 * HOUR)],
    )
}

impl Connector for UpesiPayConfig {
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
            push: "payments",
            status: "transaction-status",
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
}
