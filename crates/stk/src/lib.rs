//! Collect M-Pesa payments by STK Push, with the provider chosen by cargo feature.
//!
//! This facade re-exports [`stk_core`] (types, the [`StkProvider`] trait, errors) and the
//! provider crates compiled in:
//!
//! | feature | provider | module |
//! |---|---|---|
//! | `mock` (default) | the fake provider, no network | [`mock`] |
//! | `kulmipay` | KulmiPay | [`kulmipay`] |
//! | `upesipay` | UpesiPay | [`upesipay`] |
//! | `lipia` | Lipia Online | [`lipia`] |
//! | `daraja` | Safaricom Daraja (M-Pesa Express, your own paybill or till) | [`daraja`] |
//!
//! [`ProviderConfig`] picks a provider at run time from environment variables
//! (`STK_PROVIDER` plus the provider's own) and builds it as a `Box<dyn StkProvider>`:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), stk::Error> {
//! use stk::{ProviderConfig, StkPushRequest, PollPolicy, wait_for_final};
//!
//! // STK_PROVIDER unset: the fake provider.
//! let provider = ProviderConfig::from_lookup(|_| None)?.build()?;
//! let request = StkPushRequest::builder()
//!     .phone("0712345678").amount(100).reference("ORDER-1001").build()?;
//! let accepted = provider.initiate(&request).await?;
//! let status = wait_for_final(&provider, &accepted.payment_id, &PollPolicy::default()).await?;
//! assert_eq!(status.as_str(), "completed");
//! # Ok(()) }
//! ```

mod config;

pub use config::{ProviderConfig, ProviderKind};
pub use stk_core::*;

/// The fake provider (feature `mock`).
#[cfg(feature = "mock")]
pub use stk_mock as mock;

/// The KulmiPay adapter (feature `kulmipay`).
#[cfg(feature = "kulmipay")]
pub use stk_kulmipay as kulmipay;

/// The UpesiPay adapter (feature `upesipay`).
#[cfg(feature = "upesipay")]
pub use stk_upesipay as upesipay;

/// The Lipia Online adapter (feature `lipia`).
#[cfg(feature = "lipia")]
pub use stk_lipia as lipia;

/// The Safaricom Daraja adapter (feature `daraja`).
#[cfg(feature = "daraja")]
pub use stk_daraja as daraja;
