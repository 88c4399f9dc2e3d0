//! An account: a merchant's shop, or one of its shortcodes. Its own tracker (store and
//! providers), API key, webhook, rate limit and counters; references are unique per account.

use std::fmt;
use std::sync::Arc;

use stk_tracker::Tracker;

use crate::config::{AccountConfig, ConfigError, refuse};
use crate::limit::RateLimit;
use crate::metrics::Metrics;

/// The longest account name (it appears in callback URLs and metrics labels).
pub const MAX_ACCOUNT_NAME: usize = 32;

/// One account the service serves.
pub struct Account {
    name: String,
    pub(crate) tracker: Tracker,
    pub(crate) config: AccountConfig,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) limit: RateLimit,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("tracker", &self.tracker)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// An account named `name` (lowercase letters, digits, `-` and `_`, at most
    /// [`MAX_ACCOUNT_NAME`]): its callbacks arrive at `/v1/callbacks/{name}/{provider}`.
    pub fn new(name: &str, tracker: Tracker, config: AccountConfig) -> Result<Self, ConfigError> {
        check_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            limit: RateLimit::new(config.payments_per_second),
            tracker,
            config,
            metrics: Arc::default(),
        })
    }

    /// The account's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The account's tracker.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// The account's settings.
    pub fn config(&self) -> &AccountConfig {
        &self.config
    }
}

/// Lowercase letters, digits, `-` and `_`; at most [`MAX_ACCOUNT_NAME`].
pub(crate) fn check_name(name: &str) -> Result<(), ConfigError> {
    if stk::ProviderKind::ALL.iter().any(|k| k.as_str() == name) {
        return Err(refuse(
            format!("accounts.{name}"),
            "an account may not be named like a provider: /v1/callbacks/{provider}/… would be ambiguous",
        ));
    }
    let ok = !name.is_empty()
        && name.len() <= MAX_ACCOUNT_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(refuse(
            format!(
                "accounts.{}",
                name.chars().take(40).collect::<String>().escape_debug()
            ),
            format!(
                "an account name is 1 to {MAX_ACCOUNT_NAME} lowercase letters, digits, - or _ (it appears in callback URLs)"
            ),
        ))
    }
}

/// Refuses two accounts of one name, or sharing an API key (which would the key open?).
pub(crate) fn check_distinct(accounts: &[Account]) -> Result<(), ConfigError> {
    for (i, a) in accounts.iter().enumerate() {
        for b in &accounts[..i] {
            if a.name == b.name {
                return Err(refuse(
                    format!("accounts.{}", a.name),
                    "two accounts have this name",
                ));
            }
            if a.config.same_key(&b.config) {
                return Err(refuse(
                    format!("accounts.{}.api_key", a.name),
                    format!(
                        "the same key as account {}: give every account its own key",
                        b.name
                    ),
                ));
            }
        }
    }
    if accounts.is_empty() {
        return Err(refuse("accounts", "no account is configured"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_fit_in_a_url() {
        for good in ["duka", "shop-1", "till_2", &"a".repeat(MAX_ACCOUNT_NAME)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Duka",
            "a/b",
            "a b",
            "..",
            "é",
            "daraja",
            "mock",
            &"a".repeat(MAX_ACCOUNT_NAME + 1),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn an_accepted_name_is_a_plain_path_segment(name in "\\PC{0,40}") {
            if check_name(&name).is_ok() {
                prop_assert!(!name.is_empty() && name.len() <= MAX_ACCOUNT_NAME);
                prop_assert!(!name.contains(['/', '.', '%', '?', '#', '"', ' ']));
            }
        }
    }
}
