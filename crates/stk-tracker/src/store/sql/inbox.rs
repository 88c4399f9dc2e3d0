//! The callback inbox (`stk_inbox`) and the refusal counts (`stk_refused`).

use std::fmt::Write as _;

use async_trait::async_trait;
use sqlx::Row;

use super::rows::{INBOX_COLUMNS, inbox_item};
use super::{Claim, SqlStore};
use crate::ids;
use crate::model::{InboxItem, Inserted, Refused};
use crate::store::{InboxStore, Lease, StoreError};

/// Distinct refusal reasons kept per provider; others are counted under `other`.
const MAX_REFUSAL_REASONS: i64 = 64;

#[async_trait]
impl InboxStore for SqlStore {
    async fn insert_inbox(&self, items: &[InboxItem]) -> Result<Vec<Inserted>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = items
            .iter()
            .map(|i| ids::dedup_key(&i.provider, i.target.as_deref(), &i.body))
            .collect();
        let mut sql = String::from(
            "INSERT INTO stk_inbox (id, provider, dedup_key, received_at, target, headers, body) VALUES ",
        );
        for n in 0..items.len() {
            let p = n * 7;
            let sep = if n == 0 { "" } else { ", " };
            let _ = write!(
                sql,
                "{sep}(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 7
            );
        }
        sql.push_str(" ON CONFLICT DO NOTHING RETURNING id");
        // Rows go in key order: two instances inserting overlapping batches then lock in the
        // same order and cannot deadlock.
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for (item, key) in order.iter().map(|&n| (&items[n], &keys[n])) {
            let headers =
                serde_json::to_string(&item.headers).map_err(|e| StoreError::new(e.to_string()))?;
            query = query
                .bind(item.id.clone())
                .bind(item.provider.clone())
                .bind(key.clone())
                .bind(item.received_at)
                .bind(item.target.clone())
                .bind(headers)
                .bind(hex::encode(&item.body));
        }
        // One transaction, one commit: a burst of callbacks shares it (group commit).
        let mut tx = self.pool.begin().await?;
        let stored: std::collections::HashSet<String> =
            query.fetch_all(&mut *tx).await?.into_iter().collect();
        let mut answers = Vec::with_capacity(items.len());
        for (item, key) in items.iter().zip(&keys) {
            if stored.contains(&item.id) {
                answers.push(Inserted::New(item.id.clone()));
                continue;
            }
            let existing: Option<String> =
                sqlx::query_scalar("SELECT id FROM stk_inbox WHERE dedup_key = $1")
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
            let existing = existing
                .ok_or_else(|| StoreError::new("the callback was neither stored nor found"))?;
            answers.push(Inserted::Duplicate(existing));
        }
        tx.commit().await?;
        Ok(answers)
    }

    async fn claim_inbox(
        &self,
        providers: &[&str],
        lease: &Lease<'_>,
        limit: i64,
    ) -> Result<Vec<InboxItem>, StoreError> {
        let claim = Claim {
            table: "stk_inbox",
            key: "id",
            due: "processed_at IS NULL",
            order: "id",
            columns: INBOX_COLUMNS,
        };
        let mut items: Vec<InboxItem> = self
            .claim(claim, Some(providers), lease, limit)
            .await?
            .iter()
            .map(inbox_item)
            .collect::<Result<_, _>>()?;
        items.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(items)
    }

    async fn finish_inbox(
        &self,
        ids: &[&str],
        now: i64,
        outcome: &str,
        attempt_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        // Within SQLite's and PostgreSQL's limits on bound parameters.
        for chunk in ids.chunks(500) {
            let mut sql = String::from(
                "UPDATE stk_inbox SET processed_at = $1, outcome = $2, attempt_id = $3, error = $4, \
                 lease_owner = NULL, lease_until = NULL WHERE id IN (",
            );
            for n in 0..chunk.len() {
                let sep = if n == 0 { "" } else { ", " };
                let _ = write!(sql, "{sep}${}", n + 5);
            }
            sql.push(')');
            let mut query = sqlx::query(&sql)
                .bind(now)
                .bind(outcome)
                .bind(attempt_id)
                .bind(error);
            for id in chunk {
                query = query.bind(*id);
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }

    async fn release_inbox(&self, id: &str, retry_at: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE stk_inbox SET lease_owner = NULL, lease_until = $1, error = $2 \
             WHERE id = $3 AND processed_at IS NULL",
        )
        .bind(retry_at)
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn prune_inbox(&self, before: i64, limit: i64) -> Result<u64, StoreError> {
        self.delete_finished("stk_inbox", "id", "processed_at", before, limit)
            .await
    }

    async fn unprocessed(&self, provider: &str, up_to: i64) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM stk_inbox WHERE processed_at IS NULL \
             AND provider = $1 LIMIT $2) waiting",
        )
        .bind(provider)
        .bind(up_to)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    async fn record_refused(&self, refused: &Refused) -> Result<(), StoreError> {
        // Reasons other than `other`, and whether this one is among them already.
        let (known, this): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN reason = $2 THEN 1 ELSE 0 END), 0) \
             FROM stk_refused WHERE provider = $1 AND reason <> 'other'",
        )
        .bind(&refused.provider)
        .bind(&refused.reason)
        .fetch_one(&self.pool)
        .await?;
        let reason = if this == 0 && known >= MAX_REFUSAL_REASONS {
            "other"
        } else {
            refused.reason.as_str()
        };
        sqlx::query(
            "INSERT INTO stk_refused (provider, reason, count, first_at, last_at, sample) \
             VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (provider, reason) DO UPDATE SET \
             count = stk_refused.count + $3, last_at = $4, sample = $5",
        )
        .bind(&refused.provider)
        .bind(reason)
        .bind(refused.count)
        .bind(refused.last_at)
        .bind(&refused.sample)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn refused(&self) -> Result<Vec<Refused>, StoreError> {
        let rows = sqlx::query(
            "SELECT provider, reason, count, last_at, sample FROM stk_refused \
             ORDER BY provider, count DESC, reason",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Refused {
                    provider: row.try_get("provider")?,
                    reason: row.try_get("reason")?,
                    count: row.try_get("count")?,
                    last_at: row.try_get("last_at")?,
                    sample: row.try_get("sample")?,
                })
            })
            .collect()
    }

    async fn inbox_item(&self, id: &str) -> Result<Option<InboxItem>, StoreError> {
        let sql = format!("SELECT {INBOX_COLUMNS} FROM stk_inbox WHERE id = $1");
        self.one(&sql, &[id], inbox_item).await
    }

    async fn callbacks_of(&self, attempt_id: &str) -> Result<Vec<InboxItem>, StoreError> {
        let sql = format!(
            "SELECT {INBOX_COLUMNS} FROM stk_inbox WHERE attempt_id = $1 \
             ORDER BY received_at DESC, id DESC LIMIT 100"
        );
        let mut latest = self.all(&sql, attempt_id, inbox_item).await?;
        latest.reverse();
        Ok(latest)
    }
}
