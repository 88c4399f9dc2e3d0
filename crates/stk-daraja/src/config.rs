//! Configuration: a builder, and `from_env` / `from_lookup` for environment variables.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use stk_core::{AmountLimits, Error};
use stk_http::{CallbackOptions, ClientOptions, ClientOptionsBuilder, ProviderInfo};

use crate::NAME;
use crate::token::TokenCache;

/// Daraja's sandbox base URL.
pub const SANDBOX_BASE_URL: &str = "https://sandbox.safaricom.co.ke";
/// Daraja's production base URL.
pub const PRODUCTION_BASE_URL: &str = "https://api.safaricom.co.ke";

/// The sandbox's test paybill (`BusinessShortCode`), used by default in the sandbox.
pub const SANDBOX_SHORTCODE: &str = "174379";
/// The published Lipa Na M-Pesa Online passkey of the sandbox shortcode [`SANDBOX_SHORTCODE`]
/// (not a secret: Safaricom publishes it on its test-credentials page), used by default in
/// the sandbox.
pub const SANDBOX_PASSKEY: &str =
    "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";

/// The amounts Daraja accepts by default: KES 1 to M-Pesa's per-transaction cap (KES 150,000);
/// change the cap with [`DarajaConfigBuilder::max_amount`].
pub const LIMITS: AmountLimits = AmountLimits::up_to_mpesa_cap(NAME, 1);

const INFO: ProviderInfo = ProviderInfo {
    name: NAME,
    env_prefix: "DARAJA",
    example_base_url: SANDBOX_BASE_URL,
};

/// Which Daraja environment: picks the default base URL, and whether the sandbox shortcode and
/// passkey may be defaulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Environment {
    /// `https://sandbox.safaricom.co.ke`: test money; shortcode and passkey default to
    /// [`SANDBOX_SHORTCODE`] and [`SANDBOX_PASSKEY`].
    #[default]
    Sandbox,
    /// `https://api.safaricom.co.ke`: real money; shortcode and passkey are required.
    Production,
}

impl Environment {
    /// `sandbox` or `production`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::Production => "production",
        }
    }

    /// The environment's base URL.
    pub fn base_url(self) -> &'static str {
        match self {
            Self::Sandbox => SANDBOX_BASE_URL,
            Self::Production => PRODUCTION_BASE_URL,
        }
    }
}

impl FromStr for Environment {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sandbox" => Ok(Self::Sandbox),
            "production" | "live" => Ok(Self::Production),
            other => Err(format!(
                "unknown environment {other:?}: use `sandbox` (default) or `production`"
            )),
        }
    }
}

/// Daraja's `TransactionType`: who receives the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TransactionType {
    /// `CustomerPayBillOnline`: a paybill; `PartyB` is the shortcode.
    #[default]
    PayBill,
    /// `CustomerBuyGoodsOnline`: a till (Buy Goods); `BusinessShortCode` is the store number
    /// and `PartyB` the till number (the shortcode when no separate till is set).
    BuyGoods,
}

impl TransactionType {
    /// The wire value: `CustomerPayBillOnline` or `CustomerBuyGoodsOnline`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PayBill => "CustomerPayBillOnline",
            Self::BuyGoods => "CustomerBuyGoodsOnline",
        }
    }
}

/// Where the callback secret token travels in the callback URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenPlacement {
    /// As the query parameter `token` (`…/daraja?token=<secret>`); works with
    /// `stk listen` and the tracker's receiver, which route on the path.
    #[default]
    Query,
    /// As an extra last path segment (`…/daraja/<secret>`); the receiving route must accept
    /// that segment.
    Path,
}

impl FromStr for TokenPlacement {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "query" => Ok(Self::Query),
            "path" => Ok(Self::Path),
            other => Err(format!(
                "unknown token placement {other:?}: use `query` (default) or `path`"
            )),
        }
    }
}

