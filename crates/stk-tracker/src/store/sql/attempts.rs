//! `stk_attempts` and their transitions (`stk_transitions`).

use async_trait::async_trait;

use super::outbox::insert_event;
use super::rows::{ATTEMPT_COLUMNS, attempt, transition};
use super::{Claim, SqlStore, amount};
use crate::event::NewEvent;
use crate::ids;
use crate::model::{Attempt, NewAttempt, Transition, TransitionRequest};
use crate::store::{
    AttemptKeys, AttemptQuery, AttemptStore, Held, Lease, Recorded, StoreError, Tally,
};

impl SqlStore {
    /// The order's live (or paid) attempt, with any provider.
    async fn live_attempt(&self, reference: &str) -> Result<Option<Attempt>, StoreError> {
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM stk_attempts WHERE reference = $1 AND state <> 'failed'"
        );
        self.one(&sql, &[reference], attempt).await
    }
}

pub(super) async fn insert_transition<'c, E>(executor: E, t: &Transition) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO stk_transitions (id, attempt_id, from_state, to_state, source, evidence, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ids::new_id("tr", t.at))
    .bind(&t.attempt_id)
    .bind(&t.from)
    .bind(&t.to)
    .bind(&t.source)
    .bind(t.evidence.to_string())
    .bind(t.at)
    .execute(executor)
    .await?;
    Ok(())
}

#[async_trait]
impl AttemptStore for SqlStore {
    async fn insert_attempt(&self, new: &NewAttempt) -> Result<Recorded, StoreError> {
        for _ in 0..3 {
            // Written by a statement run to completion (its commit included), then read
            // back: only a row the database returns again counts as recorded.
            let inserted = sqlx::query(
                "INSERT INTO stk_attempts (id, provider, reference, phone, amount, state, version, \
                 created_at, updated_at, deadline_at, next_check_at, check_count) \
                 VALUES ($1, $2, $3, $4, $5, 'created', 0, $6, $6, $7, $8, 0) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&new.id)
            .bind(&new.provider)
            .bind(&new.reference)
            .bind(&new.phone)
            .bind(amount(new.amount))
            .bind(new.created_at)
            .bind(new.deadline_at)
            .bind(new.next_check_at)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if inserted == 1 {
                return match self.attempt(&new.id).await? {
                    Some(recorded) => Ok(Recorded::New(recorded)),
                    None => Err(StoreError::new(
                        "the attempt was written but cannot be read back; nothing was sent",
                    )),
                };
            }
            if let Some(existing) = self.live_attempt(&new.reference).await? {
                return Ok(Recorded::Live(existing));
            }
            // The live attempt failed in between: try again.
        }
        Err(StoreError::new(
            "could not record the attempt: the order keeps changing",
        ))
    }

    async fn attempt(&self, id: &str) -> Result<Option<Attempt>, StoreError> {
        let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM stk_attempts WHERE id = $1");
        self.one(&sql, &[id], attempt).await
    }

    async fn find_attempt(&self, keys: &AttemptKeys<'_>) -> Result<Option<Attempt>, StoreError> {
        let mut ids: Vec<&str> = keys.payment_ids.clone();
        ids.extend(keys.checkout_request_id);
        ids.retain(|id| !id.is_empty());
        ids.dedup();
        if !ids.is_empty() {
            let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
            let list = placeholders.join(", ");
            let sql = format!(
                "SELECT {ATTEMPT_COLUMNS} FROM stk_attempts WHERE provider = $1 AND \
                 (payment_id IN ({list}) OR checkout_request_id IN ({list})) \
                 ORDER BY CASE WHEN payment_id IN ({list}) THEN 0 ELSE 1 END, created_at DESC \
                 LIMIT 1"
            );
            let mut query = sqlx::query(&sql).bind(keys.provider);
            for id in &ids {
                query = query.bind(*id);
            }
            if let Some(row) = query.fetch_optional(&self.pool).await? {
                return attempt(&row).map(Some);
            }
        }
        let Some(reference) = keys.reference.filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        // By reference: the live attempt, else the latest failed one (a late completion).
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM stk_attempts WHERE provider = $1 AND reference = $2 \
             ORDER BY CASE WHEN state = 'failed' THEN 1 ELSE 0 END, created_at DESC LIMIT 1"
        );
        self.one(&sql, &[keys.provider, reference], attempt).await
    }

