//! The Lipia Online emulator's settings.

use std::fmt;
use std::time::Duration;

use stk_core::PhoneNumber;
use stk_mock::Scenario;
use stk_mock::simulation::Script;

use super::LipiaCallbackShape;

/// Configures a [`LipiaEmulator`](super::LipiaEmulator).
#[derive(Clone)]
#[must_use]
pub struct LipiaEmulatorConfig {
    pub(super) port: u16,
    pub(super) api_key: String,
    pub(super) delay: Duration,
    pub(super) seed: u64,
    pub(super) callback_attempts: u32,
    pub(super) callback_shape: LipiaCallbackShape,
    pub(super) scripts: Vec<(PhoneNumber, Script)>,
}

impl fmt::Debug for LipiaEmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LipiaEmulatorConfig")
            .field("port", &self.port)
            .field("delay", &self.delay)
            .field("callback_shape", &self.callback_shape)
            .finish_non_exhaustive()
    }
}

impl Default for LipiaEmulatorConfig {
    fn default() -> Self {
        Self {
            port: 0,
            api_key: "lipia-emulator-api-key".to_owned(),
            delay: Duration::from_millis(100),
            seed: 0x4C49_5049,
            callback_attempts: 3,
            callback_shape: LipiaCallbackShape::Nested,
            scripts: Vec::new(),
        }
    }
}

impl LipiaEmulatorConfig {
    /// The port to bind on `127.0.0.1` (default `0`: a free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The API key clients must send as `Authorization: Bearer <key>` (default
    /// `lipia-emulator-api-key`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }

    /// Time from acceptance to result for numbers without their own script (default 100 ms).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Seed for references, request ids and receipts.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How many times a callback is POSTed until the receiver acknowledges it with HTTP 200
    /// and the body `ok` (default 3).
    pub fn callback_attempts(mut self, attempts: u32) -> Self {
        self.callback_attempts = attempts.max(1);
        self
    }

    /// Which callback body shape to send (default [`LipiaCallbackShape::Nested`]).
    pub fn callback_shape(mut self, shape: LipiaCallbackShape) -> Self {
        self.callback_shape = shape;
        self
    }

    /// Scripts one number's outcome and delay, overriding the test-number table.
    pub fn script(mut self, phone: PhoneNumber, scenario: Scenario, delay: Duration) -> Self {
        self.scripts.push((phone, Script::new(scenario, delay)));
        self
    }
}