/// Everything the Daraja adapter needs. Build it with [`DarajaConfig::builder`] or
/// [`DarajaConfig::from_env`]. Secrets are [`SecretString`]s and never shown by `Debug`.
///
/// The config also holds the provider's OAuth token cache (not a setting): a cloned config
/// starts with an empty cache, while clones of one [`Daraja`](crate::Daraja) provider share
/// theirs.
#[non_exhaustive]
pub struct DarajaConfig {
    /// The app's consumer key (OAuth client id).
    pub consumer_key: SecretString,
    /// The app's consumer secret.
    pub consumer_secret: SecretString,
    /// Sandbox or production.
    pub environment: Environment,
    /// `BusinessShortCode`: the paybill, or the store (head office) number of a till.
    pub shortcode: String,
    /// The Lipa Na M-Pesa Online passkey of the shortcode.
    pub passkey: SecretString,
    /// Paybill or Buy Goods.
    pub transaction_type: TransactionType,
    /// The till number sent as `PartyB` for Buy Goods, when it differs from the shortcode.
    pub till: Option<String>,
    /// The `CallBackURL` sent when a request has none of its own (Daraja requires one), and
    /// a secret it carries; when set, callbacks without it are refused. See the crate docs on
    /// callbacks.
    pub callback: CallbackOptions,
    /// Where the callback token travels (default: the `token` query parameter).
    pub callback_token_in: TokenPlacement,
    /// The addresses callbacks may come from, checked by
    /// [`verify_callback_peer`](Self::verify_callback_peer); `None` (default) checks nothing.
    pub callback_allowlist: Option<Vec<IpAddr>>,
    /// The amounts accepted (default [`LIMITS`]).
    pub limits: AmountLimits,
    /// Base URL (default: the environment's), timeouts, user agent.
    pub client: ClientOptions,
    pub(crate) tokens: TokenCache,
}

impl Clone for DarajaConfig {
    /// The same settings with an empty token cache.
    fn clone(&self) -> Self {
        Self {
            consumer_key: self.consumer_key.clone(),
            consumer_secret: self.consumer_secret.clone(),
            environment: self.environment,
            shortcode: self.shortcode.clone(),
            passkey: self.passkey.clone(),
            transaction_type: self.transaction_type,
            till: self.till.clone(),
            callback: self.callback.clone(),
            callback_token_in: self.callback_token_in,
            callback_allowlist: self.callback_allowlist.clone(),
            limits: self.limits,
            client: self.client.clone(),
            tokens: TokenCache::new(),
        }
    }
}

impl fmt::Debug for DarajaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DarajaConfig")
            .field("consumer_key", &"[redacted]")
            .field("consumer_secret", &"[redacted]")
            .field("environment", &self.environment)
            .field("base_url", &self.client.base_url.as_str())
            .field("shortcode", &self.shortcode)
            .field("passkey", &"[redacted]")
            .field("transaction_type", &self.transaction_type.as_str())
            .field("till", &self.till)
            .field("callback", &self.callback)
            .field("callback_token_in", &self.callback_token_in)
            .field("callback_allowlist", &self.callback_allowlist)
            .field("limits", &(self.limits.min, self.limits.max))
            .field("timeout", &self.client.timeout)
            .field("connect_timeout", &self.client.connect_timeout)
            .field("user_agent", &self.client.user_agent)
            .finish_non_exhaustive()
    }
}

/// `Accept: application/json`. The `Authorization` header is the OAuth bearer token, taken per
/// request from the token cache.
pub(crate) fn headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers
}

impl DarajaConfig {
    /// Starts a builder.
    pub fn builder() -> DarajaConfigBuilder {
        DarajaConfigBuilder::default()
    }

