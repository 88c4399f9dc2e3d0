//! Choosing and building a provider from environment variables.

use std::fmt;
use std::str::FromStr;

use stk_core::{Error, StkProvider};

/// The provider table: adding a provider is one line here (its name, cargo feature, settings
/// type read by `from_lookup`, constructor, and documented abuse rules if any) plus its
/// feature in `Cargo.toml`. Everything else (parsing `STK_PROVIDER`, the CLI's help, logging
/// targets and guard) is derived from it.
macro_rules! providers {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $name:literal, feature $feature:literal,
        $config:ty => $build:path $(, guard $guard:path)?;
    )*) => {
        /// The providers this crate knows, compiled in or not.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ProviderKind {
            $($(#[$doc])* $variant,)*
        }

        impl ProviderKind {
            /// Every provider, in display order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The name used in `STK_PROVIDER` and `--provider`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// Whether this build includes the provider (its cargo feature is on).
            pub fn is_compiled_in(self) -> bool {
                match self {
                    $(Self::$variant => cfg!(feature = $feature),)*
                }
            }

            /// The abuse rules the provider documents, if any (compiled-in providers only):
            /// keep below them, or the provider blocks the number or the account.
            pub fn guard_rules(self) -> Option<stk_core::GuardRules> {
                match self {
                    $($(
                        #[cfg(feature = $feature)]
                        Self::$variant => Some($guard()),
                    )?)*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }

        #[derive(Debug, Clone)]
        enum Settings {
            /// Keeps the enum inhabited-by-type in builds without any provider feature.
            #[allow(dead_code)]
            NoProvider(std::convert::Infallible),
            // Boxed: settings differ much in size (Daraja's holds a token cache).
            $(#[cfg(feature = $feature)] $variant(Box<$config>),)*
        }

        impl Settings {
            fn read(
                kind: ProviderKind,
                lookup: &dyn Fn(&str) -> Option<String>,
            ) -> Result<Self, Error> {
                match kind {
                    $(#[cfg(feature = $feature)]
                    ProviderKind::$variant => Ok(Self::$variant(Box::new(
                        <$config>::from_lookup(lookup)?,
                    ))),)*
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

            fn kind(&self) -> ProviderKind {
                match self {
                    Self::NoProvider(never) => match *never {},
                    $(#[cfg(feature = $feature)] Self::$variant(_) => ProviderKind::$variant,)*
                }
            }

            fn build(&self) -> Result<Box<dyn StkProvider>, Error> {
                match self {
                    Self::NoProvider(never) => match *never {},
                    $(#[cfg(feature = $feature)]
                    Self::$variant(config) => Ok(Box::new($build(config.as_ref().clone())?)),)*
                }
            }
        }
    };
}

providers! {
    /// The fake provider (feature `mock`).
    Mock = "mock", feature "mock", stk_mock::MockConfig => stk_mock::MockProvider::from_config;
    /// KulmiPay (feature `kulmipay`).
    KulmiPay = "kulmipay", feature "kulmipay",
        stk_kulmipay::KulmiPayConfig => stk_kulmipay::KulmiPay::new;
    /// UpesiPay (feature `upesipay`).
    UpesiPay = "upesipay", feature "upesipay",
        stk_upesipay::UpesiPayConfig => stk_upesipay::UpesiPay::new,
        guard stk_upesipay::guard_rules;
    /// Lipia Online (feature `lipia`).
    Lipia = "lipia", feature "lipia", stk_lipia::LipiaConfig => stk_lipia::Lipia::new;
    /// Safaricom Daraja (feature `daraja`).
    Daraja = "daraja", feature "daraja", stk_daraja::DarajaConfig => stk_daraja::Daraja::new;
}

impl ProviderKind {
    /// Every provider's name, for help and error messages: `mock, kulmipay, …`.
    pub fn names() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|k| k.as_str()).collect();
        names.join(", ")
    }

    /// The tracing target of the provider's crate (`stk_kulmipay`), for log filters.
    pub fn log_target(self) -> String {
        format!("stk_{}", self.as_str())
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
            .iter()
            .copied()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::config(
                    "stk",
                    format!("unknown provider {s:?}; expected one of {}", Self::names()),
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

/// `STK_PROVIDER`, if set and not blank.
fn provider_var(lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    lookup("STK_PROVIDER").filter(|v| !v.trim().is_empty())
}

impl ProviderConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `lookup` (for tests, or a config source other than the
    /// environment). `STK_PROVIDER` picks the provider.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let kind = match provider_var(&lookup) {
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
        self.settings.kind()
    }

    /// Builds the provider.
    pub fn build(&self) -> Result<Box<dyn StkProvider>, Error> {
        self.settings.build()
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
    fn the_table_names_every_provider_once() {
        assert_eq!(
            ProviderKind::names(),
            "mock, kulmipay, upesipay, lipia, daraja"
        );
        for &kind in ProviderKind::ALL {
            assert_eq!(kind.as_str().parse::<ProviderKind>().unwrap(), kind);
            assert_eq!(kind.log_target(), format!("stk_{kind}"));
        }
        let guarded: Vec<ProviderKind> = ProviderKind::ALL
            .iter()
            .copied()
            .filter(|k| k.guard_rules().is_some())
            .collect();
        let expected: &[ProviderKind] = if cfg!(feature = "upesipay") {
            &[ProviderKind::UpesiPay]
        } else {
            &[]
        };
        assert_eq!(guarded, expected, "only UpesiPay documents abuse rules");
    }

    #[test]
    fn unknown_provider_is_a_config_error() {
        let err = ProviderConfig::from_lookup(env(&[("STK_PROVIDER", "mpesa-magic")])).unwrap_err();
        assert_eq!(err.kind(), "config");
        assert!(err.to_string().contains("expected one of"), "{err}");
    }

    #[test]
    fn providers_not_compiled_in_say_which_feature() {
        for &kind in ProviderKind::ALL {
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
