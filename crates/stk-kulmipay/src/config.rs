//! Configuration: a builder, and `from_env` / `from_lookup` for environment variables.

use std::fmt;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use stk_core::{AmountLimits, Error};
use stk_http::{ClientOptions, ClientOptionsBuilder, ProviderInfo, secret_header};

use crate::NAME;

const INFO: ProviderInfo = ProviderInfo {
    name: NAME,
    env_prefix: "KULMIPAY",
    example_base_url: SANDBOX_BASE_URL,
};

/// The amounts accepted: KES 10 to M-Pesa's per-transaction cap.
pub const LIMITS: AmountLimits = AmountLimits::up_to_mpesa_cap(NAME, 10);

/// KulmiPay's sandbox API base URL.
pub const SANDBOX_BASE_URL: &str = "https://sandbox.kulmipay.com/api/v1";
/// KulmiPay's live API base URL.
pub const LIVE_BASE_URL: &str = "https://app.kulmipay.com/api/v1";

/// Which of KulmiPay's two documented API generations to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ApiGeneration {
    /// The newer (IntaSend-style) API: `POST /payment/mpesa-stk-push/` and
    /// `POST /payment/status/`, authenticated with `Authorization: Bearer <secret key>`.
    #[default]
    Express,
    /// The older API: `POST /payment/collection/stk-push/` and
    /// `POST /payment/collection/status/`, authenticated with `Authorization: Bearer <API
    /// token>` plus `X-KULMI-SECRET-KEY: <secret key>`.
    Collection,
}

impl ApiGeneration {
    /// `express` or `collection`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Express => "express",
            Self::Collection => "collection",
        }
    }

    /// The push path, relative to the base URL.
    pub(crate) fn push_path(self) -> &'static str {
        match self {
            Self::Express => "payment/mpesa-stk-push/",
            Self::Collection => "payment/collection/stk-push/",
        }
    }

    /// The status path, relative to the base URL.
    pub(crate) fn status_path(self) -> &'static str {
        match self {
            Self::Express => "payment/status/",
            Self::Collection => "payment/collection/status/",
        }
    }
}

impl std::str::FromStr for ApiGeneration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "express" | "" => Ok(Self::Express),
            "collection" => Ok(Self::Collection),
            other => Err(format!(
                "unknown API generation {other:?}: use `express` (default) or `collection`"
            )),
        }
    }
}

/// Who pays the M-Pesa transaction fee (`mobile_tarrif`, spelled as KulmiPay spells it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MobileTariff {
    /// `BUSINESS-PAYS` (KulmiPay's default).
    BusinessPays,
    /// `CUSTOMER-PAYS`.
    CustomerPays,
}

impl MobileTariff {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BusinessPays => "BUSINESS-PAYS",
            Self::CustomerPays => "CUSTOMER-PAYS",
        }
    }
}

impl std::str::FromStr for MobileTariff {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().replace('_', "-").as_str() {
            "BUSINESS-PAYS" => Ok(Self::BusinessPays),
            "CUSTOMER-PAYS" => Ok(Self::CustomerPays),
            other => Err(format!(
                "unknown mobile tariff {other:?}: use BUSINESS-PAYS or CUSTOMER-PAYS"
            )),
        }
    }
}

/// Everything the KulmiPay adapter needs. Build it with [`KulmiPayConfig::builder`] or
/// [`KulmiPayConfig::from_env`]. Secrets are kept in [`SecretString`]s and never shown by
/// `Debug`.
#[derive(Clone)]
#[non_exhaustive]
pub struct KulmiPayConfig {
    /// Which API generation to call.
    pub api: ApiGeneration,
    /// The secret key (`ISSecretKey_test_…` or `ISSecretKey_live_…`).
    pub secret_key: SecretString,
    /// The API token (collection generation only).
    pub api_token: Option<SecretString>,
    /// The KES wallet that receives the funds, if not the primary one.
    pub wallet_id: Option<String>,
    /// Who pays the fee; KulmiPay's default when `None`.
    pub mobile_tariff: Option<MobileTariff>,
    /// The webhook `challenge` secret; when set, callbacks without it are refused.
    pub webhook_challenge: Option<SecretString>,
    /// Base URL, timeouts, user agent.
    pub client: ClientOptions,
}