    /// `PartyB`: the till number for Buy Goods (the shortcode when none is set), the shortcode
    /// for a paybill.
    pub fn party_b(&self) -> &str {
        match (self.transaction_type, &self.till) {
            (TransactionType::BuyGoods, Some(till)) => till,
            _ => &self.shortcode,
        }
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
    /// | `DARAJA_CONSUMER_KEY`, `DARAJA_CONSUMER_SECRET` | required: the Daraja app's consumer key and secret |
    /// | `DARAJA_ENVIRONMENT` | `sandbox` (default) or `production` |
    /// | `DARAJA_SHORTCODE` | `BusinessShortCode`; default [`SANDBOX_SHORTCODE`] in the sandbox, required in production |
    /// | `DARAJA_PASSKEY` | the shortcode's passkey; default [`SANDBOX_PASSKEY`] for the sandbox shortcode, required otherwise |
    /// | `DARAJA_TILL` | a till number: Buy Goods (`CustomerBuyGoodsOnline`) with `PartyB` = the till; unset: paybill |
    /// | `DARAJA_CALLBACK_URL` | default `CallBackURL` (https, or http on loopback) |
    /// | `DARAJA_BASE_URL` | optional; default the environment's base URL (e.g. an emulator's) |
    /// | `DARAJA_CALLBACK_TOKEN` | optional callback secret, carried in the callback URL |
    /// | `DARAJA_CALLBACK_TOKEN_IN` | `query` (default: `?token=…`) or `path` (a last path segment) |
    ///
    /// Empty values count as unset. Errors name the variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut b = Self::builder();
        let required = |name: &str| {
            get(name).ok_or_else(|| {
                Error::config(
                    NAME,
                    format!(
                        "{name} is not set: set DARAJA_CONSUMER_KEY and DARAJA_CONSUMER_SECRET \
                         to your Daraja app's keys (developer portal, My Apps)"
                    ),
                )
            })
        };
        b = b
            .consumer_key(required("DARAJA_CONSUMER_KEY")?)
            .consumer_secret(required("DARAJA_CONSUMER_SECRET")?);
        if let Some(env) = get("DARAJA_ENVIRONMENT") {
            let env = env
                .parse::<Environment>()
                .map_err(|e| Error::config(NAME, format!("DARAJA_ENVIRONMENT: {e}")))?;
            b = b.environment(env);
        }
        if let Some(shortcode) = get("DARAJA_SHORTCODE") {
            b = b.shortcode(shortcode);
        }
        if let Some(passkey) = get("DARAJA_PASSKEY") {
            b = b.passkey(passkey);
        }
        if let Some(till) = get("DARAJA_TILL") {
            b = b.till(till);
        }
        b.client.read_env(&INFO, &lookup);
        b.callback.read_env(&INFO, &lookup)?;
        if let Some(placement) = get("DARAJA_CALLBACK_TOKEN_IN") {
            let placement = placement
                .parse::<TokenPlacement>()
                .map_err(|e| Error::config(NAME, format!("DARAJA_CALLBACK_TOKEN_IN: {e}")))?;
            b = b.callback_token_in(placement);
        }
        b.build()
    }
}

/// Builds a [`DarajaConfig`]; [`build`](Self::build) reports what is missing or invalid.
#[derive(Default)]
#[must_use]
pub struct DarajaConfigBuilder {
    consumer_key: Option<SecretString>,
    consumer_secret: Option<SecretString>,
    environment: Environment,
    shortcode: Option<String>,
    passkey: Option<SecretString>,
    transaction_type: Option<TransactionType>,
    till: Option<String>,
    callback: CallbackOptions,
    callback_token_in: TokenPlacement,
    callback_allowlist: Option<Vec<IpAddr>>,
    max_amount: Option<u64>,
    client: ClientOptionsBuilder,
}

impl fmt::Debug for DarajaConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DarajaConfigBuilder")
            .field("environment", &self.environment)
            .field("shortcode", &self.shortcode)
            .field("base_url", &self.client.base_url)
            .finish_non_exhaustive()
    }
}

/// Whether `s` is `min..=max` ASCII digits.
fn digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

impl DarajaConfigBuilder {
    /// The consumer key (required).
    pub fn consumer_key(mut self, key: impl Into<String>) -> Self {
        self.consumer_key = Some(SecretString::from(key.into()));
        self
    }

