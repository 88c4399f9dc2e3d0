//! The attempt state machine: forward only, final states never move backwards.
//!
//! ```text
//! created ─┬─> submitted <─────┐ (a late "accepted")
//!          ├─> outcome_unknown ┼─> pending ─> processing ─┬─> completed
//!          └─> failed          │                          ├─> failed ──> completed (paid late: anomaly)
//!                              └──────────────────────────┴─> expired ─> completed | failed
//! ```
//!
//! `expired` means "past the deadline with no final evidence: needs review"; it blocks a
//! second push for the order, since the first may still be paid. A local deadline never makes
//! a payment `failed`: only the provider's evidence does.

use std::fmt;
use std::str::FromStr;

/// Where a payment attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AttemptState {
    /// Recorded; the push is being sent (or the process died while sending it).
    Created,
    /// The provider accepted the push.
    Submitted,
    /// The push may or may not have reached the provider; resolved by status queries or a
    /// callback, never by a second push.
    OutcomeUnknown,
    /// The provider says the customer has not acted yet.
    Pending,
    /// The provider says the customer is paying.
    Processing,
    /// Paid. Final.
    Completed,
    /// Not paid (the provider said so, or it certainly never accepted the push). Final, except
    /// that a later completion is applied as a "paid late" anomaly.
    Failed,
    /// Past its deadline without final evidence: needs review.
    Expired,
}

impl AttemptState {
    /// Every state.
    pub const ALL: [Self; 8] = [
        Self::Created,
        Self::Submitted,
        Self::OutcomeUnknown,
        Self::Pending,
        Self::Processing,
        Self::Completed,
        Self::Failed,
        Self::Expired,
    ];

    /// The stable snake_case name (as stored).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Submitted => "submitted",
            Self::OutcomeUnknown => "outcome_unknown",
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }

    /// Whether the provider has given final evidence (completed or failed).
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }

    /// Whether the state still needs provider evidence (the sweeper checks these).
    pub const fn is_open(self) -> bool {
        matches!(
            self,
            Self::Created
                | Self::Submitted
                | Self::OutcomeUnknown
                | Self::Pending
                | Self::Processing
        )
    }

    /// Whether a second push for the same order must be refused: everything but `failed`.
    pub const fn blocks_new_push(self) -> bool {
        !matches!(self, Self::Failed)
    }
}

impl fmt::Display for AttemptState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for AttemptState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown attempt state {s:?}"))
    }
}

/// What a piece of evidence says about an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Observed {
    /// `initiate` answered: accepted.
    Accepted,
    /// `initiate` may have reached the provider (or the process died while sending).
    OutcomeUnknown,
    /// `initiate` was certainly not accepted (refused, unavailable, rate limited, invalid).
    NotAccepted,
    /// The provider says pending.
    Pending,
    /// The provider says processing.
    Processing,
    /// The provider says completed.
    Completed,
    /// The provider says failed.
    Failed,
    /// The local deadline passed with no final evidence.
    DeadlinePassed,
}

/// The state `observed` moves `current` to, or `None` when it changes nothing (stale,
/// duplicate or backwards evidence).
pub fn next_state(current: AttemptState, observed: Observed) -> Option<AttemptState> {
    use AttemptState as S;
    let open = current.is_open();
    let next = match observed {
        // A late answer to the push (after a sweep or a crash marked it unknown) still brings
        // the provider's ids.
        Observed::Accepted if matches!(current, S::Created | S::OutcomeUnknown) => S::Submitted,
        Observed::OutcomeUnknown if current == S::Created => S::OutcomeUnknown,
        Observed::NotAccepted if current == S::Created => S::Failed,
        Observed::Pending if matches!(current, S::Created | S::Submitted | S::OutcomeUnknown) => {
            S::Pending
        }
        Observed::Processing
            if matches!(
                current,
                S::Created | S::Submitted | S::OutcomeUnknown | S::Pending
            ) =>
        {
            S::Processing
        }
        Observed::Completed if current != S::Completed => S::Completed,
        Observed::Failed if open || current == S::Expired => S::Failed,
        Observed::DeadlinePassed if open => S::Expired,
        _ => return None,
    };
    Some(next)
}

/// Whether moving from `from` to `to` is an anomaly to raise: a completion after a failure or
/// an expiry ("paid late").
pub(crate) fn is_paid_late(from: AttemptState, to: AttemptState) -> bool {
    to == AttemptState::Completed && matches!(from, AttemptState::Failed | AttemptState::Expired)
}

/// The states that emit an event to user code when entered.
pub(crate) fn emits_event(state: AttemptState) -> bool {
    matches!(
        state,
        AttemptState::Completed | AttemptState::Failed | AttemptState::Expired
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn observed() -> impl Strategy<Value = Observed> {
        prop_oneof![
            Just(Observed::Accepted),
            Just(Observed::OutcomeUnknown),
            Just(Observed::NotAccepted),
            Just(Observed::Pending),
            Just(Observed::Processing),
            Just(Observed::Completed),
            Just(Observed::Failed),
            Just(Observed::DeadlinePassed),
        ]
    }

    #[test]
    fn names_round_trip() {
        for state in AttemptState::ALL {
            assert_eq!(state.as_str().parse::<AttemptState>(), Ok(state));
        }
        assert!("paid".parse::<AttemptState>().is_err());
    }

    #[test]
    fn documented_paths() {
        use AttemptState as S;
        assert_eq!(
            next_state(S::Created, Observed::Accepted),
            Some(S::Submitted)
        );
        assert_eq!(next_state(S::Submitted, Observed::Accepted), None);
        assert_eq!(
            next_state(S::OutcomeUnknown, Observed::Accepted),
            Some(S::Submitted)
        );
        assert_eq!(next_state(S::Pending, Observed::Accepted), None);
        assert_eq!(next_state(S::Processing, Observed::Pending), None);
        assert_eq!(next_state(S::Completed, Observed::Failed), None);
        assert_eq!(
            next_state(S::Failed, Observed::Completed),
            Some(S::Completed)
        );
        assert_eq!(next_state(S::Expired, Observed::Failed), Some(S::Failed));
        assert_eq!(
            next_state(S::Pending, Observed::DeadlinePassed),
            Some(S::Expired)
        );
        assert_eq!(next_state(S::Failed, Observed::DeadlinePassed), None);
        assert!(is_paid_late(S::Failed, S::Completed));
    }

    proptest! {
        /// No sequence of evidence moves a completed attempt, emits two events for one final
        /// state, or fails a completed one.
        #[test]
        fn forward_only_and_one_event_per_final_state(events in proptest::collection::vec(observed(), 0..40)) {
            let mut state = AttemptState::Created;
            let mut emitted: Vec<AttemptState> = Vec::new();
            for e in events {
                let before = state;
                if let Some(next) = next_state(state, e) {
                    prop_assert_ne!(next, before, "a transition always changes the state");
                    prop_assert_ne!(before, AttemptState::Completed, "completed is final");
                    if emits_event(next) {
                        prop_assert!(!emitted.contains(&next), "second {next} event");
                        emitted.push(next);
                    }
                    state = next;
                }
            }
            // Once completed, it stays completed.
            if emitted.contains(&AttemptState::Completed) {
                prop_assert_eq!(state, AttemptState::Completed);
            }
        }
    }
}
