//! Rows decoded into the model.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::event::{Event, EventKind};
use crate::model::{Attempt, InboxItem, Transition};
use crate::store::StoreError;

pub(super) const ATTEMPT_COLUMNS: &str = "id, provider, reference, phone, amount, payment_id, \
    checkout_request_id, receipt, state, version, created_at, updated_at, deadline_at, \
    next_check_at, check_count, last_error, claimed_at";

pub(super) const EVENT_COLUMNS: &str =
    "event_id, attempt_id, kind, payload, created_at, deliveries, occurrences";
pub(super) const INBOX_COLUMNS: &str =
    "id, provider, received_at, target, headers, body, processed_at, outcome, attempt_id, error";

pub(super) fn attempt(row: &AnyRow) -> Result<Attempt, StoreError> {
    let get_s = |c: &str| row.try_get::<String, _>(c).map_err(StoreError::from);
    let get_os = |c: &str| {
        row.try_get::<Option<String>, _>(c)
            .map_err(StoreError::from)
    };
    let get_i = |c: &str| row.try_get::<i64, _>(c).map_err(StoreError::from);
    let state: String = get_s("state")?;
    Ok(Attempt {
        id: get_s("id")?,
        provider: get_s("provider")?,
        reference: get_s("reference")?,
        phone: get_s("phone")?,
        amount: u64::try_from(get_i("amount")?).unwrap_or_default(),
        payment_id: get_os("payment_id")?,
        checkout_request_id: get_os("checkout_request_id")?,
        receipt: get_os("receipt")?,
        state: state.parse().map_err(StoreError::new)?,
        version: get_i("version")?,
        created_at: get_i("created_at")?,
        updated_at: get_i("updated_at")?,
        deadline_at: get_i("deadline_at")?,
        next_check_at: row.try_get::<Option<i64>, _>("next_check_at")?,
        claimed_at: row.try_get::<Option<i64>, _>("claimed_at")?,
        check_count: get_i("check_count")?,
        last_error: get_os("last_error")?,
    })
}

pub(super) fn inbox_item(row: &AnyRow) -> Result<InboxItem, StoreError> {
    let get_s = |c: &str| row.try_get::<String, _>(c).map_err(StoreError::from);
    let get_os = |c: &str| {
        row.try_get::<Option<String>, _>(c)
            .map_err(StoreError::from)
    };
    let headers: Vec<(String, String)> =
        serde_json::from_str(&get_s("headers")?).map_err(|e| StoreError::new(e.to_string()))?;
    Ok(InboxItem {
        id: get_s("id")?,
        provider: get_s("provider")?,
        received_at: row.try_get("received_at")?,
        target: get_os("target")?,
        headers,
        body: hex::decode(get_s("body")?).map_err(|e| StoreError::new(e.to_string()))?,
        processed_at: row.try_get("processed_at")?,
        outcome: get_os("outcome")?,
        attempt_id: get_os("attempt_id")?,
        error: get_os("error")?,
    })
}

pub(super) fn transition(row: &AnyRow) -> Result<Transition, StoreError> {
    let evidence: String = row.try_get("evidence")?;
    Ok(Transition {
        attempt_id: row.try_get("attempt_id")?,
        from: row.try_get("from_state")?,
        to: row.try_get("to_state")?,
        source: row.try_get("source")?,
        evidence: serde_json::from_str(&evidence).map_err(|e| StoreError::new(e.to_string()))?,
        at: row.try_get("at")?,
    })
}

pub(super) fn event(row: &AnyRow) -> Result<Event, StoreError> {
    let payload: String = row.try_get("payload")?;
    let kind: String = row.try_get("kind")?;
    Ok(Event {
        event_id: row.try_get("event_id")?,
        attempt_id: row.try_get("attempt_id")?,
        kind: EventKind::from_stored(&kind, &payload)
            .map_err(|e| StoreError::new(format!("a stored {kind} event does not read: {e}")))?,
        created_at: row.try_get("created_at")?,
        deliveries: row.try_get("deliveries")?,
        occurrences: row.try_get("occurrences")?,
    })
}
