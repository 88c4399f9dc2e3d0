//! An account's settings: the API key its apps use (kept as its SHA-256), where its webhooks
//! go and the secret that signs them, its rate limit. From the environment for the one-account
//! case; [`crate::file`] reads several from a TOML file.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use url::Url;

/// The shortest API key accepted (a guessable key would open the payments API).
pub const MIN_API_KEY_CHARS: usize = 16;

/// A setting the service cannot start with: where (the file, if any, and the key or
/// variable), and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigError {
    /// The configuration file, when the setting came from one.
    pub file: Option<PathBuf>,
    /// The variable, option or key in the file (`accounts.duka.webhook_url`).
    pub key: String,
    /// What is wrong and how to fix it.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        write!(f, "{}: {}", self.key, self.reason)
    }
}

pub(crate) fn refuse(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        file: None,
        key: key.into(),
        reason: reason.into(),
    }
}

/// Where webhooks go and the secret that signs them.
#[derive(Clone)]
pub struct WebhookTarget {
    /// The app's webhook endpoint.
    pub url: Url,
    secret: std::sync::Arc<SecretBox<Vec<u8>>>,
}

impl WebhookTarget {
    /// A target from its URL (`https`, or `http` to this machine) and its secret in the
    /// Standard Webhooks form (`whsec_` + base64).
    pub fn new(url: &str, secret: &str) -> Result<Self, ConfigError> {
        let url = Url::parse(url.trim())
            .map_err(|e| refuse("STK_SERVE_WEBHOOK_URL", format!("not a URL ({e})")))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(refuse(
                    "STK_SERVE_WEBHOOK_URL",
                    "must be https (plain http only to this machine): webhooks carry payments",
                ));
            }
        }
        let encoded = secret.trim().strip_prefix("whsec_").ok_or_else(|| {
            refuse(
                "STK_SERVE_WEBHOOK_SECRET",
                "must start with whsec_ followed by base64 (the Standard Webhooks form)",
            )
        })?;
        let bytes = STANDARD.decode(encoded).map_err(|_| {
            refuse(
                "STK_SERVE_WEBHOOK_SECRET",
                "the part after whsec_ is not base64",
            )
        })?;
        if bytes.len() < 24 {
            return Err(refuse(
                "STK_SERVE_WEBHOOK_SECRET",
                "is shorter than 24 bytes: use at least 24 random bytes, base64-encoded",
            ));
        }
        Ok(Self {
            url,
            secret: std::sync::Arc::new(SecretBox::new(Box::new(bytes))),
        })
    }

    pub(crate) fn secret(&self) -> &[u8] {
        self.secret.expose_secret()
    }
}

impl fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("url", &stk_redacted(&self.url))
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// Only the scheme, host and port, for `Debug`: the path or query may carry a token.
fn stk_redacted(url: &Url) -> String {
    format!(
        "{}://{}{}/[redacted]",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    )
}

/// An account's settings.
#[derive(Clone)]
#[non_exhaustive]
pub struct AccountConfig {
    api_key_hash: [u8; 32],
    /// Where webhooks go; without one, events are recorded (read them with `GET`) and not sent.
    pub webhook: Option<WebhookTarget>,
    /// `POST /v1/payments` allowed per second (bursts of twice that); more get `429`.
    /// `STK_SERVE_PAYMENTS_PER_SECOND`, default 20.
    pub payments_per_second: u32,
    /// The shop's time zone, for the dashboard's times, days and CSV export:
    /// `STK_SERVE_TIME_ZONE`, an IANA name, default `Africa/Nairobi` (EAT).
    pub time_zone: jiff::tz::TimeZone,
}

impl fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountConfig")
            .field("api_key", &"[redacted]")
            .field("webhook", &self.webhook)
            .field("payments_per_second", &self.payments_per_second)
            .field("time_zone", &self.time_zone.iana_name())
            .finish()
    }
}

impl AccountConfig {
    /// Settings with this API key (kept only as its SHA-256) and no webhook.
    pub fn new(api_key: &str) -> Result<Self, ConfigError> {
        let key = api_key.trim();
        if key.chars().count() < MIN_API_KEY_CHARS {
            return Err(refuse(
                "STK_SERVE_API_KEY",
                format!(
                    "set it to a random key of at least {MIN_API_KEY_CHARS} characters (apps send it as Authorization: Bearer <key>)"
                ),
            ));
        }
        Ok(Self::with_key_hash(Sha256::digest(key.as_bytes()).into()))
    }

