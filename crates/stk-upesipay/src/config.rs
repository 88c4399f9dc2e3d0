//! Configuration: a builder, and `from_env` / `from_lookup` for environment variables.

use std::fmt;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use stk_core::{AmountLimits, Error};
use stk_http::{CallbackOptions, ClientOptions, ClientOptionsBuilder, ProviderInfo, secret_header};

use crate::NAME;

const INFO: ProviderInfo = ProviderInfo {
    name: NAME,
    env_prefix: "UPESIPAY",
    example_base_url: DEFAULT_BASE_URL,
};

/// The amounts accepted: KES 1 to M-Pesa's per-transaction cap.
pub const LIMITS: AmountLimits = AmountLimits::up_to_mpesa_cap(NAME, 1);

/// UpesiPay's API base URL (there is no documented sandbox).
pub const DEFAULT_BASE_URL: &str = "https://upesipay.com/api/v2";

/// The query parameter that carries the callback secret token (see
/// [`UpesiPayConfigBuilder::callback_token`]).
pub const CALLBACK_TOKEN_PARAM: &str = "token";

/// Everything the UpesiPay adapter needs. Build it with [`UpesiPayConfig::builder`] or
/// [`UpesiPayConfig::from_env`]. Secrets are kept in [`SecretString`]s and never shown by
/// `Debug`.
#[derive(Clone)]
#[non_exhaustive]
pub struct UpesiPayConfig {
    /// The API token from the dashboard (API/Developer Settings), sent as
    /// `Authorization: Basic <token>`. A value that already starts with `Basic ` is sent as
    /// it is.
    pub api_token: SecretString,
    /// The payment channel id (Payment Channels menu), e.g. `2133`.
    pub channel_id: u64,
    /// The id of your own registered Daraja credentials, when you use them.
    pub credential_id: Option<String>,
    /// Where UpesiPay should POST results when a request has no callback URL of its own, and
    /// a secret token added to every callback URL sent as the `token` query parameter and
    /// required of every callback parsed. UpesiPay signs nothing, so without the token anyone
    /// who knows the callback URL can forge results.
    pub callback: CallbackOptions,
    /// Base URL, timeouts, user agent.
    pub client: ClientOptions,
}

impl fmt::Debug for UpesiPayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpesiPayConfig")
            .field("api_token", &"[redacted]")
            .field("channel_id", &self.channel_id)
            .field("base_url", &self.client.base_url.as_str())
            .field("credential_id", &self.credential_id)
            // The query may carry the callback token (`callback_token` allows it there).
            .field("callback", &self.callback)
            .field("timeout", &self.client.timeout)
            .field("connect_timeout", &self.client.connect_timeout)
            .field("user_agent", &self.client.user_agent)
            .finish()
    }
}

impl UpesiPayConfig {
    /// Starts a builder.
    pub fn builder() -> UpesiPayConfigBuilder {
        UpesiPayConfigBuilder::default()
    }

    /// Reads the configuration from the process environment; see
    /// [`from_lookup`](Self::from_lookup) for the variables.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (a variable name to its value):
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `UPESIPAY_API_TOKEN` | required: the API token (sent as `Basic <token>`) |
    /// | `UPESIPAY_CHANNEL_ID` | required: the payment channel id, a whole number |
    /// | `UPESIPAY_BASE_URL` | optional; default `https://upesipay.com/api/v2` |
    /// | `UPESIPAY_CALLBACK_URL` | optional default callback URL (`https`, or `http` on loopback) |
    /// | `UPESIPAY_CALLBACK_TOKEN` | optional callback secret token |
    /// | `UPESIPAY_CREDENTIAL_ID` | optional id of your own Daraja credentials |
    ///
    /// Empty values count as unset. Errors name the variable, never its (secret) value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut b = Self::builder();
        match get("UPESIPAY_API_TOKEN") {
            Some(token) => b = b.api_token(token.trim()),
            None => {
                return Err(Error::config(
                    NAME,
                    "UPESIPAY_API_TOKEN is not set: set it to the API token from the UpesiPay \
                     dashboard (API/Developer Settings)",
                ));
            }
        }
        match get("UPESIPAY_CHANNEL_ID") {
            Some(id) => {
                let id = id.trim().parse::<u64>().map_err(|_| {
                    Error::config(
                        NAME,
                        format!(
                            "UPESIPAY_CHANNEL_ID must be a whole number (the channel id from the \
                             Payment Channels menu, e.g. 2133), not {:?}",
                            stk_core::excerpt(id.as_bytes())
                        ),
                    )
                })?;
                b = b.channel_id(id);
            }
            None => {
                return Err(Error::config(
                    NAME,
                    "UPESIPAY_CHANNEL_ID is not set: set it to your payment channel id, from \
                     the dashboard's Payment Channels menu",
                ));
            }
        }
        b.client.read_env(&INFO, &lookup);
        b.callback.read_env(&INFO, &lookup)?;
        if let Some(id) = get("UPESIPAY_CREDENTIAL_ID") {
            b = b.credential_id(id.trim());
        }
        b.build()
    }
}

