//! A fake M-Pesa STK Push provider for tests and local development.
//!
//! - [`MockProvider`]: an in-memory [`StkProvider`](stk_core::StkProvider) scripted by phone
//!   number (see [`stk_core::scenario::TEST_NUMBERS`]), on tokio's clock, deterministic under
//!   a seed, emitting [`PaymentEvent`](stk_core::PaymentEvent)s on a channel.
//! - [`simulation`]: the scripted payment engine it runs on, shared with the HTTP emulators.
//! - `emulator` (feature `emulator`): loopback HTTP emulators of each provider's wire API,
//!   with fault injection and a ledger of what they received.

mod fake;
pub mod simulation;

#[cfg(feature = "emulator")]
pub mod emulator;

pub use fake::{CALLBACK_TOKEN_HEADER, MockProvider, MockProviderBuilder, NAME};
pub use stk_core::scenario::{Scenario, TEST_NUMBERS};