    /// Settings with the API key given as its SHA-256, in hex (what a configuration file
    /// stores: `printf %s "$KEY" | sha256sum`).
    pub fn from_key_sha256(hex_digest: &str) -> Result<Self, ConfigError> {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(hex_digest.trim(), &mut hash).map_err(|_| {
            refuse(
                "api_key_sha256",
                "must be the key's SHA-256 in hex, 64 characters (printf %s \"$KEY\" | sha256sum)",
            )
        })?;
        // What `printf %s "$KEY" | sha256sum` prints when KEY is unset.
        if hash == <[u8; 32]>::from(Sha256::digest(b"")) {
            return Err(refuse(
                "api_key_sha256",
                "is the SHA-256 of an empty key (was $KEY unset when you hashed it?)",
            ));
        }
        Ok(Self::with_key_hash(hash))
    }

    fn with_key_hash(api_key_hash: [u8; 32]) -> Self {
        Self {
            api_key_hash,
            webhook: None,
            payments_per_second: 20,
            time_zone: nairobi(),
        }
    }

    /// Whether another account's key is this one's.
    pub(crate) fn same_key(&self, other: &Self) -> bool {
        self.api_key_hash == other.api_key_hash
    }

    /// Reads `STK_SERVE_API_KEY` (required), `STK_SERVE_WEBHOOK_URL` and
    /// `STK_SERVE_WEBHOOK_SECRET` (both or neither) and `STK_SERVE_PAYMENTS_PER_SECOND`
    /// through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let key = get("STK_SERVE_API_KEY").ok_or_else(|| {
            refuse(
                "STK_SERVE_API_KEY",
                format!(
                    "is not set: set it to a random key of at least {MIN_API_KEY_CHARS} characters"
                ),
            )
        })?;
        let mut config = Self::new(&key)?;
        if let Some(rate) = get("STK_SERVE_PAYMENTS_PER_SECOND") {
            config.payments_per_second = payments_per_second(rate.trim().parse().ok())
                .map_err(|reason| refuse("STK_SERVE_PAYMENTS_PER_SECOND", reason))?;
        }
        if let Some(zone) = get("STK_SERVE_TIME_ZONE") {
            config.time_zone =
                time_zone(&zone).map_err(|reason| refuse("STK_SERVE_TIME_ZONE", reason))?;
        }
        config.webhook = match (
            get("STK_SERVE_WEBHOOK_URL"),
            get("STK_SERVE_WEBHOOK_SECRET"),
        ) {
            (Some(url), Some(secret)) => Some(WebhookTarget::new(&url, &secret)?),
            (None, None) => None,
            (Some(_), None) => {
                return Err(refuse(
                    "STK_SERVE_WEBHOOK_SECRET",
                    "is not set: webhooks are always signed (whsec_ + base64)",
                ));
            }
            (None, Some(_)) => {
                return Err(refuse(
                    "STK_SERVE_WEBHOOK_URL",
                    "is not set, but a webhook secret is",
                ));
            }
        };
        Ok(config)
    }

    /// Whether `key_hash` (a presented key's SHA-256) is this account's key, compared in
    /// constant time.
    pub(crate) fn accepts_hash(&self, key_hash: &[u8; 32]) -> bool {
        subtle::ConstantTimeEq::ct_eq(&key_hash[..], &self.api_key_hash[..]).into()
    }

    #[cfg(test)]
    pub(crate) fn accepts(&self, key: &str) -> bool {
        self.accepts_hash(&Sha256::digest(key.as_bytes()).into())
    }
}

/// Kenya's time zone (EAT, UTC+3 all year).
fn nairobi() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Africa/Nairobi")
        .unwrap_or_else(|_| jiff::tz::TimeZone::fixed(jiff::tz::offset(3)))
}

/// An IANA time zone name (`Africa/Nairobi`, `Africa/Kampala`, `UTC`).
pub(crate) fn time_zone(name: &str) -> Result<jiff::tz::TimeZone, &'static str> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err("must be an IANA time zone name, e.g. Africa/Nairobi");
    }
    jiff::tz::TimeZone::get(name)
        .map_err(|_| "is not a time zone this build knows: use an IANA name, e.g. Africa/Nairobi")
}

/// A rate from 1 to 10000 payments a second.
pub(crate) fn payments_per_second(rate: Option<i64>) -> Result<u32, &'static str> {
    rate.filter(|r| (1..=10_000).contains(r))
        .and_then(|r| u32::try_from(r).ok())
        .ok_or("must be a whole number from 1 to 10000")
}

