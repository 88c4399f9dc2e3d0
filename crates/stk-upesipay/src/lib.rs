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
//!   M-Pesa's `CheckoutRequestID`. [`status`](StkProvider::status) accepts either (and the
//!   M-Pesa receipt).
//! - The core request has no customer name: the metadata entry `customer_name`, when
//!   present, is sent as UpesiPay's `customer_name`. Other metadata is not sent.
//! - Callbacks carry no UpesiPay `reference`: events have no `payment_id`; match them by
//!   `PaymentEvent::checkout_request_id` or `PaymentEvent::merchant_reference`. See
//!   [`callback`] for verification.
//! - UpesiPay blocks a number after more than 10 successive failed or cancelled pushes and
//!   restricts accounts after more than 50 failures in 6 h. Wrap the provider in
//!   [`stk_core::Guarded`] with [`stk_core::GuardRules::upesipay`] to stay below both; a push
//!   UpesiPay refuses for abuse maps to [`Error::Rejected`] with code
//!   [`mapping::ABUSE_CODE`].
//!
//! The adapter never retries a push: on [`Error::OutcomeUnknown`] the charge may exist, so
//! query [`status`](StkProvider::status) instead of pushing again. See [`mapping`] for how
//! every answer maps to an error kind.

pub mod callback;
mod config;
pub mod mapping;
pub mod wire;

use std::fmt;
use std::sync::Arc;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use stk_core::{
    AmountLimits, CallbackRequest, Error, Operation, PaymentEvent, PaymentId, PaymentStatus,
    PushAccepted, StkProvider, StkPushRequest, async_trait,
};
use stk_http::{HttpClient, HttpSettings, secret_header};
use url::Url;

pub use config::{CALLBACK_TOKEN_PARAM, DEFAULT_BASE_URL, UpesiPayConfig, UpesiPayConfigBuilder};

/// The provider name, `upesipay`.
pub const NAME: &str = "upesipay";

/// The metadata key whose value is sent as `customer_name`.
pub const CUSTOMER_NAME_KEY: &str = "customer_name";

/// The UpesiPay provider. Cheap to clone (shares the HTTP client).
#[derive(Clone)]
pub struct UpesiPay {
    inner: Arc<Inner>,
}

struct Inner {
    config: UpesiPayConfig,
    http: HttpClient,
    payments_url: Url,
    status_url: Url,
}

impl fmt::Debug for UpesiPay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpesiPay")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl UpesiPay {
    /// A provider for this configuration.
    pub fn new(config: UpesiPayConfig) -> Result<Self, Error> {
        let join = |path: &str| {
            config.base_url.join(path).map_err(|e| {
                Error::config(
                    NAME,
                    format!("cannot build the {path} URL from the base URL: {e}"),
                )
            })
        };
        let payments_url = join("payments")?;
        let status_url = join("transaction-status")?;
        let mut settings = HttpSettings::default();
        settings.timeout = config.timeout;
        settings.connect_timeout = config.connect_timeout;
        settings.user_agent = config.user_agent.clone();
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(
            AUTHORIZATION,
            secret_header(
                NAME,
                &config::authorization(config.api_token.expose_secret()),
                "API token",
            )?,
        );
        let http = HttpClient::new(NAME, &settings, headers)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                http,
                payments_url,
                status_url,
            }),
        })
    }

    /// A provider configured from the environment ([`UpesiPayConfig::from_env`]).
    pub fn from_env() -> Result<Self, Error> {
        Self::new(UpesiPayConfig::from_env()?)
    }

    /// The configuration.
    pub fn config(&self) -> &UpesiPayConfig {
        &self.inner.config
    }

    /// The callback URL a push for `request` sends: the request's, else the configured
    /// default, with the callback token added as `token` unless the URL already has one.
    fn callback_url(&self, request: &StkPushRequest) -> Option<String> {
        let config = &self.inner.config;
        let url = request
            .callback_url()
            .or(config.callback_url.as_ref())?
            .as_url();
        let mut url = url.clone();
        if let Some(token) = &config.callback_token {
            if !url.query_pairs().any(|(k, _)| k == CALLBACK_TOKEN_PARAM) {
                url.query_pairs_mut()
                    .append_pair(CALLBACK_TOKEN_PARAM, token.expose_secret().trim());
            }
        }
        Some(url.to_string())
    }

    /// The JSON body a push for `request` sends.
    pub fn push_body(&self, request: &StkPushRequest) -> wire::PushBody {
        let config = &self.inner.config;
        wire::PushBody {
            amount: request.amount().shillings(),
            phone_number: request.phone().local(),
            channel_id: config.channel_id,
            provider: "m-pesa",
            external_reference: request.reference().as_str().to_owned(),
            customer_name: request
                .metadata()
                .iter()
                .find(|(k, _)| *k == CUSTOMER_NAME_KEY)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
            callback_url: self.callback_url(request),
            credential_id: config.credential_id.clone(),
        }
    }
}

#[async_trait]
impl StkProvider for UpesiPay {
    fn name(&self) -> &'static str {
        NAME
    }

    fn limits(&self) -> AmountLimits {
        AmountLimits::UPESIPAY
    }

    async fn initiate(&self, request: &StkPushRequest) -> Result<PushAccepted, Error> {
        request.check_limits(&AmountLimits::UPESIPAY)?;
        let body = self.push_body(request);
        tracing::debug!(
            provider = NAME,
            phone = %request.phone().masked(),
            amount = request.amount().shillings(),
            "sending STK push"
        );
        let response = self
            .inner
            .http
            .post_json(Operation::Initiate, &self.inner.payments_url, &body)
            .await?;
        let result = mapping::push_response(&response);
        if let Err(e) = &result {
            tracing::debug!(
                provider = NAME,
                kind = e.kind(),
                status = response.status,
                "push failed"
            );
        }
        result
    }

    async fn status(&self, id: &PaymentId) -> Result<PaymentStatus, Error> {
        let response = self
            .inner
            .http
            .get(
                Operation::Status,
                &self.inner.status_url,
                &[("reference", id.as_str())],
            )
            .await?;
        mapping::status_response(id, &response)
    }

    fn parse_callback(&self, callback: &CallbackRequest) -> Result<PaymentEvent, Error> {
        callback::parse(self.inner.config.callback_token.as_ref(), callback)
    }
}
