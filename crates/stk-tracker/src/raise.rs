//! Evidence that changes no state (anomalies, claims for review) and the events of state
//! changes: what a payment's events carry.

use serde_json::{Value, json};
use stk_core::PaymentStatus;

use crate::AttemptState;
use crate::error::TrackerError;
use crate::event::{
    Anomaly, AnomalyKind, Completed as CompletedEvent, EventKind, EventPayment, Expired,
    Failed as FailedEvent, NeedsReview, NewEvent,
};
use crate::model::{Attempt, Source, Transition};
use crate::tracker::{ANOMALY_WINDOW, Evidence, Tracker, ms};

impl Tracker {
    /// A failed (or expired) attempt paid late while its order has another live attempt: the
    /// completion cannot be applied (one live attempt per order), and the customer may pay
    /// twice. Raised on both attempts.
    pub(crate) async fn paid_while_pushed_again(
        &self,
        attempt: &Attempt,
        evidence: &Evidence,
    ) -> Result<(), TrackerError> {
        let keys = crate::store::AttemptKeys {
            provider: &attempt.provider,
            reference: Some(&attempt.reference),
            ..crate::store::AttemptKeys::default()
        };
        let live = self
            .inner
            .store
            .find_attempt(&keys)
            .await?
            .filter(|live| live.id != attempt.id);
        let what = AnomalyKind::PaidLateOrderPushedAgain;
        let detail = json!({
            "live_attempt": live.as_ref().map(|l| &l.id),
            "evidence": evidence.detail,
        });
        self.anomaly(attempt, what, detail).await?;
        if let Some(live) = live {
            let detail = json!({ "paid_late_attempt": attempt.id, "evidence": evidence.detail });
            self.anomaly(&live, what, detail).await?;
        }
        Ok(())
    }

    /// Raises evidence refused because another attempt holds its id or receipt.
    pub(crate) async fn refuse_held(
        &self,
        attempt: &Attempt,
        evidence: &Evidence,
        (other, what, key): (Attempt, AnomalyKind, String),
    ) -> Result<(), TrackerError> {
        let detail = json!({
            "held_by": other.id,
            "held_by_reference": other.reference,
            "key": key,
            "evidence": evidence.detail,
        });
        self.anomaly(attempt, what, detail).await?;
        // The holder is told too: the provider gave its id (or receipt) to another order, so
        // what the provider says under it may be about that order.
        let reused = if what == AnomalyKind::ReceiptAlreadyUsed {
            AnomalyKind::ReceiptReused
        } else {
            AnomalyKind::PaymentIdReused
        };
        let detail =
            json!({ "also_given_to": attempt.id, "reference": attempt.reference, "key": key });
        self.anomaly(&other, reused, detail).await
    }

    /// Records an anomaly (evidence that changes no state: every one is on the attempt's
    /// timeline) and raises it as an event: one per attempt, kind and [`ANOMALY_WINDOW`],
    /// counting its occurrences, so a flood of forged claims is one event, not thousands.
    pub(crate) async fn anomaly(
        &self,
        attempt: &Attempt,
        what: AnomalyKind,
        detail: Value,
    ) -> Result<(), TrackerError> {
        let window = self.now() / ms(ANOMALY_WINDOW);
        let event_id = format!("{}:anomaly:{what}:{window}", attempt.id);
        tracing::warn!(attempt = %attempt.id, anomaly = %what, "payment anomaly");
        let kind = EventKind::Anomaly(Anomaly {
            payment: event_payment(attempt, attempt.state, None),
            kind: what,
            detail: detail.clone(),
        });
        self.raise(attempt, kind, detail, event_id).await
    }

    /// Records a claim the provider's answers cannot confirm or refute, and raises a
    /// `needs_review` event: one per attempt (each claim is on its timeline).
    pub(crate) async fn needs_review(
        &self,
        attempt: &Attempt,
        detail: Value,
    ) -> Result<(), TrackerError> {
        let event_id = format!("{}:needs_review", attempt.id);
        tracing::warn!(attempt = %attempt.id, "a payment claim needs review");
        let kind = EventKind::NeedsReview(NeedsReview {
            payment: event_payment(attempt, attempt.state, None),
            claim: detail.clone(),
        });
        self.raise(attempt, kind, detail, event_id).await
    }

    /// Evidence that changes no state: a timeline row and its event.
    async fn raise(
        &self,
        attempt: &Attempt,
        kind: EventKind,
        detail: Value,
        event_id: String,
    ) -> Result<(), TrackerError> {
        let now = self.now();
        let anomaly = match &kind {
            EventKind::Anomaly(a) => Some(a.kind.as_str()),
            _ => None,
        };
        let transition = Transition {
            attempt_id: attempt.id.clone(),
            from: attempt.state.as_str().to_owned(),
            to: kind.name().to_owned(),
            source: Source::Callback.as_str().to_owned(),
            evidence: json!({ "anomaly": anomaly, "detail": detail }),
            at: now,
        };
        let event = NewEvent {
            event_id,
            attempt_id: attempt.id.clone(),
            kind,
            at: now,
        };
        self.inner.store.note(&transition, Some(&event)).await?;
        self.inner.events.notify_one();
        Ok(())
    }
}

/// The provider's completion time, if the status is a completion that has one.
fn completed_at(status: Option<&PaymentStatus>) -> Option<&str> {
    match status {
        Some(PaymentStatus::Completed(done)) => done.completed_at.as_deref(),
        _ => None,
    }
}

/// The payment as an event carries it.
fn event_payment(attempt: &Attempt, state: AttemptState, payment_id: Option<&str>) -> EventPayment {
    EventPayment {
        attempt_id: attempt.id.clone(),
        provider: attempt.provider.clone(),
        reference: attempt.reference.clone(),
        amount: attempt.amount,
        phone: attempt.phone.clone(),
        payment_id: attempt.payment_id.clone().or(payment_id.map(str::to_owned)),
        state,
    }
}

/// The event for entering a final (or expired) state.
pub(crate) fn settled_event(
    attempt: &Attempt,
    to: AttemptState,
    evidence: &Evidence,
    receipt: Option<&str>,
    paid_late: bool,
) -> EventKind {
    let status = evidence.status.as_ref();
    let payment = event_payment(attempt, to, evidence.payment_id.as_deref());
    let previous_state = attempt.state;
    let status_json = status.and_then(|s| serde_json::to_value(s).ok());
    match to {
        AttemptState::Completed => EventKind::Completed(CompletedEvent {
            payment,
            receipt: attempt.receipt.as_deref().or(receipt).map(str::to_owned),
            transaction_time: completed_at(status).map(str::to_owned),
            previous_state,
            status: status_json,
            paid_late,
            source: Some(evidence.source),
        }),
        AttemptState::Failed => EventKind::Failed(FailedEvent {
            payment,
            reason: match status {
                Some(PaymentStatus::Failed(failure)) => Some(failure.reason.as_str().to_owned()),
                _ => evidence.detail["error"].as_str().map(str::to_owned),
            },
            previous_state,
            status: status_json,
            source: Some(evidence.source),
        }),
        _ => EventKind::Expired(Expired {
            payment,
            previous_state,
        }),
    }
}
