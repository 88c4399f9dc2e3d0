//! A fake M-Pesa STK Push provider for tests and local development.
//!
//! - [`MockProvider`]: an in-memory [`StkProvider`](stk_core::StkProvider) scripted by phone
//!   number (see [`TEST_NUMBERS`]), on tokio's clock, deterministic under a seed, emitting
//!   [`CallbackClaim`](stk_core::CallbackClaim)s on a channel.
//! - [`Scenario`] and [`TEST_NUMBERS`]: the test-number table, the outcome scripted for each
//!   number, shared by the fake provider and the HTTP emulators.
//! - [`simulation`]: the scripted payment engine it runs on, shared with the HTTP emulators
//!   (the `stk-emulator` crate: loopback HTTP emulators of each provider's wire API).

mod config;
mod fake;
mod scenario;
pub mod simulation;

pub use config::MockConfig;
pub use fake::{CALLBACK_TOKEN_HEADER, MockProvider, MockProviderBuilder, NAME};
pub use scenario::{Scenario, TEST_NUMBERS};
