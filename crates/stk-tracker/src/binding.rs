//! The binding rules: when a provider's status answer may move an attempt. Written once here;
//! callbacks and the sweeper both ask [`judge`].
//!
//! | the id queried came from | the answer moves the attempt when |
//! |---|---|
//! | the provider's answer to our push ([`Tie::Own`]) | everything it names agrees: merchant reference, amount, phone |
//! | only a callback ([`Tie::Claimed`]) | it is `completed` **and** names this order's reference and amount (and phone, where returned) |
//!
//! Anything the answer names that disagrees is a mismatch: an anomaly, never a payment. An
//! answer that proves nothing (a failure or pending for a claimed id, or one that names no
//! order) is evidence only: the attempt needs review. A phone the provider returns in a form
//! that is not a Kenyan number (masked, hashed) is not compared.
//!
//! Two more rules live in the data: one provider payment id, and one receipt, per attempt
//! (unique indexes); an answer naming an id or receipt another attempt holds pays nothing.

use serde_json::{Value, json};
use stk_core::{CallbackClaim, PaymentStatus, StatusReport};

use crate::event::AnomalyKind;
use crate::model::Attempt;

/// How the id that was queried is tied to the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tie {
    /// The provider gave it in its answer to this attempt's push.
    Own,
    /// Only a callback supplied it: an outsider may have.
    Claimed,
}

/// What a status answer proves about an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It is about this attempt's order: apply it.
    Proven,
    /// It names another order, amount or phone: an anomaly, nothing moves.
    Mismatch {
        /// `merchant_reference`, `amount` or `phone`.
        field: &'static str,
    },
    /// It cannot tie the payment to this order: evidence only, the attempt needs review.
    Unproven {
        /// Why, for people.
        why: &'static str,
    },
}

/// Whether `report` (the answer to a query by an id tied as `tie`) may move `attempt`.
pub(crate) fn judge(attempt: &Attempt, report: &StatusReport, tie: Tie) -> Verdict {
    if let Some(field) = mismatch(attempt, report) {
        return Verdict::Mismatch { field };
    }
    if tie == Tie::Own {
        return Verdict::Proven;
    }
    let PaymentStatus::Completed(done) = &report.status else {
        return Verdict::Unproven {
            why: "only a completion can bind an id that a callback supplied; a failure or pending claim never does",
        };
    };
    if report.merchant_reference.is_none() {
        return Verdict::Unproven {
            why: "the provider's answer names no merchant reference, so the payment cannot be tied to this order",
        };
    }
    if done.amount.is_none() {
        return Verdict::Unproven {
            why: "the provider's answer names no amount, so the payment cannot be tied to this order",
        };
    }
    Verdict::Proven
}

/// The first field the answer names that disagrees with the attempt.
fn mismatch(attempt: &Attempt, report: &StatusReport) -> Option<&'static str> {
    if report
        .merchant_reference
        .as_deref()
        .is_some_and(|r| r != attempt.reference)
    {
        return Some("merchant_reference");
    }
    if let PaymentStatus::Completed(done) = &report.status {
        if done.amount.is_some_and(|a| a.shillings() != attempt.amount) {
            return Some("amount");
        }
    }
    match report.parsed_phone() {
        Some(Ok(phone)) if phone.international() != attempt.phone => Some("phone"),
        _ => None,
    }
}

/// A callback naming this attempt but itself claiming another reference or amount: an
/// anomaly before anything is asked.
pub(crate) fn claim_mismatch(attempt: &Attempt, event: &CallbackClaim) -> Option<AnomalyKind> {
    if event
        .merchant_reference
        .as_deref()
        .is_some_and(|r| r != attempt.reference)
    {
        return Some(AnomalyKind::ReferenceMismatch);
    }
    match &event.status {
        PaymentStatus::Completed(done)
            if done.amount.is_some_and(|a| a.shillings() != attempt.amount) =>
        {
            Some(AnomalyKind::AmountMismatch)
        }
        _ => None,
    }
}

