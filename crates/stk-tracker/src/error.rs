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
    /// The provider's backlog of unprocessed callbacks is full: answer 503 (it retries).
    #[error("{provider}'s callback backlog is full: try again later")]
    Overloaded {
        /// The provider.
        provider: &'static str,
    },
    /// A callback that is not this provider's or fails its verification, refused before
    /// anything was stored (answer it 4xx; it is counted, see `Store::refused`).
    #[error("{error}")]
    Refused {
        /// The provider whose route it came in on.
        provider: &'static str,
        /// Why.
        #[source]
        error: stk_core::Error,
    },
    /// The push was sent (it may have been accepted) but the store failed while recording
    /// the answer: the outcome is unknown here. Never push again for the order.
    #[error(
        "the push for order {reference} may have gone out{}, but recording it failed ({source}): \
         do not push again for this order; once the store is back, run `stk payments reconcile {attempt_id}`{}",
        .payment_id.as_ref().map(|id| format!(" (the provider accepted it as payment {id})")).unwrap_or_default(),
        .payment_id.as_ref().map(|id| format!(" or query `stk status {id}`")).unwrap_or_default()
    )]
    Unrecorded {
        /// The attempt recorded before sending (its row may still say `created`).
        attempt_id: String,
        /// The order.
        reference: String,
        /// The provider's payment id, if its answer arrived.
        payment_id: Option<String>,
        /// What the store said.
        source: StoreError,
    },
    /// An operator's resolution that the attempt's state does not allow (a completed attempt
    /// never moves).
    #[error("attempt {attempt_id} is {state}: {why}")]
    NotResolvable {
        /// The attempt.
        attempt_id: String,
        /// Its state.
        state: crate::AttemptState,
        /// Why not.
        why: &'static str,
    },
}

impl TrackerError {
    /// The SDK error kind name, `already_live`, `store`, `unknown_provider`,
    /// `unknown_attempt`, `outcome_unknown` (sent, not recorded) or `not_resolvable`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Store(_) => "store",
            Self::Unrecorded { .. } => "outcome_unknown",
            Self::Refused { .. } => "invalid_callback",
            Self::Overloaded { .. } => "overloaded",
            Self::NotResolvable { .. } => "not_resolvable",
            Self::Provider { error, .. } => error.kind().as_str(),
            Self::AlreadyLive { .. } => "already_live",
            Self::UnknownProvider(_) => "unknown_provider",
            Self::UnknownAttempt(_) => "unknown_attempt",
        }
    }
}
