//! Events to user code, typed: what happened to a payment, with what the tracker knows.
//!
//! The JSON form (stored in the outbox, printed by `stk listen --json`) is stable:
//!
//! ```json
//! {"event_id": "att_…:completed", "attempt_id": "att_…", "kind": "completed",
//!  "payload": {"attempt_id": "att_…", "provider": "mock", "reference": "ORDER-1",
//!              "amount": 100, "phone": "254712345678", "payment_id": "…", "state": "completed",
//!              "receipt": "SKQ96C7K7H", "transaction_time": "…", "previous_state": "pending",
//!              "status": {…}, "anomaly": null},
//!  "created_at": 1700000000000, "deliveries": 0, "occurrences": 1,
//!  "delivered_at": null, "next_attempt_at": 1700000000000, "last_error": null}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AttemptState;
use crate::model::Source;

/// An event as delivered to user code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// Stable id: the same on every re-delivery (use it to make the effect idempotent).
    pub event_id: String,
    /// The attempt.
    pub attempt_id: String,
    /// What happened, with its details.
    #[serde(flatten)]
    pub kind: EventKind,
    /// When it was recorded (Unix ms).
    pub created_at: i64,
    /// Earlier delivery tries.
    pub deliveries: i64,
    /// How many times it was raised before delivery (an anomaly of one kind on one attempt
    /// within [`ANOMALY_WINDOW`](crate::ANOMALY_WINDOW) is one event); 1 for others.
    pub occurrences: i64,
    /// When the handler acknowledged it (Unix ms); `None` while undelivered.
    #[serde(default)]
    pub delivered_at: Option<i64>,
    /// When the next try is due (Unix ms), while undelivered.
    #[serde(default)]
    pub next_attempt_at: i64,
    /// Why the last try failed, if it did.
    #[serde(default)]
    pub last_error: Option<String>,
}

impl Event {
    /// The payment as it stood when the event was raised.
    pub fn payment(&self) -> &EventPayment {
        self.kind.payment()
    }
}

/// What happened. Serialized as `"kind": "<name>", "payload": {…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// Paid: fulfil the order (unless [`Completed::paid_late`] says to look first).
    Completed(Completed),
    /// Not paid, per the provider (a new push for the order is allowed).
    Failed(Failed),
    /// Past the deadline without the provider's final word: needs a person (the payment may
    /// still complete; a new push is refused until it is resolved).
    Expired(Expired),
    /// A claim the provider's answers can neither confirm nor refute: decide with
    /// `Tracker::resolve` (`stk payments resolve`).
    NeedsReview(NeedsReview),
    /// Evidence that changes no state but deserves a look (a forged or mismatched claim, an id
    /// given to two orders).
    Anomaly(Anomaly),
}

impl EventKind {
    /// The stable name: `completed`, `failed`, `expired`, `needs_review` or `anomaly`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Completed(_) => "completed",
            Self::Failed(_) => "failed",
            Self::Expired(_) => "expired",
            Self::NeedsReview(_) => "needs_review",
            Self::Anomaly(_) => "anomaly",
        }
    }

    /// The payment as it stood when the event was raised.
    pub fn payment(&self) -> &EventPayment {
        match self {
            Self::Completed(e) => &e.payment,
            Self::Failed(e) => &e.payment,
            Self::Expired(e) => &e.payment,
            Self::NeedsReview(e) => &e.payment,
            Self::Anomaly(e) => &e.payment,
        }
    }

    /// The stored form: the kind's name and its payload as JSON.
    pub(crate) fn to_stored(&self) -> (&'static str, String) {
        let payload = match serde_json::to_value(self) {
            Ok(Value::Object(mut map)) => map.remove("payload").unwrap_or(Value::Null),
            _ => Value::Null,
        };
        (self.name(), payload.to_string())
    }

    /// Reads the stored form back.
    pub(crate) fn from_stored(kind: &str, payload: &str) -> Result<Self, serde_json::Error> {
        let payload: Value = serde_json::from_str(payload)?;
        serde_json::from_value(serde_json::json!({ "kind": kind, "payload": payload }))
    }
}

/// The payment an event is about, as it stood when the event was raised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventPayment {
    /// The attempt.
    pub attempt_id: String,
    /// The provider name.
    pub provider: String,
    /// The merchant reference (the order).
    pub reference: String,
    /// Whole shillings asked.
    pub amount: u64,
    /// The phone charged, canonical `254…`.
    pub phone: String,
    /// The provider's payment id, if known.
    pub payment_id: Option<String>,
    /// The attempt's state (for a state change, the new one).
    pub state: AttemptState,
}