impl fmt::Debug for KulmiPayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KulmiPayConfig")
            .field("api", &self.api)
            .field("secret_key", &"[redacted]")
            .field("api_token", &self.api_token.as_ref().map(|_| "[redacted]"))
            .field("base_url", &self.client.base_url.as_str())
            .field("wallet_id", &self.wallet_id)
            .field("mobile_tariff", &self.mobile_tariff)
            .field(
                "webhook_challenge",
                &self.webhook_challenge.as_ref().map(|_| "[redacted]"),
            )
            .field("timeout", &self.client.timeout)
            .field("connect_timeout", &self.client.connect_timeout)
            .field("user_agent", &self.client.user_agent)
            .finish()
    }
}

impl KulmiPayConfig {
    /// Starts a builder.
    pub fn builder() -> KulmiPayConfigBuilder {
        KulmiPayConfigBuilder::default()
    }

    /// Reads the configuration from the process environment; see [`from_lookup`](Self::from_lookup)
    /// for the variables.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (a variable name to its value):
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `KULMIPAY_SECRET_KEY` | required: the secret key |
    /// | `KULMIPAY_API` | `express` (default) or `collection` |
    /// | `KULMIPAY_API_TOKEN` | the API token; required for `collection` |
    /// | `KULMIPAY_BASE_URL` | optional; default from the key's `test`/`live` marker |
    /// | `KULMIPAY_WALLET_ID` | optional wallet |
    /// | `KULMIPAY_MOBILE_TARIFF` | optional `BUSINESS-PAYS` or `CUSTOMER-PAYS` |
    /// | `KULMIPAY_WEBHOOK_CHALLENGE` | optional webhook challenge secret |
    ///
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut b = Self::builder();
        if let Some(api) = get("KULMIPAY_API") {
            let api = api
                .parse::<ApiGeneration>()
                .map_err(|e| Error::config(NAME, format!("KULMIPAY_API: {e}")))?;
            b = b.api(api);
        }
        match get("KULMIPAY_SECRET_KEY") {
            Some(key) => b = b.secret_key(key.trim()),
            None => {
                return Err(Error::config(
                    NAME,
                    "KULMIPAY_SECRET_KEY is not set: set it to your KulmiPay secret key \
                     (ISSecretKey_test_… for the sandbox, ISSecretKey_live_… for live), \
                     from the dashboard's API keys page",
                ));
            }
        }
        if let Some(token) = get("KULMIPAY_API_TOKEN") {
            b = b.api_token(token.trim());
        }
        b.client.read_env(&INFO, &lookup);
        if let Some(wallet) = get("KULMIPAY_WALLET_ID") {
            b = b.wallet_id(wallet.trim());
        }
        if let Some(tariff) = get("KULMIPAY_MOBILE_TARIFF") {
            let tariff = tariff
                .parse::<MobileTariff>()
                .map_err(|e| Error::config(NAME, format!("KULMIPAY_MOBILE_TARIFF: {e}")))?;
            b = b.mobile_tariff(tariff);
        }
        if let Some(challenge) = get("KULMIPAY_WEBHOOK_CHALLENGE") {
            b = b.webhook_challenge(challenge);
        }
        b.build()
    }
}

/// Builds a [`KulmiPayConfig`]; [`build`](Self::build) reports what is missing or invalid.
#[derive(Default)]
#[must_use]
pub struct KulmiPayConfigBuilder {
    api: ApiGeneration,
    secret_key: Option<SecretString>,
    api_token: Option<SecretString>,
    wallet_id: Option<String>,
    mobile_tariff: Option<MobileTariff>,
    webhook_challenge: Option<SecretString>,
    client: ClientOptionsBuilder,
}

impl fmt::Debug for KulmiPayConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KulmiPayConfigBuilder")
            .field("api", &self.api)
            .field("base_url", &self.client.base_url)
            .finish_non_exhaustive()
    }
}