    async fn attempt_holding(
        &self,
        provider: &str,
        key: Held<'_>,
    ) -> Result<Option<Attempt>, StoreError> {
        // The conditions of the unique indexes, so the lookups use them.
        let (condition, value) = match key {
            Held::PaymentId(id) => ("payment_id = $2", id),
            Held::Receipt(receipt) => ("receipt = $2 AND state = 'completed'", receipt),
        };
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM stk_attempts WHERE provider = $1 AND {condition} \
             ORDER BY created_at LIMIT 1"
        );
        self.one(&sql, &[provider, value], attempt).await
    }

    async fn search_attempts(&self, query: &AttemptQuery) -> Result<Vec<Attempt>, StoreError> {
        super::search::attempts(self, query).await
    }

    async fn tally(&self, from: i64, before: i64) -> Result<Vec<Tally>, StoreError> {
        super::search::tally(self, from, before).await
    }

    async fn transition(&self, r: &TransitionRequest) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE stk_attempts SET state = $1, version = version + 1, updated_at = $2, \
             payment_id = COALESCE(payment_id, $3), \
             checkout_request_id = COALESCE(checkout_request_id, $4), \
             next_check_at = $5, lease_owner = NULL, lease_until = NULL, \
             receipt = COALESCE(receipt, $9) \
             WHERE id = $6 AND state = $7 AND version = $8",
        )
        .bind(r.to.as_str())
        .bind(r.at)
        .bind(r.payment_id.as_deref())
        .bind(r.checkout_request_id.as_deref())
        .bind(r.next_check_at)
        .bind(&r.attempt_id)
        .bind(r.expected.as_str())
        .bind(r.version)
        .bind(r.receipt.as_deref())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let row = Transition {
            attempt_id: r.attempt_id.clone(),
            from: r.expected.as_str().to_owned(),
            to: r.to.as_str().to_owned(),
            source: r.source.as_str().to_owned(),
            evidence: r.evidence.clone(),
            at: r.at,
        };
        insert_transition(&mut *tx, &row).await?;
        if let Some(event) = &r.event {
            insert_event(&mut *tx, event).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn note(&self, t: &Transition, event: Option<&NewEvent>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_transition(&mut *tx, t).await?;
        if let Some(event) = event {
            if !insert_event(&mut *tx, event).await? {
                // Already delivered: this occurrence is news, as an event of its own.
                let mut again = event.clone();
                again.event_id = format!("{}:{}", event.event_id, ids::new_id("r", event.at));
                insert_event(&mut *tx, &again).await?;
            }
        }
        tx.commit().await.map_err(StoreError::from)
    }

    async fn schedule_check(
        &self,
        attempt_id: &str,
        next_check_at: Option<i64>,
        queried: bool,
        last_error: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE stk_attempts SET next_check_at = $1, check_count = check_count + $2, \
             last_error = $3, lease_owner = NULL, lease_until = NULL WHERE id = $4",
        )
        .bind(next_check_at)
        .bind(i64::from(queried))
        .bind(last_error)
        .bind(attempt_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn note_claim(&self, attempt_id: &str, at: i64, check_at: i64) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE stk_attempts SET claimed_at = CASE WHEN claimed_at IS NULL \
             OR claimed_at < $1 - {series} THEN $1 ELSE claimed_at END, \
             next_check_at = CASE WHEN next_check_at IS NULL OR next_check_at > $2 THEN $2 \
             ELSE next_check_at END WHERE id = $3 AND state <> 'completed'",
            series = crate::tracker::CLAIM_SERIES_MS
        );
        sqlx::query(&sql)
            .bind(at)
            .bind(check_at)
            .bind(attempt_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn claim_due_attempts(
        &self,
        providers: &[&str],
        lease: &Lease<'_>,
        limit: i64,
    ) -> Result<Vec<Attempt>, StoreError> {
        let claim = Claim {
            table: "stk_attempts",
            key: "id",
            // Open attempts due, and failed or expired ones in the quick looks after a
            // completion claim.
            due: &format!(
                "((state IN {open} AND (next_check_at <= $3 OR deadline_at <= $3)) \
                 OR (state IN ('failed', 'expired') AND next_check_at <= $3 \
                 AND claimed_at > $3 - {series}))",
                series = crate::tracker::CLAIM_SERIES_MS,
                open = *crate::store::states::OPEN,
            ),
            // Attempts in the quick looks after a fresh final claim first.
            order: &format!(
                "CASE WHEN claimed_at > $3 - {series} THEN 0 ELSE 1 END, next_check_at",
                series = crate::tracker::CLAIM_SERIES_MS
            ),
            columns: ATTEMPT_COLUMNS,
        };
        self.claim(claim, Some(providers), lease, limit)
            .await?
            .iter()
            .map(attempt)
            .collect()
    }

    async fn transitions(&self, attempt_id: &str) -> Result<Vec<Transition>, StoreError> {
        let sql = "SELECT attempt_id, from_state, to_state, source, evidence, at \
                   FROM stk_transitions WHERE attempt_id = $1 ORDER BY id";
        self.all(sql, attempt_id, transition).await
    }
}
