//! Configuration: a builder, and `from_env` / `from_lookup` for environment variables.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use stk_core::Error;
use url::Url;

use crate::NAME;

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
    /// The API base URL, ending in `/` (e.g. `https://sandbox.kulmipay.com/api/v1/`).
    pub base_url: Url,
    /// The KES wallet that receives the funds, if not the primary one.
    pub wallet_id: Option<String>,
    /// Who pays the fee; KulmiPay's default when `None`.
    pub mobile_tariff: Option<MobileTariff>,
    /// The webhook `challenge` secret; when set, callbacks without it are refused.
    pub webhook_challenge: Option<SecretString>,
    /// The whole-request timeout.
    pub timeout: Duration,
    /// The connect timeout.
    pub connect_timeout: Duration,
    /// The `User-Agent` sent.
    pub user_agent: String,
}

impl fmt::Debug for KulmiPayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KulmiPayConfig")
            .field("api", &self.api)
            .field("secret_key", &"[redacted]")
            .field("api_token", &self.api_token.as_ref().map(|_| "[redacted]"))
            .field("base_url", &self.base_url.as_str())
            .field("wallet_id", &self.wallet_id)
            .field("mobile_tariff", &self.mobile_tariff)
            .field(
                "webhook_challenge",
                &self.webhook_challenge.as_ref().map(|_| "[redacted]"),
            )
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("user_agent", &self.user_agent)
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
        if let Some(url) = get("KULMIPAY_BASE_URL") {
            b = b.base_url(url.trim());
        }
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
    base_url: Option<String>,
    wallet_id: Option<String>,
    mobile_tariff: Option<MobileTariff>,
    webhook_challenge: Option<SecretString>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    user_agent: Option<String>,
}

impl fmt::Debug for KulmiPayConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KulmiPayConfigBuilder")
            .field("api", &self.api)
            .field("base_url", &self.base_url)
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

    /// The API base URL, e.g. an emulator's `http://127.0.0.1:PORT/api/v1`. By default the
    /// sandbox or live URL, chosen from the secret key's `test`/`live` marker.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
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

    /// The whole-request timeout (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The connect timeout (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The `User-Agent` header (default `stk-kulmipay/<version>`).
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = Some(agent.into());
        self
    }

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
        let base = match self.base_url {
            Some(url) => url,
            None => default_base_url(secret_key.expose_secret())?.to_owned(),
        };
        let mut base_url = Url::parse(base.trim()).map_err(|e| {
            Error::config(
                NAME,
                format!("KULMIPAY_BASE_URL is not a valid URL ({e}): use e.g. {SANDBOX_BASE_URL}"),
            )
        })?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(Error::config(
                NAME,
                "KULMIPAY_BASE_URL must be an http(s) URL, e.g. https://sandbox.kulmipay.com/api/v1",
            ));
        }
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        base_url.set_query(None);
        base_url.set_fragment(None);
        Ok(KulmiPayConfig {
            api: self.api,
            secret_key,
            api_token: self.api_token,
            base_url,
            wallet_id: self.wallet_id.filter(|w| !w.trim().is_empty()),
            mobile_tariff: self.mobile_tariff,
            webhook_challenge: self.webhook_challenge,
            timeout: self.timeout.unwrap_or(Duration::from_secs(30)),
            connect_timeout: self.connect_timeout.unwrap_or(Duration::from_secs(10)),
            user_agent: self
                .user_agent
                .unwrap_or_else(|| format!("stk-kulmipay/{}", env!("CARGO_PKG_VERSION"))),
        })
    }
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