impl Verdict {
    /// The verdict as evidence.
    pub(crate) fn to_json(&self) -> Value {
        match self {
            Self::Proven => json!({ "verdict": "proven" }),
            Self::Mismatch { field } => json!({ "verdict": "mismatch", "field": field }),
            Self::Unproven { why } => json!({ "verdict": "unproven", "why": why }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttemptState;
    use proptest::prelude::*;
    use stk_core::{Amount, Completed, Failure, FailureReason};

    fn attempt() -> Attempt {
        Attempt {
            id: "att_1".into(),
            provider: "lipia".into(),
            reference: "ORDER-1".into(),
            phone: "254712345678".into(),
            amount: 100,
            payment_id: None,
            checkout_request_id: None,
            receipt: None,
            state: AttemptState::OutcomeUnknown,
            version: 1,
            created_at: 0,
            updated_at: 0,
            deadline_at: 0,
            next_check_at: None,
            check_count: 0,
            last_error: None,
            claimed_at: None,
        }
    }

    fn paid(amount: Option<u64>) -> PaymentStatus {
        PaymentStatus::Completed(
            Completed::with_receipt("UAB1234567").amount(amount.map(|a| Amount::new(a).unwrap())),
        )
    }

    fn report(status: PaymentStatus, reference: Option<&str>, phone: Option<&str>) -> StatusReport {
        StatusReport::new(status)
            .merchant_reference(reference)
            .phone(phone)
    }

    #[test]
    fn the_documented_table() {
        let a = attempt();
        let full = report(paid(Some(100)), Some("ORDER-1"), Some("0712 345 678"));
        assert_eq!(judge(&a, &full, Tie::Claimed), Verdict::Proven);
        assert_eq!(judge(&a, &full, Tie::Own), Verdict::Proven);
        // Case 3: an answer about another order, amount or phone moves nothing.
        let other = report(paid(Some(100)), Some("OTHER-1"), Some("0712345678"));
        assert_eq!(
            judge(&a, &other, Tie::Own),
            Verdict::Mismatch {
                field: "merchant_reference"
            }
        );
        let dearer = report(paid(Some(1000)), Some("ORDER-1"), None);
        assert_eq!(
            judge(&a, &dearer, Tie::Own),
            Verdict::Mismatch { field: "amount" }
        );
        let phone = report(paid(Some(100)), Some("ORDER-1"), Some("+254 798 765 432"));
        assert_eq!(
            judge(&a, &phone, Tie::Claimed),
            Verdict::Mismatch { field: "phone" }
        );
        // A masked or hashed phone is not compared.
        let masked = report(paid(Some(100)), Some("ORDER-1"), Some("0712***678"));
        assert_eq!(judge(&a, &masked, Tie::Claimed), Verdict::Proven);
        // An answer naming nothing proves the own id's payment, never a claimed one.
        let bare = report(paid(None), None, None);
        assert_eq!(judge(&a, &bare, Tie::Own), Verdict::Proven);
        assert!(matches!(
            judge(&a, &bare, Tie::Claimed),
            Verdict::Unproven { .. }
        ));
        let no_amount = report(paid(None), Some("ORDER-1"), None);
        assert!(matches!(
            judge(&a, &no_amount, Tie::Claimed),
            Verdict::Unproven { .. }
        ));
        // Case 2: a failure claim never binds, even when the answer names this order.
        let failed = report(
            PaymentStatus::Failed(Failure::new(FailureReason::Cancelled)),
            Some("ORDER-1"),
            Some("0712345678"),
        );
        assert!(matches!(
            judge(&a, &failed, Tie::Claimed),
            Verdict::Unproven { .. }
        ));
        assert_eq!(judge(&a, &failed, Tie::Own), Verdict::Proven);
    }

    fn status() -> impl Strategy<Value = PaymentStatus> {
        prop_oneof![
            Just(PaymentStatus::Pending),
            Just(PaymentStatus::Processing),
            proptest::option::of(prop_oneof![Just(100_u64), 1..200_000_u64]).prop_map(paid),
            Just(PaymentStatus::Failed(Failure::new(FailureReason::Timeout))),
        ]
    }

    proptest! {
        /// Whatever the answer says, a claimed id binds only a completion that names this
        /// order's reference and amount, and never one naming another reference, amount or
        /// phone; an own id moves unless something it names disagrees.
        #[test]
        fn binds_only_on_the_providers_own_proof(
            status in status(),
            reference in proptest::option::of(prop_oneof![Just("ORDER-1".to_owned()), "[A-Z0-9-]{1,12}"]),
            phone in proptest::option::of(prop_oneof![Just("0712345678".to_owned()), Just("254798765432".to_owned()), "[0-9*+ ]{0,14}"]),
        ) {
            let a = attempt();
            let r = report(status.clone(), reference.as_deref(), phone.as_deref());
            let same_reference = r.merchant_reference.as_deref().is_none_or(|x| x == "ORDER-1");
            let amount = match &status { PaymentStatus::Completed(c) => c.amount.map(Amount::shillings), _ => None };
            let same_amount = amount.is_none_or(|x| x == 100);
            let same_phone = match r.parsed_phone() { Some(Ok(p)) => p.international() == a.phone, _ => true };
            let agrees = same_reference && same_amount && same_phone;
            prop_assert_eq!(judge(&a, &r, Tie::Own) == Verdict::Proven, agrees);
            let claimed_binds = judge(&a, &r, Tie::Claimed) == Verdict::Proven;
            let names_order = r.merchant_reference.as_deref() == Some("ORDER-1") && amount == Some(100);
            prop_assert_eq!(claimed_binds, agrees && names_order && matches!(status, PaymentStatus::Completed(_)));
        }
    }
}