/// Builds an [`UpesiPayConfig`]; [`build`](Self::build) reports what is missing or invalid.
#[derive(Default)]
#[must_use]
pub struct UpesiPayConfigBuilder {
    api_token: Option<SecretString>,
    channel_id: Option<u64>,
    credential_id: Option<String>,
    callback: CallbackOptions,
    client: ClientOptionsBuilder,
}

impl fmt::Debug for UpesiPayConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpesiPayConfigBuilder")
            .field("channel_id", &self.channel_id)
            .field("base_url", &self.client.base_url)
            .finish_non_exhaustive()
    }
}

impl UpesiPayConfigBuilder {
    /// The API token (required): the bare token, or a preformatted `Basic <token>` value.
    pub fn api_token(mut self, token: impl Into<String>) -> Self {
        self.api_token = Some(SecretString::from(token.into()));
        self
    }

    /// The payment channel id (required).
    pub fn channel_id(mut self, channel_id: u64) -> Self {
        self.channel_id = Some(channel_id);
        self
    }

    /// The id of your own registered Daraja credentials (sent as `credential_id`).
    pub fn credential_id(mut self, id: impl Into<String>) -> Self {
        self.credential_id = Some(id.into());
        self
    }

    stk_http::callback_options_setters!(callback);

    stk_http::client_options_setters!(client);

    /// Checks the settings.
    pub fn build(self) -> Result<UpesiPayConfig, Error> {
        let api_token = self.api_token.ok_or_else(|| {
            Error::config(
                NAME,
                "the API token is not set: pass it to the builder or set UPESIPAY_API_TOKEN",
            )
        })?;
        let bare = api_token.expose_secret().trim();
        let bare = strip_basic(bare).unwrap_or(bare);
        if bare.trim().is_empty() {
            return Err(Error::config(
                NAME,
                "the API token is empty: set UPESIPAY_API_TOKEN to the token from the dashboard",
            ));
        }
        let channel_id = self.channel_id.ok_or_else(|| {
            Error::config(
                NAME,
                "the channel id is not set: pass it to the builder or set UPESIPAY_CHANNEL_ID",
            )
        })?;
        let client = self
            .client
            .build(&INFO, || Ok(DEFAULT_BASE_URL.to_owned()))?;
        self.callback.check(&INFO)?;
        Ok(UpesiPayConfig {
            api_token,
            channel_id,
            credential_id: self.credential_id.filter(|c| !c.trim().is_empty()),
            callback: self.callback,
            client,
        })
    }
}

/// `Accept: application/json` and `Authorization: Basic <token>`.
pub(crate) fn headers(config: &UpesiPayConfig) -> Result<HeaderMap, Error> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let basic = authorization(config.api_token.expose_secret());
    headers.insert(AUTHORIZATION, secret_header(NAME, &basic, "API token")?);
    Ok(headers)
}

/// The token after a `Basic ` prefix (any case), if there is one.
pub(crate) fn strip_basic(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
}

/// The `Authorization` header value for a token: `Basic <token>`, or the value as given when
/// it is already preformatted.
pub(crate) fn authorization(token: &str) -> String {
    let token = token.trim();
    match strip_basic(token) {
        Some(bare) => format!("Basic {bare}"),
        None => format!("Basic {token}"),
    }
}
