//! KulmiPay adapter for M-Pesa STK Push (KulmiPay is an IntaSend white-label).
//!
//! [`KulmiPay`] implements [`stk_core::StkProvider`] over KulmiPay's HTTP API, in either of
//! its two documented generations ([`ApiGeneration::Express`], the default, or
//! [`ApiGeneration::Collection`]). Configure it with [`KulmiPayConfig::builder`] or from the
//! environment with [`KulmiPayConfig::from_env`]:
//!
//! ```no_run
//! use stk_core::{StkProvider, StkPushRequest};
//! use stk_kulmipay::{KulmiPay, KulmiPayConfig};
//!
//! # async fn demo() -> Result<(), stk_core::Error> {
//! let provider = KulmiPay::new(
//!     KulmiPayConfig::builder()
//!         .secret_key("ISSecretKey_test_…")
//!         .webhook_challenge("my-challenge")
//!         .build()?,
//! )?;
//! let request = StkPushRequest::builder()
//!     .phone("0712345678").amount(100).reference("ORDER-1").build()?;
//! let accepted = provider.initiate(&request).await?;
//! println!("invoice {}", accepted.payment_id);
//! # Ok(()) }
//! ```
//!
//! The adapter never retries a push: on [`Error::OutcomeUnknown`] the charge may exist, so
//! query [`status`](stk_core::StkProvider::status) instead of pushing again.

mod callback;
mod config;
mod mapping;
mod wire;

use stk_core::{
    AmountLimits, CallbackClaim, CallbackRequest, Error, InvalidRequest, PaymentId, PushAccepted,
    StatusReport, StkPushRequest,
};
use stk_http::{ClientOptions, Connector, Endpoints, HttpProvider, RawResponse, Request};

pub use callback::{SIGNATURE_HEADER, SIGNATURE_HEADER_SPACED, sign};
pub use config::{
    ApiGeneration, KulmiPayConfig, KulmiPayConfigBuilder, LIMITS, LIVE_BASE_URL, MobileTariff,
    SANDBOX_BASE_URL,
};

/// The provider name, `kulmipay`.
pub const NAME: &str = "kulmipay";

/// The KulmiPay provider. Cheap to clone (shares the HTTP client).
pub type KulmiPay = HttpProvider<KulmiPayConfig>;

impl Connector for KulmiPayConfig {
    const NAME: &'static str = NAME;
    type PushBody = wire::PushBody;
    type StatusBody = wire::StatusBody;

    fn client_options(&self) -> &ClientOptions {
        &self.client
    }

    fn limits(&self) -> AmountLimits {
        LIMITS
    }

    fn endpoints(&self) -> Endpoints {
        Endpoints {
            push: self.api.push_path(),
            status: self.api.status_path(),
        }
    }

    fn headers(&self) -> Result<reqwest::header::HeaderMap, Error> {
        config::headers(self)
    }

    fn push_body(&self, request: &StkPushRequest) -> Result<wire::PushBody, Error> {
        if request.callback_url().is_some() {
            // Dropping it silently would leave the merchant waiting for callbacks that go
            // elsewhere.
            return Err(Error::InvalidRequest(InvalidRequest::Unsupported {
                provider: NAME,
                what: "a per-request callback URL: KulmiPay posts results to the webhook URL \
                       set in its dashboard"
                    .to_owned(),
            }));
        }
        Ok(wire::PushBody::new(self, request))
    }

    fn push_response(&self, response: &RawResponse) -> Result<PushAccepted, Error> {
        mapping::push_response(self.api, response)
    }

    fn status_request(&self, id: &PaymentId) -> Request<wire::StatusBody> {
        Request::PostJson(wire::StatusBody {
            invoice_id: id.as_str().to_owned(),
        })
    }

    fn status_response(
        &self,
        id: &PaymentId,
        response: &RawResponse,
    ) -> Result<StatusReport, Error> {
        mapping::status_response(id, response)
    }

    fn parse_callback(&self, callback: &CallbackRequest) -> Result<CallbackClaim, Error> {
        callback::parse(self.webhook_challenge.as_ref(), callback)
    }
}
