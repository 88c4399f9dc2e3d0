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
//! with the callback token added; see [`callback`]) and `metadata` (the request's metadata,
//! plus its description under `description` unless the metadata already has that key).
//!
//! Lipia accepts Safaricom numbers only; the adapter does not pre-check the network (numbers
//! are portable), so Lipia's `VALIDATION_ERROR` comes back as [`Error::Rejected`]. The
//! adapter never retries a push: on [`Error::OutcomeUnknown`] the charge may exist, so query
//! [`status`](StkProvider::status) instead of pushing again. See [`mapping`] for how every
//! answer maps to an error kind, and [`callback`] for verification and the acknowledgement.

pub mod callback;
mod config;
pub mod mapping;
pub mod wire;

use std::collections::BTreeMap;
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

pub use callback::{CALLBACK_ACK, TOKEN_PARAM};
pub use config::{DEFAULT_BASE_URL, LipiaConfig, LipiaConfigBuilder};
pub use stk_core::CallbackAck;

/// The provider name, `lipia`.
pub const NAME: &str = "lipia";

const PUSH_PATH: &str = "payments/stk-push";
const STATUS_PATH: &str = "payments/status";

/// The Lipia Online provider. Cheap to clone (shares the HTTP client).
#[derive(Clone)]
pub struct Lipia {
    inner: Arc<Inner>,
}

struct Inner {
    config: LipiaConfig,
    http: HttpClient,
    push_url: Url,
    status_url: Url,
}

impl fmt::Debug for Lipia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lipia")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Lipia {
    /// A provider for this configuration.
    pub fn new(config: LipiaConfig) -> Result<Self, Error> {
        let join = |path: &str| {
            config.base_url.join(path).map_err(|e| {
                Error::config(
                    NAME,
                    format!("cannot build the {path} URL from the base URL: {e}"),
                )
            })
        };
        let push_url = join(PUSH_PATH)?;
        let status_url = join(STATUS_PATH)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(
            AUTHORIZATION,
            secret_header(
                NAME,
                &format!("Bearer {}", config.api_key.expose_secret().trim()),
                "API key",
            )?,
        );
        let mut settings = HttpSettings::default();
        settings.timeout = config.timeout;
        settings.connect_timeout = config.connect_timeout;
        settings.user_agent = config.user_agent.clone();
        let http = HttpClient::new(NAME, &settings, headers)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                http,
                push_url,
                status_url,
            }),
        })
    }

    /// A provider configured from the environment ([`LipiaConfig::from_env`]).
    pub fn from_env() -> Result<Self, Error> {
        Self::new(LipiaConfig::from_env()?)
    }

    /// The configuration.
    pub fn config(&self) -> &LipiaConfig {
        &self.inner.config
    }

    /// The `callback_url` a push for `request` sends: the request's, else the configured
    /// default; with the callback token added as [`TOKEN_PARAM`] when one is configured and
    /// the URL has none.
    pub fn callback_url_for(&self, request: &StkPushRequest) -> Option<Url> {
        let config = &self.inner.config;
        let mut url = request
            .callback_url()
            .or(config.callback_url.as_ref())?
            .as_url()
            .clone();
        if let Some(token) = &config.callback_token {
            if !url.query_pairs().any(|(k, _)| k == TOKEN_PARAM) {
                url.query_pairs_mut()
                    .append_pair(TOKEN_PARAM, token.expose_secret());
            }
        }
        Some(url)
    }

    /// The JSON body a push for `request` sends.
    pub fn push_body(&self, request: &StkPushRequest) -> wire::PushBody {
        let mut metadata: BTreeMap<String, String> = request
            .metadata()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        if let Some(description) = request.description() {
            metadata
                .entry("description".to_owned())
                .or_insert_with(|| description.as_str().to_owned());
        }
        wire::PushBody {
            phone_number: request.phone().international(),
            amount: request.amount().shillings(),
            external_reference: request.reference().as_str().to_owned(),
            callback_url: self.callback_url_for(request).map(String::from),
            metadata: (!metadata.is_empty()).then_some(metadata),
        }
    }
}

#[async_trait]
impl StkProvider for Lipia {
    fn name(&self) -> &'static str {
        NAME
    }

    fn limits(&self) -> AmountLimits {
        AmountLimits::LIPIA
    }

    async fn initiate(&self, request: &StkPushRequest) -> Result<PushAccepted, Error> {
        request.check_limits(&AmountLimits::LIPIA)?;
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
            .post_json(Operation::Initiate, &self.inner.push_url, &body)
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

    fn callback_ack(&self) -> CallbackAck {
        CALLBACK_ACK
    }
}
