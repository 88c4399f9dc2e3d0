//! What can go wrong using the tracker.

use crate::model::Attempt;
use crate::store::StoreError;

/// A tracker failure. Each variant says what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrackerError {
    /// The store failed: nothing was recorded by this call; retry once it is back.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request is invalid, or the provider certainly did not accept the push (the attempt,
    /// if one was recorded, is `failed`; a new push for the order is allowed).
    #[error("{error}")]
    Provider {
        /// The SDK error.
        #[source]
        error: stk_core::Error,
        /// The attempt recorded for it, if any.
        attempt: Option<Box<Attempt>>,
    },
    /// The order already has a live attempt (or is paid): the existing attempt is returned
    /// instead of pushing again.
    #[error(
        "order {} already has a {} attempt ({}) with {}: not pushing again{}",
        .attempt.reference, .attempt.state, .attempt.id, .attempt.provider,
        if .attempt.state == crate::AttemptState::Completed { "; it is paid" } else { "; wait for it to settle, or check it with `stk payments show`" }
    )]
    AlreadyLive {
        /// The attempt that blocks a new push.
        attempt: Box<Attempt>,
    },
    /// No provider of that name is configured in this tracker.
    #[error("no provider named {0:?} is configured in the tracker")]
    UnknownProvider(String),
    /// No attempt with that id.
    #[error("no payment attempt {0:?}")]
    UnknownAttempt(String),
}

impl TrackerError {
    /// The SDK error kind name, `already_live`, `store`, `unknown_provider` or
    /// `unknown_attempt`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Store(_) => "store",
            Self::Provider { error, .. } => error.kind().as_str(),
            Self::AlreadyLive { .. } => "already_live",
            Self::UnknownProvider(_) => "unknown_provider",
            Self::UnknownAttempt(_) => "unknown_attempt",
        }
    }
}
