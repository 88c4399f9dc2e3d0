//! Rows as stored (`FromRow`), and their decoding into the model: a row that does not read
//! is a [`StoreErrorKind::Unreadable`] error, never a guess.

use sqlx::FromRow;
use sqlx::any::AnyRow;

use crate::event::{Event, EventKind};
use crate::model::{Attempt, InboxItem, Transition};
use crate::store::{StoreError, StoreErrorKind};

pub(super) const ATTEMPT_COLUMNS: &str = "id, provider, reference, phone, amount, payment_id, \
    checkout_request_id, receipt, state, version, created_at, updated_at, deadline_at, \
    next_check_at, check_count, last_error, claimed_at";

pub(super) const EVENT_COLUMNS: &str = "event_id, attempt_id, kind, payload, created_at, deliveries, occurrences, delivered_at, next_attempt_at, last_error";
pub(super) const INBOX_COLUMNS: &str =
    "id, provider, received_at, target, headers, body, processed_at, outcome, attempt_id, error";

/// A stored value that does not read.
fn unreadable(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::with_source(StoreErrorKind::Unreadable, format!("{what}: {e}"), e)
}

#[derive(FromRow)]
struct AttemptRow {
    id: String,
    provider: String,
    reference: String,
    phone: String,
    amount: i64,
    payment_id: Option<String>,
    checkout_request_id: Option<String>,
    receipt: Option<String>,
    state: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
    deadline_at: i64,
    next_check_at: Option<i64>,
    check_count: i64,
    last_error: Option<String>,
    claimed_at: Option<i64>,
}

pub(super) fn attempt(row: &AnyRow) -> Result<Attempt, StoreError> {
    let r = AttemptRow::from_row(row)?;
    Ok(Attempt {
        amount: u64::try_from(r.amount)
            .map_err(|e| unreadable(&format!("attempt {} has amount {}", r.id, r.amount), e))?,
        state: r.state.parse().map_err(StoreError::new)?,
        id: r.id,
        provider: r.provider,
        reference: r.reference,
        phone: r.phone,
        payment_id: r.payment_id,
        checkout_request_id: r.checkout_request_id,
        receipt: r.receipt,
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
        deadline_at: r.deadline_at,
        next_check_at: r.next_check_at,
        claimed_at: r.claimed_at,
        check_count: r.check_count,
        last_error: r.last_error,
    })
}

#[derive(FromRow)]
struct InboxRow {
    id: String,
    provider: String,
    received_at: i64,
    target: Option<String>,
    /// JSON: `[[name, value], …]`.
    headers: String,
    /// Hex.
    body: String,
    processed_at: Option<i64>,
    outcome: Option<String>,
    attempt_id: Option<String>,
    error: Option<String>,
}

pub(super) fn inbox_item(row: &AnyRow) -> Result<InboxItem, StoreError> {
    let r = InboxRow::from_row(row)?;
    Ok(InboxItem {
        headers: serde_json::from_str(&r.headers)
            .map_err(|e| unreadable(&format!("callback {}'s headers", r.id), e))?,
        body: hex::decode(&r.body)
            .map_err(|e| unreadable(&format!("callback {}'s body", r.id), e))?,
        id: r.id,
        provider: r.provider,
        received_at: r.received_at,
        target: r.target,
        processed_at: r.processed_at,
        outcome: r.outcome,
        attempt_id: r.attempt_id,
        error: r.error,
    })
}

#[derive(FromRow)]
struct TransitionRow {
    attempt_id: String,
    from_state: String,
    to_state: String,
    source: String,
    /// JSON.
    evidence: String,
    at: i64,
}

pub(super) fn transition(row: &AnyRow) -> Result<Transition, StoreError> {
    let r = TransitionRow::from_row(row)?;
    Ok(Transition {
        evidence: serde_json::from_str(&r.evidence)
            .map_err(|e| unreadable(&format!("a transition of {}", r.attempt_id), e))?,
        attempt_id: r.attempt_id,
        from: r.from_state,
        to: r.to_state,
        source: r.source,
        at: r.at,
    })
}

#[derive(FromRow)]
struct EventRow {
    event_id: String,
    attempt_id: String,
    kind: String,
    /// JSON.
    payload: String,
    created_at: i64,
    deliveries: i64,
    occurrences: i64,
    delivered_at: Option<i64>,
    next_attempt_at: i64,
    last_error: Option<String>,
}

pub(super) fn event(row: &AnyRow) -> Result<Event, StoreError> {
    let r = EventRow::from_row(row)?;
    Ok(Event {
        kind: EventKind::from_stored(&r.kind, &r.payload)
            .map_err(|e| unreadable(&format!("a stored {} event does not read", r.kind), e))?,
        event_id: r.event_id,
        attempt_id: r.attempt_id,
        created_at: r.created_at,
        deliveries: r.deliveries,
        occurrences: r.occurrences,
        delivered_at: r.delivered_at,
        next_attempt_at: r.next_attempt_at,
        last_error: r.last_error,
    })
}