/// Refuses a non-loopback address unless the service runs behind a TLS proxy: API keys and
/// payments would otherwise cross the network in clear.
pub fn check_bind(addr: SocketAddr, behind_proxy: bool) -> Result<(), ConfigError> {
    if addr.ip().is_loopback() || behind_proxy {
        Ok(())
    } else {
        Err(refuse(
            "--bind",
            format!(
                "{addr} is not a loopback address and the service speaks plain HTTP: put it behind a TLS-terminating proxy and pass --behind-proxy"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn the_key_is_required_long_and_never_shown() {
        let err = AccountConfig::from_lookup(env(&[])).unwrap_err();
        assert_eq!(err.key, "STK_SERVE_API_KEY");
        assert!(AccountConfig::new("short").is_err());
        let config = AccountConfig::new("hush-0123456789abcdef").unwrap();
        assert!(config.accepts("hush-0123456789abcdef"));
        assert!(!config.accepts("hush-0123456789abcdeF"));
        assert!(!config.accepts(""));
        assert!(!format!("{config:?}").contains("hush"));
    }

    #[test]
    fn webhooks_need_both_https_and_a_standard_secret() {
        let key = ("STK_SERVE_API_KEY", "k-0123456789abcdef");
        let ok = AccountConfig::from_lookup(env(&[
            key,
            (
                "STK_SERVE_WEBHOOK_URL",
                "https://shop.example/hooks?token=hush",
            ),
            ("STK_SERVE_WEBHOOK_SECRET", SECRET),
        ]))
        .unwrap();
        let shown = format!("{ok:?}");
        assert!(
            !shown.contains("hush") && !shown.contains("MfKQ"),
            "{shown}"
        );
        for (url, secret, variable) in [
            ("http://shop.example/hooks", SECRET, "STK_SERVE_WEBHOOK_URL"),
            (
                "https://shop.example/hooks",
                "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "STK_SERVE_WEBHOOK_SECRET",
            ),
            (
                "https://shop.example/hooks",
                "whsec_not base64!",
                "STK_SERVE_WEBHOOK_SECRET",
            ),
            (
                "https://shop.example/hooks",
                "whsec_c2hvcnQ=",
                "STK_SERVE_WEBHOOK_SECRET",
            ),
        ] {
            let err = AccountConfig::from_lookup(env(&[
                key,
                ("STK_SERVE_WEBHOOK_URL", url),
                ("STK_SERVE_WEBHOOK_SECRET", secret),
            ]))
            .unwrap_err();
            assert_eq!(err.key, variable, "{url} {secret}: {err}");
            assert!(!err.to_string().contains("MfKQ"), "{err}");
        }
        let err = AccountConfig::from_lookup(env(&[
            key,
            ("STK_SERVE_WEBHOOK_URL", "https://a.example/"),
        ]))
        .unwrap_err();
        assert_eq!(err.key, "STK_SERVE_WEBHOOK_SECRET");
        assert!(
            WebhookTarget::new("http://127.0.0.1:9/hooks", SECRET).is_ok(),
            "plain http to this machine"
        );
    }

    #[test]
    fn only_loopback_without_a_proxy() {
        assert!(check_bind("127.0.0.1:8080".parse().unwrap(), false).is_ok());
        assert!(check_bind("[::1]:8080".parse().unwrap(), false).is_ok());
        let err = check_bind("0.0.0.0:8080".parse().unwrap(), false).unwrap_err();
        assert!(err.to_string().contains("--behind-proxy"), "{err}");
        assert!(check_bind("0.0.0.0:8080".parse().unwrap(), true).is_ok());
    }

    #[test]
    fn a_stored_hash_accepts_its_key() {
        // printf %s hush-0123456789abcdef | sha256sum
        let hex = hex::encode(Sha256::digest(b"hush-0123456789abcdef"));
        let config = AccountConfig::from_key_sha256(&hex).unwrap();
        assert!(config.accepts("hush-0123456789abcdef"));
        assert!(config.same_key(&AccountConfig::new("hush-0123456789abcdef").unwrap()));
        let empty = hex::encode(Sha256::digest(b""));
        for bad in [
            &empty,
            "",
            "abc",
            &hex[1..],
            &format!("{hex}00"),
            &hex.replace('a', "g"),
        ] {
            assert!(AccountConfig::from_key_sha256(bad).is_err(), "{bad}");
        }
    }
}
