//! Core types for collecting M-Pesa payments by STK Push (Lipa Na M-Pesa Express).
//!
//! `stk-core` holds what every provider shares: validated request types ([`PhoneNumber`],
//! [`Amount`], [`Reference`], [`StkPushRequest`]), the unified [`PaymentStatus`] and
//! [`Error`], the [`StkProvider`] trait, and [`wait_for_final`]. It has no HTTP client.
//!
//! ```
//! use stk_core::{StkPushRequest, PaymentStatus, ResultCode, FailureReason};
//!
//! let request = StkPushRequest::builder()
//!     .phone("0712345678")
//!     .amount(100)
//!     .reference("ORDER-1001")
//!     .build()?;
//! assert_eq!(request.amount().shillings(), 100);
//!
//! let status = ResultCode::new("1032").to_status(Some("Request cancelled by user".into()));
//! assert!(matches!(status, PaymentStatus::Failed(ref f) if f.reason == FailureReason::Cancelled));
//! # Ok::<(), stk_core::InvalidRequest>(())
//! ```

mod amount;
mod error;
mod guard;
mod phone;
mod poll;
mod provider;
mod reference;
mod request;
mod status;
mod webhook;

pub use amount::{Amount, AmountError, AmountLimits, MPESA_MAX_PER_TRANSACTION};
pub use error::{Cause, Error, ErrorKind, InvalidRequest, Operation, excerpt};
pub use guard::{
    AccountRule, DEFAULT_PENDING_CAPACITY, GuardRules, GuardScope, GuardStore, Guarded,
    MemoryGuardStore, PhoneRule,
};
pub use phone::{PhoneError, PhoneNumber};
pub use poll::{PollPolicy, wait_for_final, wait_for_final_with};
pub use provider::StkProvider;
pub use reference::{CallbackUrl, Description, FieldError, Metadata, Reference, is_loopback};
pub use request::{PaymentId, PushAccepted, StkPushRequest, StkPushRequestBuilder};
pub use status::{
    CallbackClaim, Completed, Failure, FailureReason, PaymentStatus, ResultCode, StatusReport,
};
pub use webhook::{CallbackAck, CallbackRequest, SeenEvents, secrets_match};

/// Re-exported so providers and wrappers can implement [`StkProvider`] without a direct
/// dependency on `async-trait`.
pub use async_trait::async_trait;
