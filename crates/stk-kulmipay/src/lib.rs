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
use stk_http::{HttpClient, HttpSettings, RawResponse, secret_header};
use url::Url;

pub use config::{
    ApiGeneration, KulmiPayConfig, KulmiPayConfigBuilder, LIVE_BASE_URL, MobileTariff,
    SANDBOX_BASE_URL,
};

/// The provider name, `kulmipay`.
pub const NAME: &str = "kulmipay";

/// The header carrying the secret key in the collection API.
const SECRET_KEY_HEADER: &str = "x-kulmi-secret-key";

/// The KulmiPay provider. Cheap to clone (shares the HTTP client).
#[derive(Clone)]
pub struct KulmiPay {
    inner: Arc<Inner>,
}

struct Inner {
    config: KulmiPayConfig,
    http: HttpClient,
    push_url: Url,
    status_url: Url,
}

impl fmt::Debug for KulmiPay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KulmiPay")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl KulmiPay {
    /// A provider for this configuration.
    pub fn new(config: KulmiPayConfig) -> Result<Self, Error> {
        let join = |path: &str| {
            config.base_url.join(path).map_err(|e| {
                Error::config(
                    NAME,
                    format!("cannot build the {path} URL from the base URL: {e}"),
                )
            })
        };
        let push_url = join(config.api.push_path())?;
        let status_url = join(config.api.status_path())?;
        let mut settings = HttpSettings::default();
        settings.timeout = config.timeout;
        settings.connect_timeout = config.connect_timeout;
        settings.user_agent = config.user_agent.clone();
        let http = HttpClient::new(NAME, &settings, auth_headers(&config)?)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                http,
                push_url,
                status_url,
            }),
        })
    }

    /// A provider configured from the environment ([`KulmiPayConfig::from_env`]).
    pub fn from_env() -> Result<Self, Error> {
        Self::new(KulmiPayConfig::from_env()?)
    }

    /// The configuration.
    pub fn config(&self) -> &KulmiPayConfig {
        &self.inner.config
    }

    /// The JSON body a push for `request` sends (amount as a decimal string for the express
    /// API, as a number for the collection API).
    pub fn push_body(&self, request: &StkPushRequest) -> wire::PushBody {
        let config = &self.inner.config;
        let shillings = request.amount().shillings();
        wire::PushBody {
            amount: match config.api {
                ApiGeneration::Express => serde_json::Value::String(shillings.to_string()),
                ApiGeneration::Collection => serde_json::Value::from(shillings),
            },
            phone_number: request.phone().international(),
            api_ref: request.reference().as_str().to_owned(),
            wallet_id: config.wallet_id.clone(),
            mobile_tarrif: config.mobile_tariff.map(MobileTariff::as_str),
        }
    }
}

fn auth_headers(config: &KulmiPayConfig) -> Result<HeaderMap, Error> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let secret = config.secret_key.expose_secret().trim();
    match config.api {
        ApiGeneration::Express => {
            headers.insert(
                AUTHORIZATION,
                secret_header(NAME, &format!("Bearer {secret}"), "secret key")?,
            );
        }
        ApiGeneration::Collection => {
            let token = config.api_token.as_ref().ok_or_else(|| {
                Error::config(
                    NAME,
                    "the collection API needs an API token: set KULMIPAY_API_TOKEN",
                )
            })?;
            headers.insert(
                AUTHORIZATION,
                secret_header(
                    NAME,
                    &format!("Bearer {}", token.expose_secret().trim()),
                    "API token",
                )?,
            );
            headers.insert(
                SECRET_KEY_HEADER,
                secret_header(NAME, secret, "secret key")?,
            );
        }
    }
    Ok(headers)
}

#[async_trait]
impl StkProvider for KulmiPay {
    fn name(&self) -> &'static str {
        NAME
    }

    fn limits(&self) -> AmountLimits {
        AmountLimits::KULMIPAY
    }

    async fn initiate(&self, request: &StkPushRequest) -> Result<PushAccepted, Error> {
        request.check_limits(&AmountLimits::KULMIPAY)?;
        let body = self.push_body(request);
        tracing::debug!(
            provider = NAME,
            api = self.inner.config.api.as_str(),
            phone = %request.phone().masked(),
            amount = request.amount().shillings(),
            "sending STK push"
        );
        let response: RawResponse = self
            .inner
            .http
            .post_json(Operation::Initiate, &self.inner.push_url, &body)
            .await?;
        let result = mapping::push_response(self.inner.config.api, &response);
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
        let body = wire::StatusBody {
            invoice_id: id.as_str().to_owned(),
        };
        let response = self
            .inner
            .http
            .post_json(Operation::Status, &self.inner.status_url, &body)
            .await?;
        mapping::status_response(id, &response)
    }

    fn parse_callback(&self, callback: &CallbackRequest) -> Result<PaymentEvent, Error> {
        callback::parse(self.inner.config.webhook_challenge.as_ref(), callback)
    }
}
