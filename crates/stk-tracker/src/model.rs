//! What the store keeps: attempts, their transitions, the callback inbox, the event outbox.

use serde::Serialize;
use serde_json::Value;

use crate::AttemptState;

/// One try at collecting a payment for an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Attempt {
    /// The tracker's id (`att_…`).
    pub id: String,
    /// The provider name.
    pub provider: String,
    /// The merchant reference (the order).
    pub reference: String,
    /// The phone charged, canonical `254…`.
    pub phone: String,
    /// Whole shillings.
    pub amount: u64,
    /// The provider's payment id, once known.
    pub payment_id: Option<String>,
    /// M-Pesa's `CheckoutRequestID`, once known.
    pub checkout_request_id: Option<String>,
    /// The M-Pesa receipt of the completion, once completed (the status answer's, else the
    /// confirmed callback's). No two completed attempts of a provider share one.
    pub receipt: Option<String>,
    /// Where it stands.
    pub state: AttemptState,
    /// Bumped by every transition (compare-and-set).
    pub version: i64,
    /// When it was recorded (Unix ms).
    pub created_at: i64,
    /// When it last changed (Unix ms).
    pub updated_at: i64,
    /// After this (Unix ms) an open attempt is flagged for review (`expired`).
    pub deadline_at: i64,
    /// When the sweeper should next query it (Unix ms), if ever.
    pub next_check_at: Option<i64>,
    /// Status queries made for it.
    pub check_count: i64,
    /// The last query's error, if it failed.
    pub last_error: Option<String>,
    /// When a final claim arrived that the provider's status did not confirm yet (Unix ms):
    /// the attempt is re-checked soon after it (status endpoints lag callbacks).
    pub claimed_at: Option<i64>,
}

/// What records an attempt before the push is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewAttempt {
    /// The tracker's id.
    pub id: String,
    /// The provider name.
    pub provider: String,
    /// The merchant reference.
    pub reference: String,
    /// Canonical phone.
    pub phone: String,
    /// Whole shillings.
    pub amount: u64,
    /// Now (Unix ms).
    pub created_at: i64,
    /// The deadline (Unix ms).
    pub deadline_at: i64,
    /// When to look again if nothing is heard (Unix ms).
    pub next_check_at: i64,
}

/// Who moved an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Source {
    /// The answer to `initiate`.
    Initiate,
    /// A callback confirmed by a status query.
    Callback,
    /// A status query by the sweeper or on request.
    StatusQuery,
    /// The sweeper's deadline.
    Deadline,
    /// An operator's decision for an attempt that needed review (`stk payments resolve`).
    Operator,
}

impl Source {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Initiate => "initiate",
            Self::Callback => "callback",
            Self::StatusQuery => "status_query",
            Self::Deadline => "deadline",
            Self::Operator => "operator",
        }
    }
}

/// A recorded state change with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Transition {
    /// The attempt.
    pub attempt_id: String,
    /// From.
    pub from: String,
    /// To (`anomaly` rows record evidence without a state change).
    pub to: String,
    /// Who moved it.
    pub source: String,
    /// What was seen (status, callback claims, errors).
    pub evidence: Value,
    /// When (Unix ms).
    pub at: i64,
}

/// A compare-and-set transition: applied only if the attempt is still at `expected` state
/// and `version`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TransitionRequest {
    /// The attempt.
    pub attempt_id: String,
    /// Its state as read.
    pub expected: AttemptState,
    /// Its version as read.
    pub version: i64,
    /// The new state.
    pub to: AttemptState,
    /// Who.
    pub source: Source,
    /// What was seen.
    pub evidence: Value,
    /// Now (Unix ms).
    pub at: i64,
    /// The provider's ids, when this evidence brought them.
    pub payment_id: Option<String>,
    /// M-Pesa's `CheckoutRequestID`, when this evidence brought it.
    pub checkout_request_id: Option<String>,
    /// The completion's receipt, when this evidence completes the attempt with one.
    pub receipt: Option<String>,
    /// When to look again (`None`: never).
    pub next_check_at: Option<i64>,
    /// The event for user code, written in the same transaction.
    pub event: Option<crate::event::NewEvent>,
}

/// A callback as received, kept raw.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboxItem {
    /// The tracker's id.
    pub id: String,
    /// Which provider's route it came in on.
    pub provider: String,
    /// When (Unix ms).
    pub received_at: i64,
    /// The request target (path and query).
    pub target: Option<String>,
    /// Headers, as received.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// When it was processed, if it was.
    pub processed_at: Option<i64>,
    /// What processing concluded (`applied`, `duplicate`, `invalid`, `unmatched`, …).
    pub outcome: Option<String>,
    /// The attempt it was matched to.
    pub attempt_id: Option<String>,
    /// Why it was refused or could not be processed.
    pub error: Option<String>,
}

/// Callbacks refused before storage, counted by provider and reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Refused {
    /// The provider's route it came in on.
    pub provider: String,
    /// Why (the adapter's message, cut short).
    pub reason: String,
    /// How many.
    pub count: i64,
    /// When the latest came (Unix ms).
    pub last_at: i64,
    /// The latest one's body, as an excerpt (at most [`Refused::SAMPLE_CHARS`] characters).
    pub sample: String,
}

impl Refused {
    /// The longest excerpt kept.
    pub const SAMPLE_CHARS: usize = 200;
    /// The longest reason kept.
    pub const REASON_CHARS: usize = 120;

    /// One refusal of `body` by `provider` for `reason`, at `at`.
    pub fn new(provider: &str, reason: &str, body: &[u8], at: i64) -> Self {
        Self {
            provider: provider.to_owned(),
            reason: reason.chars().take(Self::REASON_CHARS).collect(),
            count: 1,
            last_at: at,
            sample: String::from_utf8_lossy(&body[..body.len().min(Self::SAMPLE_CHARS * 4)])
                .chars()
                .take(Self::SAMPLE_CHARS)
                .collect(),
        }
    }
}

/// Whether an inbox insert stored a new callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// A new row, with its id.
    New(String),
    /// The same callback (same provider and body) was already stored, under this id.
    Duplicate(String),
}