    /// The consumer secret (required).
    pub fn consumer_secret(mut self, secret: impl Into<String>) -> Self {
        self.consumer_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// Sandbox (default) or production: the default base URL, and whether the sandbox
    /// shortcode and passkey are filled in.
    pub fn environment(mut self, environment: Environment) -> Self {
        self.environment = environment;
        self
    }

    /// The `BusinessShortCode` (5 to 7 digits): the paybill, or a till's store number.
    pub fn shortcode(mut self, shortcode: impl Into<String>) -> Self {
        self.shortcode = Some(shortcode.into());
        self
    }

    /// The shortcode's Lipa Na M-Pesa Online passkey.
    pub fn passkey(mut self, passkey: impl Into<String>) -> Self {
        self.passkey = Some(SecretString::from(passkey.into()));
        self
    }

    /// Paybill (default) or Buy Goods.
    pub fn transaction_type(mut self, transaction_type: TransactionType) -> Self {
        self.transaction_type = Some(transaction_type);
        self
    }

    /// A till: Buy Goods with `PartyB` = this till number.
    pub fn till(mut self, till: impl Into<String>) -> Self {
        self.till = Some(till.into());
        self
    }

    stk_http::callback_options_setters!(callback);

    /// Where the callback token travels (default [`TokenPlacement::Query`]).
    pub fn callback_token_in(mut self, placement: TokenPlacement) -> Self {
        self.callback_token_in = placement;
        self
    }

    /// The addresses callbacks may come from, for
    /// [`DarajaConfig::verify_callback_peer`]. Pass
    /// [`SAFARICOM_CALLBACK_IPS`](crate::SAFARICOM_CALLBACK_IPS) for Safaricom's documented
    /// list, or your own when it changes.
    pub fn callback_allowlist(mut self, addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        self.callback_allowlist = Some(addresses.into_iter().collect());
        self
    }

    /// The largest amount accepted (default KES 150,000, M-Pesa's per-transaction cap).
    pub fn max_amount(mut self, max: u64) -> Self {
        self.max_amount = Some(max);
        self
    }

    stk_http::client_options_setters!(client);

    /// Checks the settings.
    pub fn build(self) -> Result<DarajaConfig, Error> {
        let secret = |value: Option<SecretString>, var: &str| {
            value
                .filter(|v| !v.expose_secret().trim().is_empty())
                .map(|v| SecretString::from(v.expose_secret().trim().to_owned()))
                .ok_or_else(|| {
                    Error::config(
                        NAME,
                        format!(
                            "the {} is not set: pass it to the builder or set {var}",
                            var.trim_start_matches("DARAJA_")
                                .to_ascii_lowercase()
                                .replace('_', " ")
                        ),
                    )
                })
        };
        let consumer_key = secret(self.consumer_key, "DARAJA_CONSUMER_KEY")?;
        let consumer_secret = secret(self.consumer_secret, "DARAJA_CONSUMER_SECRET")?;
        let sandbox = self.environment == Environment::Sandbox;
        let shortcode = match self.shortcode.map(|s| s.trim().to_owned()) {
            Some(s) => s,
            None if sandbox => SANDBOX_SHORTCODE.to_owned(),
            None => {
                return Err(Error::config(
                    NAME,
                    "DARAJA_SHORTCODE is not set: production needs your paybill or till store \
                     number (the sandbox defaults to 174379)",
                ));
            }
        };
        if !digits(&shortcode, 5, 7) {
            return Err(Error::config(
                NAME,
                format!("DARAJA_SHORTCODE must be 5 to 7 digits, got {shortcode:?}"),
            ));
        }
        let passkey = match self.passkey {
            Some(p) if !p.expose_secret().trim().is_empty() => {
                SecretString::from(p.expose_secret().trim().to_owned())
            }
            _ if sandbox && shortcode == SANDBOX_SHORTCODE => {
                SecretString::from(SANDBOX_PASSKEY.to_owned())
            }
            _ => {
                return Err(Error::config(
                    NAME,
                    format!(
                        "DARAJA_PASSKEY is not set: set it to the Lipa Na M-Pesa Online passkey \
                         Safaricom issued for shortcode {shortcode} (only the sandbox shortcode \
                         {SANDBOX_SHORTCODE} has a default)"
                    ),
                ));
            }
        };
        let till = self.till.map(|t| t.trim().to_owned());
        if let Some(t) = &till {
            if !digits(t, 5, 8) {
                return Err(Error::config(
                    NAME,
                    format!("DARAJA_TILL must be a till number (5 to 8 digits), got {t:?}"),
                ));
            }
        }
        let transaction_type = match (self.transaction_type, &till) {
            (Some(TransactionType::PayBill), Some(_)) => {
                return Err(Error::config(
                    NAME,
                    "a till number (DARAJA_TILL) is for Buy Goods (CustomerBuyGoodsOnline), not a \
                     paybill: unset it, or use TransactionType::BuyGoods",
                ));
            }
            (Some(t), _) => t,
            (None, Some(_)) => TransactionType::BuyGoods,
            (None, None) => TransactionType::PayBill,
        };
        self.callback.check(&INFO)?;
        let limits = match self.max_amount {
            Some(max) => LIMITS
                .with_max(max)
                .map_err(|e| Error::config(NAME, format!("max amount: {e}")))?,
            None => LIMITS,
        };
        let environment = self.environment;
        let client = self
            .client
            .build(&INFO, || Ok(environment.base_url().to_owned()))?;
        Ok(DarajaConfig {
            consumer_key,
            consumer_secret,
            environment,
            shortcode,
            passkey,
            transaction_type,
            till,
            callback: self.callback,
            callback_token_in: self.callback_token_in,
            callback_allowlist: self.callback_allowlist,
            limits,
            client,
            tokens: TokenCache::new(),
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

    const KEYS: [(&str, &str); 2] = [
        ("DARAJA_CONSUMER_KEY", "ck-abc"),
        ("DARAJA_CONSUMER_SECRET", "cs-xyz"),
    ];

    #[test]
    fn sandbox_defaults_and_variables() {
        let err = DarajaConfig::from_lookup(env(&[])).unwrap_err();
        assert!(err.to_string().contains("DARAJA_CONSUMER_KEY"), "{err}");
        let err = DarajaConfig::from_lookup(env(&[("DARAJA_CONSUMER_KEY", "k")])).unwrap_err();
        assert!(err.to_string().contains("DARAJA_CONSUMER_SECRET"), "{err}");

        let config = DarajaConfig::from_lookup(env(&KEYS)).unwrap();
        assert_eq!(config.environment, Environment::Sandbox);
        assert_eq!(
            config.client.base_url.as_str(),
            "https://sandbox.safaricom.co.ke/"
        );
        assert_eq!(config.shortcode, SANDBOX_SHORTCODE);
        assert_eq!(config.passkey.expose_secret(), SANDBOX_PASSKEY);
        assert_eq!(config.transaction_type, TransactionType::PayBill);
        assert_eq!(config.party_b(), SANDBOX_SHORTCODE);

        let shown = format!("{config:?}");
        for secret in ["ck-abc", "cs-xyz", SANDBOX_PASSKEY] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn production_needs_shortcode_and_passkey() {
        let prod = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = KEYS.to_vec();
            pairs.push(("DARAJA_ENVIRONMENT", "production"));
            pairs.extend_from_slice(extra);
            DarajaConfig::from_lookup(env(&pairs))
        };
        let err = prod(&[]).unwrap_err();
        assert!(err.to_string().contains("DARAJA_SHORTCODE"), "{err}");
        let err = prod(&[("DARAJA_SHORTCODE", "600100")]).unwrap_err();
        assert!(err.to_string().contains("DARAJA_PASSKEY"), "{err}");
        let err = prod(&[("DARAJA_SHORTCODE", "60A100"), ("DARAJA_PASSKEY", "p")]).unwrap_err();
        assert!(err.to_string().contains("5 to 7 digits"), "{err}");
        let config = prod(&[
            ("DARAJA_SHORTCODE", "600100"),
            ("DARAJA_PASSKEY", "live-passkey"),
            ("DARAJA_TILL", "5123456"),
        ])
        .unwrap();
        assert_eq!(
            config.client.base_url.as_str(),
            "https://api.safaricom.co.ke/"
        );
        assert_eq!(config.transaction_type, TransactionType::BuyGoods);
        assert_eq!(config.party_b(), "5123456");
        assert!(!format!("{config:?}").contains("live-passkey"));

        // A sandbox with another shortcode has no default passkey.
        let mut pairs = KEYS.to_vec();
        pairs.push(("DARAJA_SHORTCODE", "600999"));
        let err = DarajaConfig::from_lookup(env(&pairs)).unwrap_err();
        assert!(err.to_string().contains("DARAJA_PASSKEY"), "{err}");
        let err =
            DarajaConfig::from_lookup(env(&[KEYS[0], KEYS[1], ("DARAJA_ENVIRONMENT", "staging")]))
                .unwrap_err();
        assert!(err.to_string().contains("DARAJA_ENVIRONMENT"), "{err}");
    }

    #[test]
    fn till_buy_goods_and_tokens() {
        let b = || {
            DarajaConfig::builder()
                .consumer_key("k")
                .consumer_secret("s")
        };
        let err = b()
            .till("5123456")
            .transaction_type(TransactionType::PayBill)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("Buy Goods"), "{err}");
        let own = b()
            .transaction_type(TransactionType::BuyGoods)
            .build()
            .unwrap();
        assert_eq!(own.party_b(), SANDBOX_SHORTCODE);
        assert!(b().till("12").build().is_err());
        assert!(b().callback_token(" ").build().is_err());
        let capped = b().max_amount(70_000).build().unwrap();
        assert_eq!((capped.limits.min, capped.limits.max), (1, 70_000));
        let config = DarajaConfig::from_lookup(env(&[
            KEYS[0],
            KEYS[1],
            ("DARAJA_CALLBACK_URL", "https://shop.example/cb?token=t0k"),
            ("DARAJA_CALLBACK_TOKEN", "t0k"),
            ("DARAJA_CALLBACK_TOKEN_IN", "path"),
            ("DARAJA_BASE_URL", "http://127.0.0.1:9"),
        ]))
        .unwrap();
        assert_eq!(config.callback_token_in, TokenPlacement::Path);
        assert_eq!(config.client.base_url.as_str(), "http://127.0.0.1:9/");
        assert!(!format!("{config:?}").contains("t0k"));
        let err = DarajaConfig::from_lookup(env(&[
            KEYS[0],
            KEYS[1],
            ("DARAJA_CALLBACK_URL", "http://shop.example/cb"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("DARAJA_CALLBACK_URL"), "{err}");
    }
}