/// The payment completed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Completed {
    /// The payment.
    #[serde(flatten)]
    pub payment: EventPayment,
    /// The M-Pesa receipt, if the provider gave one.
    pub receipt: Option<String>,
    /// The provider's completion time, as it sent it.
    pub transaction_time: Option<String>,
    /// The state before.
    pub previous_state: AttemptState,
    /// The provider's status answer that proved it, as JSON.
    pub status: Option<Value>,
    /// Paid after the attempt was `failed` or `expired`: the customer may have been asked
    /// again meanwhile; look before fulfilling twice. JSON: `"anomaly": "paid_late"`.
    #[serde(rename = "anomaly", with = "paid_late")]
    pub paid_late: bool,
    /// What proved it: a status query, a confirmed callback, or an operator's decision
    /// (`operator`: no provider answer, a person's word). `None` in events stored before.
    #[serde(default)]
    pub source: Option<Source>,
}

/// The payment failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Failed {
    /// The payment.
    #[serde(flatten)]
    pub payment: EventPayment,
    /// Why, as the provider's unified reason (`cancelled`, `insufficient_funds`, …), when it
    /// gave one.
    #[serde(default)]
    pub reason: Option<String>,
    /// The state before.
    pub previous_state: AttemptState,
    /// The provider's status answer (or the operator's decision), as JSON.
    pub status: Option<Value>,
    /// What said so: the push's answer, a status query, or an operator's decision. `None` in
    /// events stored before.
    #[serde(default)]
    pub source: Option<Source>,
}

/// The payment passed its deadline without the provider's final word.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Expired {
    /// The payment.
    #[serde(flatten)]
    pub payment: EventPayment,
    /// The state before.
    pub previous_state: AttemptState,
}

/// A claim that needs a person's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NeedsReview {
    /// The payment.
    #[serde(flatten)]
    pub payment: EventPayment,
    /// The claim and why it cannot be settled (`"why"`), as JSON.
    #[serde(rename = "detail")]
    pub claim: Value,
}

/// An anomaly: see [`Event::occurrences`] for how many times it was raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Anomaly {
    /// The payment.
    #[serde(flatten)]
    pub payment: EventPayment,
    /// Which anomaly.
    #[serde(rename = "anomaly")]
    pub kind: AnomalyKind,
    /// The evidence, as JSON.
    pub detail: Value,
}

/// Which anomaly: each names evidence the tracker refused or could not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AnomalyKind {
    /// A callback named this attempt with another order reference.
    ReferenceMismatch,
    /// A callback claimed completion for another amount.
    AmountMismatch,
    /// The provider's status answer disagrees with what it said before, or with the order.
    StatusMismatch,
    /// Evidence gave this attempt a payment id another attempt holds.
    PaymentIdAlreadyBound,
    /// This attempt's payment id was also given to another attempt.
    PaymentIdReused,
    /// Evidence gave this attempt a receipt another completed attempt holds.
    ReceiptAlreadyUsed,
    /// This attempt's receipt was also given to another attempt.
    ReceiptReused,
    /// Claims processed together named different receipts: none was taken from them.
    ReceiptConflict,
    /// A failed or expired attempt was paid after the order was pushed again.
    PaidLateOrderPushedAgain,
    /// Found when the store was upgraded: two attempts held one payment id (the older kept it).
    DuplicatePaymentId,
    /// Found when the store was upgraded: two completed attempts held one receipt.
    DuplicateReceipt,
    /// An anomaly this version does not know (written by a newer one).
    #[serde(other)]
    Other,
}

impl AnomalyKind {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReferenceMismatch => "reference_mismatch",
            Self::AmountMismatch => "amount_mismatch",
            Self::StatusMismatch => "status_mismatch",
            Self::PaymentIdAlreadyBound => "payment_id_already_bound",
            Self::PaymentIdReused => "payment_id_reused",
            Self::ReceiptAlreadyUsed => "receipt_already_used",
            Self::ReceiptReused => "receipt_reused",
            Self::ReceiptConflict => "receipt_conflict",
            Self::PaidLateOrderPushedAgain => "paid_late_order_pushed_again",
            Self::DuplicatePaymentId => "duplicate_payment_id",
            Self::DuplicateReceipt => "duplicate_receipt",
            Self::Other => "other",
        }
    }
}

