//! An operator's decision for an attempt the provider's evidence could not settle
//! (`needs_review`, `expired`, or an outcome-unknown push): recorded as a transition with
//! source `operator` and the operator's note. A completed attempt never moves.

use serde_json::json;
use stk_core::{Amount, Completed, Failure, FailureReason, PaymentStatus};

use crate::error::TrackerError;
use crate::model::{Attempt, Source, Transition};
use crate::state::{AttemptState, next_state};
use crate::tracker::{Evidence, Tracker};

/// What an operator decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// The customer paid (e.g. the M-Pesa statement shows the receipt).
    Completed,
    /// The customer did not pay; the order may be pushed again.
    Failed,
}

/// The longest operator note kept.
pub const MAX_NOTE_CHARS: usize = 500;

impl Tracker {
    /// Records an operator's decision for `attempt_id`, with a note saying why (required)
    /// and, for a completion, the M-Pesa receipt if known (no other completed attempt may
    /// hold it). For attempts the provider's evidence could not settle: `created` (the push's
    /// answer was never recorded), `outcome_unknown`, `expired`, and `failed` (a payment the
    /// provider reported failed that the customer proves was made). Refused with
    /// [`TrackerError::NotResolvable`] for a completed attempt (it never moves), one the
    /// provider is still answering about (`submitted`, `pending`, `processing`), a failed one
    /// resolved as failed again, or a resolution another writer or the receipt rule
    /// prevented.
    pub async fn resolve(
        &self,
        attempt_id: &str,
        resolution: Resolution,
        note: &str,
        receipt: Option<&str>,
    ) -> Result<Attempt, TrackerError> {
        let attempt = self.attempt(attempt_id).await?;
        let refuse = |attempt: &Attempt, why| TrackerError::NotResolvable {
            attempt_id: attempt.id.clone(),
            state: attempt.state,
            why,
        };
        let note = checked_note(&attempt, note)?;
        // M-Pesa receipts are upper case: `uab1c2d3e4` is the same receipt.
        let receipt = receipt.map(|r| r.trim().to_ascii_uppercase());
        let receipt = receipt.as_deref();
        if receipt.is_some_and(|r| {
            r.is_empty() || r.len() > 20 || !r.bytes().all(|b| b.is_ascii_alphanumeric())
        }) {
            return Err(refuse(
                &attempt,
                "a receipt is 1 to 20 letters and digits (M-Pesa's are 10, e.g. UAB1C2D3E4)",
            ));
        }
        match attempt.state {
            AttemptState::Completed => {
                return Err(refuse(&attempt, "a completed attempt never moves"));
            }
            AttemptState::Submitted | AttemptState::Pending | AttemptState::Processing => {
                return Err(refuse(
                    &attempt,
                    "the provider has this push and will answer: run `stk payments reconcile`, or wait for its deadline",
                ));
            }
            _ => {}
        }
        let (target, status) = match resolution {
            Resolution::Completed => {
                let mut done = Completed::default().amount(Amount::new(attempt.amount).ok());
                done.receipt = receipt.map(str::to_owned);
                (AttemptState::Completed, PaymentStatus::Completed(done))
            }
            Resolution::Failed => {
                let mut failure = Failure::new(FailureReason::Other);
                failure.message = Some(note.to_owned());
                (AttemptState::Failed, PaymentStatus::Failed(failure))
            }
        };
        let evidence = Evidence::of_status(
            Source::Operator,
            status,
            json!({ "resolution": target, "note": note, "receipt": receipt }),
        );
        if next_state(attempt.state, evidence.observed).is_none() {
            return Err(refuse(&attempt, "it is already in that state"));
        }
        let after = self.apply(attempt, evidence).await?;
        if after.state != target {
            return Err(refuse(
                &after,
                "not recorded: another writer moved it first, or the receipt belongs to another attempt (see `stk payments show`)",
            ));
        }
        Ok(after)
    }

    /// Records that an operator reviewed the evidence on `attempt_id` awaiting review (see
    /// [`awaiting_review`]) and decided to leave its state as it is, with a note saying why:
    /// a transition row with source `operator` that moves nothing. The attempt leaves the
    /// review queue until new evidence arrives. `seen_up_to` is the time of the newest
    /// evidence the operator was shown: refused if newer evidence arrived since (they must
    /// look at it first), or if nothing awaits review; the review answers evidence up to that
    /// time only, so evidence arriving while it is recorded still awaits review.
    pub async fn mark_reviewed(
        &self,
        attempt_id: &str,
        note: &str,
        seen_up_to: i64,
    ) -> Result<Attempt, TrackerError> {
        let attempt = self.attempt(attempt_id).await?;
        let note = checked_note(&attempt, note)?;
        let timeline = self.inner.store.transitions(attempt_id).await?;
        let pending = awaiting_review(&timeline);
        let refuse = |why| TrackerError::NotResolvable {
            attempt_id: attempt.id.clone(),
            state: attempt.state,
            why,
        };
        if pending.is_empty() {
            return Err(refuse("no evidence on it awaits review"));
        }
        if pending.iter().any(|t| t.at > seen_up_to) {
            return Err(refuse(
                "new evidence arrived since you looked: reload the payment and review it too",
            ));
        }
        // The row answers evidence up to what was shown, never what arrives meanwhile: it is
        // dated at the newest evidence seen (the review's own time is in its evidence).
        let now = self.now();
        let row = Transition {
            attempt_id: attempt.id.clone(),
            from: attempt.state.as_str().to_owned(),
            to: "reviewed".to_owned(),
            source: Source::Operator.as_str().to_owned(),
            evidence: json!({ "note": note, "reviewed_at": now }),
            at: seen_up_to.min(now),
        };
        self.inner.store.note(&row, None).await?;
        Ok(attempt)
    }
}

/// Evidence on a timeline that a person must look at: anomalies, needs-review claims and
/// completions after `expired` or `failed` (paid late) that no operator row (a resolution or
/// a review) has followed. The store's review queue (`AttemptQuery::review_at`) uses the
/// same rule.
pub fn awaiting_review(timeline: &[Transition]) -> Vec<&Transition> {
    let answered = timeline
        .iter()
        .filter(|t| t.source == Source::Operator.as_str())
        .map(|t| t.at)
        .max()
        .unwrap_or(i64::MIN);
    timeline
        .iter()
        .filter(|t| t.at > answered && is_evidence(t))
        .collect()
}

fn is_evidence(t: &Transition) -> bool {
    t.to == "anomaly"
        || t.to == "needs_review"
        || (t.to == AttemptState::Completed.as_str()
            && (t.from == AttemptState::Expired.as_str()
                || t.from == AttemptState::Failed.as_str())
            && t.source != Source::Operator.as_str())
}

/// The note trimmed, or the refusal saying what a note must be.
fn checked_note<'a>(attempt: &Attempt, note: &'a str) -> Result<&'a str, TrackerError> {
    let note = note.trim();
    if note.is_empty()
        || note.chars().count() > MAX_NOTE_CHARS
        || note.chars().any(char::is_control)
    {
        return Err(TrackerError::NotResolvable {
            attempt_id: attempt.id.clone(),
            state: attempt.state,
            why: "the note must say why, in 1 to 500 characters without control characters",
        });
    }
    Ok(note)
}
