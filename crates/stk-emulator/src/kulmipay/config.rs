//! The KulmiPay emulator's settings.

use std::fmt;
use std::time::Duration;

use stk_core::PhoneNumber;
use stk_mock::Scenario;
use stk_mock::simulation::Script;

/// Configures a [`KulmiPayEmulator`](super::KulmiPayEmulator).
#[derive(Clone)]
#[must_use]
pub struct KulmiPayEmulatorConfig {
    pub(super) port: u16,
    pub(super) secret_key: String,
    pub(super) api_token: String,
    pub(super) delay: Duration,
    pub(super) seed: u64,
    pub(super) webhook_url: Option<String>,
    pub(super) webhook_challenge: Option<String>,
    pub(super) sign_webhooks: bool,
    pub(super) webhook_attempts: u32,
    pub(super) scripts: Vec<(PhoneNumber, Script)>,
}

impl fmt::Debug for KulmiPayEmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KulmiPayEmulatorConfig")
            .field("port", &self.port)
            .field("delay", &self.delay)
            .field("webhook_url", &self.webhook_url)
            .field("sign_webhooks", &self.sign_webhooks)
            .finish_non_exhaustive()
    }
}

impl Default for KulmiPayEmulatorConfig {
    fn default() -> Self {
        Self {
            port: 0,
            secret_key: "ISSecretKey_test_emulator".to_owned(),
            api_token: "emulator-api-token".to_owned(),
            delay: Duration::from_millis(100),
            seed: 0x4B55_4C4D,
            webhook_url: None,
            webhook_challenge: None,
            sign_webhooks: false,
            webhook_attempts: 5,
            scripts: Vec::new(),
        }
    }
}

impl KulmiPayEmulatorConfig {
    /// The port to bind on `127.0.0.1` (default `0`: a free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

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

    /// Time from acceptance to result for numbers without their own script (default 100 ms).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Seed for invoice ids and receipts.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
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

    /// How many times a webhook is attempted until the receiver answers 2xx (default 5).
    pub fn webhook_attempts(mut self, attempts: u32) -> Self {
        self.webhook_attempts = attempts.max(1);
        self
    }

    /// Scripts one number's outcome and delay, overriding the test-number table.
    pub fn script(mut self, phone: PhoneNumber, scenario: Scenario, delay: Duration) -> Self {
        self.scripts.push((phone, Script::new(scenario, delay)));
        self
    }
}
