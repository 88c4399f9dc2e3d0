//! The UpesiPay emulator's settings.

use std::fmt;
use std::time::Duration;

use stk_core::PhoneNumber;
use stk_mock::Scenario;
use stk_mock::simulation::Script;

use super::UpesiPayAbuseRules;

/// Configures an [`UpesiPayEmulator`](super::UpesiPayEmulator).
#[derive(Clone)]
#[must_use]
pub struct UpesiPayEmulatorConfig {
    pub(super) port: u16,
    pub(super) token: String,
    pub(super) channel_id: u64,
    pub(super) delay: Duration,
    pub(super) seed: u64,
    pub(super) callback_attempts: u32,
    pub(super) scripts: Vec<(PhoneNumber, Script)>,
    pub(super) abuse: UpesiPayAbuseRules,
}

impl fmt::Debug for UpesiPayEmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpesiPayEmulatorConfig")
            .field("port", &self.port)
            .field("channel_id", &self.channel_id)
            .field("delay", &self.delay)
            .field("abuse", &self.abuse)
            .finish_non_exhaustive()
    }
}

impl Default for UpesiPayEmulatorConfig {
    fn default() -> Self {
        Self {
            port: 0,
            token: "emulator-basic-token".to_owned(),
            channel_id: 2133,
            delay: Duration::from_millis(100),
            seed: 0x5550_4553,
            callback_attempts: 5,
            scripts: Vec::new(),
            abuse: UpesiPayAbuseRules::documented(),
        }
    }
}

impl UpesiPayEmulatorConfig {
    /// The port to bind on `127.0.0.1` (default `0`: a free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The token clients must send as `Authorization: Basic <token>` (default
    /// `emulator-basic-token`).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// The payment channel id pushes must name (default `2133`, the docs' example).
    pub fn channel_id(mut self, channel_id: u64) -> Self {
        self.channel_id = channel_id;
        self
    }

    /// Time from acceptance to result for numbers without their own script (default 100 ms).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Seed for references and receipts.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How many times a callback is attempted until the receiver answers 2xx (default 5).
    pub fn callback_attempts(mut self, attempts: u32) -> Self {
        self.callback_attempts = attempts.max(1);
        self
    }

    /// Scripts one number's outcome and delay, overriding the test-number table.
    pub fn script(mut self, phone: PhoneNumber, scenario: Scenario, delay: Duration) -> Self {
        self.scripts.push((phone, Script::new(scenario, delay)));
        self
    }

    /// The abuse rules (default [`UpesiPayAbuseRules::documented`]).
    pub fn abuse_rules(mut self, rules: UpesiPayAbuseRules) -> Self {
        self.abuse = rules;
        self
    }
}
