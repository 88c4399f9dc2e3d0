//! Configuration: a builder, and `from_env` / `from_lookup` for environment variables.

use std::fmt;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use stk_core::{AmountLimits, Error};
use stk_http::{CallbackOptions, ClientOptions, ClientOptionsBuilder, ProviderInfo, secret_header};

use crate::NAME;

/// Lipia Online's API base URL (live; Lipia documents no sandbox host).
pub const DEFAULT_BASE_URL: &str = "https://lipia-api.kreativelabske.com/api/v2";

/// The amounts Lipia accepts: KES 1 to M-Pesa's per-transaction cap.
pub const LIMITS: AmountLimits = AmountLimits::up_to_mpesa_cap(NAME, 1);

const INFO: ProviderInfo = ProviderInfo {
    name: NAME,
    env_prefix: "LIPIA",
    example_base_url: DEFAULT_BASE_URL,
};

/// Everything the Lipia adapter needs. Build it with [`LipiaConfig::builder`] or
/// [`LipiaConfig::from_env`]. Secrets are kept in [`SecretString`]s and never shown by
/// `Debug`.
#[derive(Clone)]
#[non_exhaustive]
pub struct LipiaConfig {
    /// The app's API key, sent as `Authorization: Bearer <key>`.
    pub api_key: SecretString,
    /// The `callback_url` sent when a request has none of its own, and a secret it carries
    /// as its `token` query parameter; when set, callbacks without it (or with another value)
    /// are refused. See the crate docs on callbacks.
    pub callback: CallbackOptions,
    /// Base URL (default [`DEFAULT_BASE_URL`]), timeouts, user agent.
    pub client: ClientOptions,
}

impl fmt::Debug for LipiaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LipiaConfig")
            .field("api_key", &"[redacted]")
            .field("base_url", &self.client.base_url.as_str())
            .field("callback", &self.callback)
            .field("timeout", &self.client.timeout)
            .field("connect_timeout", &self.client.connect_timeout)
            .field("user_agent", &self.client.user_agent)
            .finish()
    }
}

/// `Accept: application/json` and `Authorization: Bearer <API key>`.
pub(crate) fn headers(config: &LipiaConfig) -> Result<HeaderMap, Error> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let bearer = format!("Bearer {}", config.api_key.expose_secret().trim());
    headers.insert(AUTHORIZATION, secret_header(NAME, &bearer, "API key")?);
    Ok(headers)
}

impl LipiaConfig {
    /// Starts a builder.
    pub fn builder() -> LipiaConfigBuilder {
        LipiaConfigBuilder::default()
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
    /// | `LIPIA_API_KEY` | required: the app's API key (dashboard, Security section) |
    /// | `LIPIA_BASE_URL` | optional; default [`DEFAULT_BASE_URL`] |
    /// | `LIPIA_CALLBACK_URL` | optional default `callback_url` (https, or http on loopback) |
    /// | `LIPIA_CALLBACK_TOKEN` | optional callback secret, checked in the `token` query parameter |
    ///
    /// Empty values count as unset. Errors name the variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut b = Self::builder();
        match get("LIPIA_API_KEY") {
            Some(key) => b = b.api_key(key.trim()),
            None => {
                return Err(Error::config(
                    NAME,
                    "LIPIA_API_KEY is not set: set it to your Lipia Online app's API key, \
                     from the dashboard's Security section",
                ));
            }
        }
        b.client.read_env(&INFO, &lookup);
        b.callback.read_env(&INFO, &lookup)?;
        b.build()
    }
}

/// Builds a [`LipiaConfig`]; [`build`](Self::build) reports what is missing or invalid.
#[derive(Default)]
#[must_use]
pub struct LipiaConfigBuilder {
    api_key: Option<SecretString>,
    callback: CallbackOptions,
    client: ClientOptionsBuilder,
}

impl fmt::Debug for LipiaConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LipiaConfigBuilder")
            .field("base_url", &self.client.base_url)
            .finish_non_exhaustive()
    }
}

impl LipiaConfigBuilder {
    /// The API key (required).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(SecretString::from(key.into()));
        self
    }

    stk_http::callback_options_setters!(callback);

    stk_http::client_options_setters!(client);

    /// Checks the settings.
    pub fn build(self) -> Result<LipiaConfig, Error> {
        let api_key = self.api_key.ok_or_else(|| {
            Error::config(
                NAME,
                "the API key is not set: pass it to the builder or set LIPIA_API_KEY",
            )
        })?;
        if api_key.expose_secret().trim().is_empty() {
            return Err(Error::config(
                NAME,
                "the API key is empty: set LIPIA_API_KEY to your Lipia Online API key",
            ));
        }
        self.callback.check(&INFO)?;
        let client = self
            .client
            .build(&INFO, || Ok(DEFAULT_BASE_URL.to_owned()))?;
        Ok(LipiaConfig {
            api_key,
            callback: self.callback,
            client,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn from_lookup_reads_and_names_variables() {
        let err = LipiaConfig::from_lookup(env(&[])).unwrap_err();
        assert!(err.to_string().contains("LIPIA_API_KEY"), "{err}");
        let err = LipiaConfig::from_lookup(env(&[("LIPIA_API_KEY", "  ")])).unwrap_err();
        assert!(err.to_string().contains("LIPIA_API_KEY"), "{err}");
        let err = LipiaConfig::from_lookup(env(&[
            ("LIPIA_API_KEY", "k"),
            ("LIPIA_BASE_URL", "not a url"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("LIPIA_BASE_URL"), "{err}");
        let err = LipiaConfig::from_lookup(env(&[
            ("LIPIA_API_KEY", "k"),
            ("LIPIA_CALLBACK_URL", "http://shop.example/cb"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("LIPIA_CALLBACK_URL"), "{err}");

        let config = LipiaConfig::from_lookup(env(&[
            ("LIPIA_API_KEY", "sk_live_abc"),
            ("LIPIA_CALLBACK_URL", "https://shop.example/lipia?token=t0k"),
            ("LIPIA_CALLBACK_TOKEN", "t0k"),
        ]))
        .unwrap();
        assert_eq!(
            config.client.base_url.as_str(),
            "https://lipia-api.kreativelabske.com/api/v2/"
        );
        assert_eq!(config.api_key.expose_secret(), "sk_live_abc");
        let shown = format!("{config:?}");
        assert!(!shown.contains("sk_live_abc"), "{shown}");
        assert!(!shown.contains("t0k"), "{shown}");
    }

    #[test]
    fn base_url_gets_a_trailing_slash() {
        let config = LipiaConfig::builder()
            .api_key("k")
            .base_url("http://127.0.0.1:9/api/v2")
            .build()
            .unwrap();
        assert_eq!(
            config.client.base_url.as_str(),
            "http://127.0.0.1:9/api/v2/"
        );
        assert!(
            LipiaConfig::builder()
                .api_key("k")
                .base_url("ftp://x/")
                .build()
                .is_err()
        );
    }
}
