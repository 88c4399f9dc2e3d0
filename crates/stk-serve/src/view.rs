//! A payment as the API shows it: the phone masked, times in RFC 3339.

use serde::Serialize;
use serde_json::{Value, json};
use stk_tracker::{Attempt, AttemptState, Transition};

/// A payment (one attempt at collecting an order) as the API and webhooks show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[non_exhaustive]
pub struct PaymentView {
    /// The attempt id (`att_…`).
    pub id: String,
    /// The order reference.
    pub reference: String,
    /// Where it stands (`submitted`, `completed`, `failed`, `outcome_unknown`, …).
    #[schema(value_type = String, example = "submitted")]
    pub state: AttemptState,
    /// The provider.
    pub provider: String,
    /// The provider's payment id, once known.
    pub payment_id: Option<String>,
    /// Whole shillings.
    pub amount: u64,
    /// The phone, masked (`2547******78`).
    pub phone: String,
    /// The M-Pesa receipt, once completed.
    pub receipt: Option<String>,
    /// When it was recorded (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// Why the push was refused, for a payment `failed` at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    /// Its transitions, with `?expand=timeline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub timeline: Option<Vec<Value>>,
    /// Its webhooks and how their delivery went, with `?expand=webhooks`: `webhook_id`,
    /// `type`, `created_at`, `tries`, `delivered_at`, `next_try_at`, `last_error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub webhooks: Option<Vec<Value>>,
}

/// Unix milliseconds as RFC 3339 (UTC).
pub(crate) fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// `2547******78`: the country code and operator digit, then the last two.
pub(crate) fn masked(phone: &str) -> String {
    stk::PhoneNumber::parse(phone).map_or_else(|_| "[hidden]".to_owned(), |p| p.masked())
}

impl PaymentView {
    pub(crate) fn of(attempt: &Attempt) -> Self {
        Self {
            id: attempt.id.clone(),
            reference: attempt.reference.clone(),
            state: attempt.state,
            provider: attempt.provider.clone(),
            payment_id: attempt.payment_id.clone(),
            amount: attempt.amount,
            phone: masked(&attempt.phone),
            receipt: attempt.receipt.clone(),
            created_at: rfc3339(attempt.created_at),
            updated_at: rfc3339(attempt.updated_at),
            error: None,
            timeline: None,
            webhooks: None,
        }
    }

    pub(crate) fn with_timeline(mut self, timeline: &[Transition]) -> Self {
        self.timeline = Some(
            timeline
                .iter()
                .map(|t| {
                    json!({
                        "from": t.from,
                        "to": t.to,
                        "source": t.source,
                        "at": rfc3339(t.at),
                        "evidence": t.evidence,
                    })
                })
                .collect(),
        );
        self
    }

    /// The delivery log: each event, its tries and how the last one went.
    pub(crate) fn with_webhooks(mut self, events: &[stk_tracker::Event]) -> Self {
        self.webhooks = Some(
            events
                .iter()
                .map(|e| {
                    json!({
                        "webhook_id": e.event_id,
                        "type": format!("payment.{}", e.kind.name()),
                        "created_at": rfc3339(e.created_at),
                        "tries": e.deliveries + i64::from(e.delivered_at.is_some()),
                        "delivered_at": e.delivered_at.map(rfc3339),
                        "next_try_at": e.delivered_at.is_none().then(|| rfc3339(e.next_attempt_at)),
                        "last_error": e.last_error,
                    })
                })
                .collect(),
        );
        self
    }
}
