//! The Lipia Online emulator's settings.

use std::fmt;

use super::LipiaCallbackShape;
use crate::emulator::{EmulatorOptions, emulator_options_setters};

/// Configures a [`LipiaEmulator`](super::LipiaEmulator).
#[derive(Clone)]
#[must_use]
pub struct LipiaEmulatorConfig {
    pub(super) options: EmulatorOptions,
    pub(super) api_key: String,
    pub(super) callback_shape: LipiaCallbackShape,
}

impl fmt::Debug for LipiaEmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.options
            .debug_struct(f, "LipiaEmulatorConfig")
            .field("callback_shape", &self.callback_shape)
            .finish_non_exhaustive()
    }
}

impl Default for LipiaEmulatorConfig {
    fn default() -> Self {
        Self {
            options: EmulatorOptions::new(0x4C49_5049, 3),
            api_key: "lipia-emulator-api-key".to_owned(),
            callback_shape: LipiaCallbackShape::Nested,
        }
    }
}

impl LipiaEmulatorConfig {
    emulator_options_setters!(
        options,
        /// How many times a callback is POSTed until the receiver acknowledges it with HTTP 200
        /// and the body `ok` (default 3).
        callback_attempts
    );

    /// The API key clients must send as `Authorization: Bearer <key>` (default
    /// `lipia-emulator-api-key`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }

    /// Which callback body shape to send (default [`LipiaCallbackShape::Nested`]).
    pub fn callback_shape(mut self, shape: LipiaCallbackShape) -> Self {
        self.callback_shape = shape;
        self
    }
}