impl KulmiPayConfigBuilder {
    /// The API generation (default [`ApiGeneration::Express`]).
    pub fn api(mut self, api: ApiGeneration) -> Self {
        self.api = api;
        self
    }

    /// The secret key (required).
    pub fn secret_key(mut self, key: impl Into<String>) -> Self {
        self.secret_key = Some(SecretString::from(key.into()));
        self
    }

    /// The API token (required for [`ApiGeneration::Collection`], ignored otherwise).
    pub fn api_token(mut self, token: impl Into<String>) -> Self {
        self.api_token = Some(SecretString::from(token.into()));
        self
    }

    /// The KES wallet that receives the funds.
    pub fn wallet_id(mut self, wallet_id: impl Into<String>) -> Self {
        self.wallet_id = Some(wallet_id.into());
        self
    }

    /// Who pays the fee.
    pub fn mobile_tariff(mut self, tariff: MobileTariff) -> Self {
        self.mobile_tariff = Some(tariff);
        self
    }

    /// The webhook `challenge` secret configured in the dashboard.
    pub fn webhook_challenge(mut self, challenge: impl Into<String>) -> Self {
        self.webhook_challenge = Some(SecretString::from(challenge.into()));
        self
    }

    stk_http::client_options_setters!(client);

    /// Checks the settings.
    pub fn build(self) -> Result<KulmiPayConfig, Error> {
        let secret_key = self.secret_key.ok_or_else(|| {
            Error::config(
                NAME,
                "the secret key is not set: pass it to the builder or set KULMIPAY_SECRET_KEY",
            )
        })?;
        if secret_key.expose_secret().trim().is_empty() {
            return Err(Error::config(
                NAME,
                "the secret key is empty: set KULMIPAY_SECRET_KEY to your KulmiPay secret key",
            ));
        }
        if self.api == ApiGeneration::Collection && self.api_token.is_none() {
            return Err(Error::config(
                NAME,
                "the collection API needs an API token: set KULMIPAY_API_TOKEN, or use \
                 KULMIPAY_API=express (which needs only the secret key)",
            ));
        }
        let client = self.client.build(&INFO, || {
            default_base_url(secret_key.expose_secret()).map(str::to_owned)
        })?;
        Ok(KulmiPayConfig {
            api: self.api,
            secret_key,
            api_token: self.api_token,
            wallet_id: self.wallet_id.filter(|w| !w.trim().is_empty()),
            mobile_tariff: self.mobile_tariff,
            webhook_challenge: self.webhook_challenge,
            client,
        })
    }
}

/// The header carrying the secret key in the collection API.
const SECRET_KEY_HEADER: &str = "x-kulmi-secret-key";

/// `Accept`, and the generation's auth: `Bearer <secret key>` (express) or `Bearer <API
/// token>` plus `X-KULMI-SECRET-KEY` (collection).
pub(crate) fn headers(config: &KulmiPayConfig) -> Result<HeaderMap, Error> {
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
            let bearer = format!("Bearer {}", token.expose_secret().trim());
            headers.insert(AUTHORIZATION, secret_header(NAME, &bearer, "API token")?);
            headers.insert(
                SECRET_KEY_HEADER,
                secret_header(NAME, secret, "secret key")?,
            );
        }
    }
    Ok(headers)
}

/// Sandbox or live, from the key's marker (`ISSecretKey_test_…` / `ISSecretKey_live_…`).
fn default_base_url(key: &str) -> Result<&'static str, Error> {
    let lower = key.to_ascii_lowercase();
    let has = |marker: &str| lower.split(['_', '-']).any(|part| part == marker);
    match (has("test"), has("live")) {
        (true, false) => Ok(SANDBOX_BASE_URL),
        (false, true) => Ok(LIVE_BASE_URL),
        _ => Err(Error::config(
            NAME,
            "cannot tell sandbox from live: the secret key has no `test` or `live` marker; \
             set KULMIPAY_BASE_URL (https://sandbox.kulmipay.com/api/v1 or \
             https://app.kulmipay.com/api/v1)",
        )),
    }
}
