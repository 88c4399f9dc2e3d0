//! The KulmiPay emulator's settings.

use std::fmt;

use crate::emulator::{EmulatorOptions, emulator_options_setters};

/// Configures a [`KulmiPayEmulator`](super::KulmiPayEmulator).
#[derive(Clone)]
#[must_use]
pub struct KulmiPayEmulatorConfig {
    pub(super) options: EmulatorOptions,
    pub(super) secret_key: String,
    pub(super) api_token: String,
    pub(super) webhook_url: Option<String>,
    pub(super) webhook_challenge: Option<String>,
    pub(super) sign_webhooks: bool,
}

impl fmt::Debug for KulmiPayEmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.options
            .debug_struct(f, "KulmiPayEmulatorConfig")
            .field("webhook_url", &self.webhook_url)
            .field("sign_webhooks", &self.sign_webhooks)
            .finish_non_exhaustive()
    }
}

impl Default for KulmiPayEmulatorConfig {
    fn default() -> Self {
        Self {
            options: EmulatorOptions::new(0x4B55_4C4D, 5),
            secret_key: "ISSecretKey_test_emulator".to_owned(),
            api_token: "emulator-api-token".to_owned(),
            webhook_url: None,
            webhook_challenge: None,
            sign_webhooks: false,
        }
    }
}

impl KulmiPayEmulatorConfig {
    emulator_options_setters!(
        options,
        /// How many times a webhook is attempted until the receiver answers 2xx (default 5).
        webhook_attempts
    );

    /// The secret key clients must send (default `ISSecretKey_test_emulator`).
    pub fn secret_key(mut self, key: impl Into<String>) -> Self {
        self.secret_key = key.into();
        self
    }

    /// The API token the collection API requires as its Bearer token (default
    /// `emulator-api-token`).
    pub fn api_token(mut self, token: impl Into<String>) -> Self {
        self.api_token = token.into();
        self
    }

    /// Where to POST `collection_event` webhooks (none by default).
    pub fn webhook_url(mut self, url: impl Into<String>) -> Self {
        self.webhook_url = Some(url.into());
        self
    }

    /// The `challenge` secret put in every webhook body.
    pub fn webhook_challenge(mut self, challenge: impl Into<String>) -> Self {
        self.webhook_challenge = Some(challenge.into());
        self
    }

    /// Whether to add [`SIGNATURE_HEADER`](super::SIGNATURE_HEADER) (HMAC-SHA256 of the body
    /// keyed by the challenge) to webhooks. Off by default, as in the newer docs.
    pub fn sign_webhooks(mut self, sign: bool) -> Self {
        self.sign_webhooks = sign;
        self
    }
}