impl std::fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `paid_late: bool` as `"anomaly": "paid_late" | null`.
mod paid_late {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(late: &bool, s: S) -> Result<S::Ok, S::Error> {
        if *late {
            s.serialize_str("paid_late")
        } else {
            s.serialize_none()
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        Ok(Option::<String>::deserialize(d)?.as_deref() == Some("paid_late"))
    }
}

/// An event for user code, in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct NewEvent {
    /// Stable and unique: `<attempt id>:<kind>` (re-deliveries carry the same id).
    pub event_id: String,
    /// The attempt.
    pub attempt_id: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
    /// When (Unix ms).
    pub at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(state: AttemptState) -> EventPayment {
        EventPayment {
            attempt_id: "att_1".into(),
            provider: "daraja".into(),
            reference: "ORDER-1".into(),
            amount: 100,
            phone: "254712345678".into(),
            payment_id: Some("ws_CO_1".into()),
            state,
        }
    }

    fn every_kind() -> Vec<EventKind> {
        vec![
            EventKind::Completed(Completed {
                payment: payment(AttemptState::Completed),
                receipt: Some("SKQ96C7K7H".into()),
                transaction_time: Some("20261207101112".into()),
                previous_state: AttemptState::Expired,
                status: Some(serde_json::json!({"status": "completed", "receipt": "SKQ96C7K7H"})),
                paid_late: true,
                source: Some(Source::StatusQuery),
            }),
            EventKind::Failed(Failed {
                payment: payment(AttemptState::Failed),
                reason: Some("cancelled".into()),
                previous_state: AttemptState::Pending,
                status: Some(serde_json::json!({"status": "failed", "reason": "cancelled"})),
                source: Some(Source::Callback),
            }),
            EventKind::Expired(Expired {
                payment: payment(AttemptState::Expired),
                previous_state: AttemptState::Submitted,
            }),
            EventKind::NeedsReview(NeedsReview {
                payment: payment(AttemptState::Submitted),
                claim: serde_json::json!({"why": "the provider has no status endpoint"}),
            }),
            EventKind::Anomaly(Anomaly {
                payment: payment(AttemptState::Pending),
                kind: AnomalyKind::AmountMismatch,
                detail: serde_json::json!({"callback": {"amount": 1}}),
            }),
        ]
    }

    #[test]
    fn the_json_form_of_every_kind_is_stable() {
        let events: Vec<Event> = every_kind()
            .into_iter()
            .map(|kind| Event {
                event_id: format!("att_1:{}", kind.name()),
                attempt_id: "att_1".into(),
                kind,
                created_at: 1_765_000_000_000,
                deliveries: 0,
                occurrences: 1,
                delivered_at: None,
                next_attempt_at: 1_765_000_000_000,
                last_error: None,
            })
            .collect();
        insta::assert_json_snapshot!(events);
    }

    #[test]
    fn every_kind_reads_back_as_stored() {
        for kind in every_kind() {
            let (name, payload) = kind.to_stored();
            assert_eq!(EventKind::from_stored(name, &payload).unwrap(), kind);
        }
    }

    #[test]
    fn payloads_stored_before_typed_events_still_read() {
        // As written by the untyped version: every key, nulls included.
        let payload = r#"{"attempt_id":"att_1","provider":"mock","reference":"R","amount":5,
            "phone":"254712345678","payment_id":null,"receipt":null,"transaction_time":null,
            "state":"failed","previous_state":"submitted","status":{"status":"failed",
            "reason":"timeout"},"anomaly":null}"#;
        let EventKind::Failed(failed) = EventKind::from_stored("failed", payload).unwrap() else {
            panic!("not a failure");
        };
        assert_eq!(failed.previous_state, AttemptState::Submitted);
        assert_eq!(failed.reason, None);
        let anomaly = r#"{"attempt_id":"att_1","provider":"mock","reference":"R","amount":5,
            "phone":"254712345678","payment_id":null,"state":"pending",
            "anomaly":"some_future_kind","detail":{}}"#;
        let EventKind::Anomaly(a) = EventKind::from_stored("anomaly", anomaly).unwrap() else {
            panic!("not an anomaly");
        };
        assert_eq!(a.kind, AnomalyKind::Other);
    }

    #[test]
    fn an_unknown_kind_is_an_error_not_a_guess() {
        assert!(EventKind::from_stored("refunded", "{}").is_err());
        assert!(EventKind::from_stored("completed", "not json").is_err());
    }
}
