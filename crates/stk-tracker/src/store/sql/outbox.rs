//! The event outbox (`stk_outbox`).

use async_trait::async_trait;

use super::rows::{EVENT_COLUMNS, event};
use super::{Claim, SqlStore};
use crate::event::{Event, NewEvent};
use crate::store::{Lease, OutboxStore, StoreError};

/// Writes an event, or counts one more occurrence of it while it is undelivered; returns
/// whether a row was written or counted (`false`: it was already delivered).
pub(super) async fn insert_event<'c, E>(executor: E, event: &NewEvent) -> Result<bool, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let (kind, payload) = event.kind.to_stored();
    let written = sqlx::query(
        "INSERT INTO stk_outbox (event_id, attempt_id, kind, payload, created_at, deliveries, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, 0, $5) ON CONFLICT (event_id) DO UPDATE \
         SET occurrences = stk_outbox.occurrences + 1 WHERE stk_outbox.delivered_at IS NULL",
    )
    .bind(&event.event_id)
    .bind(&event.attempt_id)
    .bind(kind)
    .bind(payload)
    .bind(event.at)
    .execute(executor)
    .await?
    .rows_affected();
    Ok(written > 0)
}

#[async_trait]
impl OutboxStore for SqlStore {
    async fn claim_events(&self, lease: &Lease<'_>, limit: i64) -> Result<Vec<Event>, StoreError> {
        let claim = Claim {
            table: "stk_outbox",
            key: "event_id",
            // In order per attempt, except that a state event (completed, failed, expired)
            // never waits behind an anomaly or a review: those cannot delay a payment.
            due: "delivered_at IS NULL AND next_attempt_at <= $3 AND NOT EXISTS (\
                  SELECT 1 FROM stk_outbox older WHERE older.attempt_id = stk_outbox.attempt_id \
                  AND older.delivered_at IS NULL AND (older.created_at < stk_outbox.created_at \
                  OR (older.created_at = stk_outbox.created_at AND older.event_id < stk_outbox.event_id)) \
                  AND NOT (stk_outbox.kind IN ('completed', 'failed', 'expired') \
                  AND older.kind IN ('anomaly', 'needs_review')))",
            order: "created_at, event_id",
            columns: EVENT_COLUMNS,
        };
        let mut events: Vec<Event> = self
            .claim(claim, None, lease, limit)
            .await?
            .iter()
            .map(event)
            .collect::<Result<_, _>>()?;
        events.sort_by(|a, b| (a.created_at, &a.event_id).cmp(&(b.created_at, &b.event_id)));
        Ok(events)
    }

    async fn ack_event(&self, event_id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE stk_outbox SET delivered_at = $1, lease_owner = NULL, lease_until = NULL \
             WHERE event_id = $2",
        )
        .bind(now)
        .bind(event_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn retry_event(
        &self,
        event_id: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE stk_outbox SET deliveries = deliveries + 1, next_attempt_at = $1, \
             last_error = $2, lease_owner = NULL, lease_until = NULL WHERE event_id = $3",
        )
        .bind(next_attempt_at)
        .bind(error)
        .bind(event_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn events(&self, attempt_id: &str) -> Result<Vec<Event>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM stk_outbox WHERE attempt_id = $1 ORDER BY created_at, event_id"
        );
        self.all(&sql, attempt_id, event).await
    }

    async fn prune_events(&self, before: i64, limit: i64) -> Result<u64, StoreError> {
        self.delete_finished("stk_outbox", "event_id", "delivered_at", before, limit)
            .await
    }

    async fn undelivered(&self, up_to: i64) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM stk_outbox WHERE delivered_at IS NULL LIMIT $1) waiting",
        )
        .bind(up_to)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from)
    }
}
