//! Choosing and building a provider from environment variables.

use std::fmt;
use std::str::FromStr;

use stk_core::{Error, StkProvider};

/// The providers this crate knows, compiled in or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProviderKind {
    /// The fake provider (feature `mock`).
    Mock,
    /// KulmiPay (feature `kulmipay`).
    KulmiPay,
    /// UpesiPay (feature `upesipay`).
    UpesiPay,
    /// Lipia Online (feature `lipia`).
    Lipia,
    /// Safaricom Daraja (feature `daraja`).
    Daraja,
}

impl ProviderKind {
    /// Every provider, in display order.
    pub const ALL: [Self; 5] = [
        Self::Mock,
        Self::KulmiPay,
        Self::UpesiPay,
        Self::Lipia,
        Self::Daraja,
    ];

    /// The name used in `STK_PROVIDER` and `--provider`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mock => "mock",
            Self::KulmiPay => "kulmipay",
            Self::UpesiPay => "upesipay",
            Self::Lipia => "lipia",
            Self::Daraja => "daraja",
        }
    }

    /// Whether this build includes the provider (its cargo feature is on).
    pub fn is_compiled_in(self) -> bool {
        match self {
            Self::Mock => cfg!(feature = "mock"),
            Self::KulmiPay => cfg!(feature = "kulmipay"),
            Self::UpesiPay => cfg!(feature = "upesipay"),
            Self::Lipia => cfg!(feature = "lipia"),
            Self::Daraja => cfg!(feature = "daraja"),
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::config(
                    "stk",
                    format!(
                        "unknown provider {s:?}; expected one of mock, kulmipay, upesipay, lipia, daraja"
                    ),
                )
            })
    }
}

/// A provider choice plus its settings, read from environment variables, ready to
/// [`build`](Self::build).
///
/// `STK_PROVIDER` picks the provider (default `mock`). The fake provider reads
/// `STK_MOCK_DELAY_MS` (time to result, default 2000) and `STK_MOCK_SEED` (ids and receipts;
/// default: from the clock).
/// Each real provider reads its own variables (see its crate).
///
/// Debug output never includes secret values.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    settings: Settings,
}

#[derive(Debug, Clone)]
enum Settings {
    /// Keeps the enum inhabited-by-type in builds without any provider feature.
    #[allow(dead_code)]
    NoProvider(std::convert::Infallible),
    #[cfg(feature = "mock")]
    Mock {
        delay: std::time::Duration,
        seed: u64,
    },
    #[cfg(feature = "kulmipay")]
    KulmiPay(stk_kulmipay::KulmiPayConfig),
    #[cfg(feature = "upesipay")]
    UpesiPay(stk_upesipay::UpesiPayConfig),
    #[cfg(feature = "lipia")]
    Lipia(stk_lipia::LipiaConfig),
    /// Boxed: its token cache makes it much larger than the other settings.
    #[cfg(feature = "daraja")]
    Daraja(Box<stk_daraja::DarajaConfig>),
}

fn parse_var<T: FromStr>(
    lookup: &dyn Fn(&str) -> Option<String>,
    var: &str,
    what: &str,
) -> Result<Option<T>, Error> {
    match lookup(var) {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Error::config("stk", format!("{var}={v:?} is not {what}"))),
    }
}

/// A different seed per process, so separate runs do not reuse payment ids.
#[cfg(feature = "mock")]
fn seed_from_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x5EED)
        // Processes started in the same instant still differ.
        ^ u64::from(std::process::id()).rotate_left(40)
}

