//! The UpesiPay emulator's settings.

use std::fmt;

use super::UpesiPayAbuseRules;
use crate::emulator::{EmulatorOptions, emulator_options_setters};

/// Configures an [`UpesiPayEmulator`](super::UpesiPayEmulator).
#[derive(Clone)]
#[must_use]
pub struct UpesiPayEmulatorConfig {
    pub(super) options: EmulatorOptions,
    pub(super) token: String,
    pub(super) channel_id: u64,
    pub(super) abuse: UpesiPayAbuseRules,
}

impl fmt::Debug for UpesiPayEmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.options
            .debug_struct(f, "UpesiPayEmulatorConfig")
            .field("channel_id", &self.channel_id)
            .field("abuse", &self.abuse)
            .finish_non_exhaustive()
    }
}

impl Default for UpesiPayEmulatorConfig {
    fn default() -> Self {
        Self {
            options: EmulatorOptions::new(0x5550_4553, 5),
            token: "emulator-basic-token".to_owned(),
            channel_id: 2133,
            abuse: UpesiPayAbuseRules::documented(),
        }
    }
}

impl UpesiPayEmulatorConfig {
    emulator_options_setters!(
        options,
        /// How many times a callback is attempted until the receiver answers 2xx (default 5).
        callback_attempts
    );

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

    /// The abuse rules (default [`UpesiPayAbuseRules::documented`]).
    pub fn abuse_rules(mut self, rules: UpesiPayAbuseRules) -> Self {
        self.abuse = rules;
        self
    }
}
