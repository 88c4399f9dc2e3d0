//! Loopback HTTP emulators of the M-Pesa STK Push providers' wire APIs, with fault injection
//! and a ledger.
//!
//! Each emulator is an axum server bound to `127.0.0.1` that speaks one provider's documented
//! wire format (paths, auth headers, bodies, status codes), runs payments on the shared
//! [`Simulation`](stk_mock::simulation::Simulation) in real time (same test numbers as the
//! fake provider: [`stk_mock::TEST_NUMBERS`]), delivers webhooks, and records everything it
//! receives in a [`Ledger`]:
//!
//! - [`KulmiPayEmulator`], [`UpesiPayEmulator`], [`LipiaEmulator`], [`DarajaEmulator`]: one
//!   per provider (Daraja's with its OAuth token endpoint and expiring tokens);
//! - [`CallbackReceiver`]: a merchant's callback endpoint on loopback, for tests;
//! - `stk sandbox` (the CLI) runs the four emulators for trying the SDK without credentials.
//!
//! Faults are queued per test with [`Faults`]: each [`Fault`] applies to the next matching
//! request (optionally only to one [`Endpoint`]), including connection-level faults that
//! really close the socket, before or after the request body is read and the charge created.
//!
//! ```no_run
//! use stk_emulator::{Endpoint, Fault, KulmiPayEmulator, KulmiPayEmulatorConfig};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let emulator = KulmiPayEmulator::start(KulmiPayEmulatorConfig::default()).await?;
//! println!("KULMIPAY_BASE_URL={}", emulator.base_url());
//! emulator.faults().push_for(Endpoint::Initiate, Fault::CloseAfterBody);
//! // ... exercise a client; then:
//! assert!(emulator.ledger().charges().len() <= 1);
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```

mod daraja;
mod emulator;
mod faults;
mod kulmipay;
mod ledger;
mod lipia;
mod receiver;
mod server;
mod upesipay;
mod util;
mod webhook;

pub use daraja::{DarajaCallbackAttempt, DarajaEmulator, DarajaEmulatorConfig};
pub use faults::{Endpoint, Fault, Faults};
pub use kulmipay::{
    KulmiPayEmulator, KulmiPayEmulatorConfig, SIGNATURE_HEADER as KULMIPAY_SIGNATURE_HEADER,
};
pub use ledger::{Ledger, RecordedCharge, RecordedRequest, WebhookDelivery};
pub use lipia::{
    EXPECTED_SAFARICOM as LIPIA_EXPECTED_SAFARICOM, LipiaCallbackAttempt, LipiaCallbackShape,
    LipiaEmulator, LipiaEmulatorConfig,
};
pub use receiver::CallbackReceiver;
pub use server::ServerHandle;
pub use upesipay::{UpesiPayAbuseRules, UpesiPayEmulator, UpesiPayEmulatorConfig};
