//! The Daraja emulator's settings.

use std::fmt;
use std::time::Duration;

use crate::emulator::{EmulatorOptions, emulator_options_setters};

/// The sandbox's test shortcode, which the emulator serves by default.
pub(super) const SANDBOX_SHORTCODE: &str = "174379";
/// The sandbox shortcode's published passkey, which the emulator expects by default.
pub(super) const SANDBOX_PASSKEY: &str =
    "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";

/// Configures a [`DarajaEmulator`](super::DarajaEmulator).
#[derive(Clone)]
#[must_use]
pub struct DarajaEmulatorConfig {
    pub(super) options: EmulatorOptions,
    pub(super) consumer_key: String,
    pub(super) consumer_secret: String,
    pub(super) shortcode: String,
    pub(super) passkey: String,
    pub(super) till: Option<String>,
    pub(super) token_lifetime: Duration,
}

impl fmt::Debug for DarajaEmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.options
            .debug_struct(f, "DarajaEmulatorConfig")
            .field("shortcode", &self.shortcode)
            .field("till", &self.till)
            .field("token_lifetime", &self.token_lifetime)
            .finish_non_exhaustive()
    }
}

impl Default for DarajaEmulatorConfig {
    fn default() -> Self {
        Self {
            options: EmulatorOptions::new(0x4441_5241, 3),
            consumer_key: "daraja-emulator-consumer-key".to_owned(),
            consumer_secret: "daraja-emulator-consumer-secret".to_owned(),
            shortcode: SANDBOX_SHORTCODE.to_owned(),
            passkey: SANDBOX_PASSKEY.to_owned(),
            till: None,
            token_lifetime: Duration::from_secs(3599),
        }
    }
}

impl DarajaEmulatorConfig {
    emulator_options_setters!(
        options,
        /// How many times a callback is POSTed until the receiver acknowledges it with HTTP 200
        /// and a JSON body with `ResultCode` 0 (default 3).
        callback_attempts
    );

    /// The consumer key and secret clients must send (Basic) to get a token (default
    /// `daraja-emulator-consumer-key` / `daraja-emulator-consumer-secret`).
    pub fn consumer(mut self, key: impl Into<String>, secret: impl Into<String>) -> Self {
        self.consumer_key = key.into();
        self.consumer_secret = secret.into();
        self
    }

    /// The `BusinessShortCode` and its passkey (default the sandbox's `174379` and its
    /// published passkey).
    pub fn shortcode(mut self, shortcode: impl Into<String>, passkey: impl Into<String>) -> Self {
        self.shortcode = shortcode.into();
        self.passkey = passkey.into();
        self
    }

    /// A till number: Buy Goods pushes must send it as `PartyB` (default none: `PartyB` must
    /// be the shortcode).
    pub fn till(mut self, till: impl Into<String>) -> Self {
        self.till = Some(till.into());
        self
    }

    /// How long issued access tokens live (default 3599 s, Daraja's `expires_in`; at least one
    /// second). Expired tokens are refused with `404.001.03` "Invalid Access Token".
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime.max(Duration::from_secs(1));
        self
    }
}