impl Settings {
    fn read(kind: ProviderKind, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, Error> {
        match kind {
            #[cfg(feature = "mock")]
            ProviderKind::Mock => Ok(Self::Mock {
                delay: std::time::Duration::from_millis(
                    parse_var(lookup, "STK_MOCK_DELAY_MS", "a number of milliseconds")?
                        .unwrap_or(2000),
                ),
                seed: parse_var(lookup, "STK_MOCK_SEED", "a whole number")?
                    .unwrap_or_else(seed_from_clock),
            }),
            #[cfg(feature = "kulmipay")]
            ProviderKind::KulmiPay => Ok(Self::KulmiPay(
                stk_kulmipay::KulmiPayConfig::from_lookup(lookup)?,
            )),
            #[cfg(feature = "upesipay")]
            ProviderKind::UpesiPay => Ok(Self::UpesiPay(
                stk_upesipay::UpesiPayConfig::from_lookup(lookup)?,
            )),
            #[cfg(feature = "lipia")]
            ProviderKind::Lipia => Ok(Self::Lipia(stk_lipia::LipiaConfig::from_lookup(lookup)?)),
            #[cfg(feature = "daraja")]
            ProviderKind::Daraja => Ok(Self::Daraja(Box::new(
                stk_daraja::DarajaConfig::from_lookup(lookup)?,
            ))),
            #[allow(unreachable_patterns)]
            other => {
                let _ = lookup;
                Err(Error::config(
                    other.as_str(),
                    format!("provider {other} is not compiled in"),
                ))
            }
        }
    }
}

impl ProviderConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `lookup` (for tests, or a config source other than the
    /// environment). `STK_PROVIDER` picks the provider.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let kind = match parse_var::<String>(&lookup, "STK_PROVIDER", "a provider name")? {
            Some(name) => name.parse()?,
            None => ProviderKind::Mock,
        };
        Self::for_provider(kind, lookup)
    }

    /// Reads the settings of a given provider through `lookup`.
    pub fn for_provider(
        kind: ProviderKind,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        if !kind.is_compiled_in() {
            return Err(Error::config(
                kind.as_str(),
                format!(
                    "provider {kind} is not compiled in; enable the `{kind}` cargo feature of the `stk` crate \
                     (for the CLI: cargo run -p stk-cli --features {kind})"
                ),
            ));
        }
        Ok(Self {
            settings: Settings::read(kind, &lookup)?,
        })
    }

    /// Which provider this configures.
    pub fn kind(&self) -> ProviderKind {
        match self.settings {
            Settings::NoProvider(never) => match never {},
            #[cfg(feature = "mock")]
            Settings::Mock { .. } => ProviderKind::Mock,
            #[cfg(feature = "kulmipay")]
            Settings::KulmiPay(_) => ProviderKind::KulmiPay,
            #[cfg(feature = "upesipay")]
            Settings::UpesiPay(_) => ProviderKind::UpesiPay,
            #[cfg(feature = "lipia")]
            Settings::Lipia(_) => ProviderKind::Lipia,
            #[cfg(feature = "daraja")]
            Settings::Daraja(_) => ProviderKind::Daraja,
        }
    }

    /// Builds the provider.
    pub fn build(&self) -> Result<Box<dyn StkProvider>, Error> {
        match &self.settings {
            Settings::NoProvider(never) => match *never {},
            #[cfg(feature = "mock")]
            Settings::Mock { delay, seed } => Ok(Box::new(
                stk_mock::MockProvider::builder()
                    .delay(*delay)
                    .seed(*seed)
                    .build(),
            )),
            #[cfg(feature = "kulmipay")]
            Settings::KulmiPay(config) => {
                Ok(Box::new(stk_kulmipay::KulmiPay::new(config.clone())?))
            }
            #[cfg(feature = "upesipay")]
            Settings::UpesiPay(config) => {
                Ok(Box::new(stk_upesipay::UpesiPay::new(config.clone())?))
            }
            #[cfg(feature = "lipia")]
            Settings::Lipia(config) => Ok(Box::new(stk_lipia::Lipia::new(config.clone())?)),
            #[cfg(feature = "daraja")]
            Settings::Daraja(config) => {
                Ok(Box::new(stk_daraja::Daraja::new(config.as_ref().clone())?))
            }
        }
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

    #[test]
    fn unknown_provider_is_a_config_error() {
        let err = ProviderConfig::from_lookup(env(&[("STK_PROVIDER", "mpesa-magic")])).unwrap_err();
        assert_eq!(err.kind(), "config");
        assert!(err.to_string().contains("expected one of"), "{err}");
    }

    #[test]
    fn providers_not_compiled_in_say_which_feature() {
        for kind in ProviderKind::ALL {
            if kind.is_compiled_in() {
                continue;
            }
            let err = ProviderConfig::for_provider(kind, |_| None).unwrap_err();
            assert_eq!(err.kind(), "config");
            assert!(
                err.to_string().contains(&format!("`{kind}` cargo feature")),
                "{err}"
            );
        }
    }

    #[cfg(feature = "kulmipay")]
    #[test]
    fn kulmipay_reads_its_variables_and_hides_secrets() {
        let err = ProviderConfig::from_lookup(env(&[("STK_PROVIDER", "kulmipay")])).unwrap_err();
        assert!(err.to_string().contains("KULMIPAY_SECRET_KEY"), "{err}");
        let cfg = ProviderConfig::from_lookup(env(&[
            ("STK_PROVIDER", "kulmipay"),
            ("KULMIPAY_SECRET_KEY", "ISSecretKey_test_hush"),
        ]))
        .unwrap();
        assert_eq!(cfg.kind(), ProviderKind::KulmiPay);
        assert!(!format!("{cfg:?}").contains("hush"));
        assert_eq!(cfg.build().unwrap().name(), "kulmipay");
    }

    #[cfg(all(feature = "upesipay", feature = "lipia"))]
    #[test]
    fn upesipay_and_lipia_read_their_variables() {
        let err = ProviderConfig::from_lookup(env(&[("STK_PROVIDER", "upesipay")])).unwrap_err();
        assert!(err.to_string().contains("UPESIPAY_API_TOKEN"), "{err}");
        let cfg = ProviderConfig::from_lookup(env(&[
            ("STK_PROVIDER", "upesipay"),
            ("UPESIPAY_API_TOKEN", "hush-upesi"),
            ("UPESIPAY_CHANNEL_ID", "2133"),
        ]))
        .unwrap();
        assert!(!format!("{cfg:?}").contains("hush"));
        assert_eq!(cfg.build().unwrap().name(), "upesipay");
        let err = ProviderConfig::from_lookup(env(&[("STK_PROVIDER", "lipia")])).unwrap_err();
        assert!(err.to_string().contains("LIPIA_API_KEY"), "{err}");
        let cfg = ProviderConfig::from_lookup(env(&[
            ("STK_PROVIDER", "lipia"),
            ("LIPIA_API_KEY", "hush-lipia"),
        ]))
        .unwrap();
        assert!(!format!("{cfg:?}").contains("hush"));
        assert_eq!(cfg.build().unwrap().name(), "lipia");
    }

    #[cfg(feature = "daraja")]
    #[test]
    fn daraja_reads_its_variables_and_hides_secrets() {
        let err = ProviderConfig::from_lookup(env(&[("STK_PROVIDER", "daraja")])).unwrap_err();
        assert!(err.to_string().contains("DARAJA_CONSUMER_KEY"), "{err}");
        let cfg = ProviderConfig::from_lookup(env(&[
            ("STK_PROVIDER", "Daraja"),
            ("DARAJA_CONSUMER_KEY", "hush-key"),
            ("DARAJA_CONSUMER_SECRET", "hush-secret"),
        ]))
        .unwrap();
        assert_eq!(cfg.kind(), ProviderKind::Daraja);
        assert!(!format!("{cfg:?}").contains("hush"));
        assert_eq!(cfg.build().unwrap().name(), "daraja");
    }

    #[cfg(feature = "mock")]
    #[test]
    fn mock_is_the_default_and_reads_its_settings() {
        let cfg = ProviderConfig::from_lookup(env(&[("STK_MOCK_DELAY_MS", "5")])).unwrap();
        assert_eq!(cfg.kind(), ProviderKind::Mock);
        assert_eq!(cfg.build().unwrap().name(), "mock");
        let err = ProviderConfig::from_lookup(env(&[("STK_MOCK_DELAY_MS", "soon")])).unwrap_err();
        assert!(err.to_string().contains("STK_MOCK_DELAY_MS"), "{err}");
        assert_eq!(
            "KulmiPay".parse::<ProviderKind>().unwrap(),
            ProviderKind::KulmiPay
        );
    }
}
