//! The schema: migrations in order, one transaction each, serialized between instances.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::SqlStore;
use super::attempts::insert_transition;
use crate::ids;
use crate::model::Transition;
use crate::store::StoreError;

/// The migrations, in order: `(version, SQL)`. Version 4's data repair
/// ([`repair_duplicates`]) runs before its SQL (the unique indexes), in the same transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/0001_init.sql")),
    (2, include_str!("../../../migrations/0002_guard.sql")),
    (3, include_str!("../../../migrations/0003_receipt.sql")),
    (
        4,
        include_str!("../../../migrations/0004_one_attempt_per_payment.sql"),
    ),
    (5, include_str!("../../../migrations/0005_refused.sql")),
    (6, include_str!("../../../migrations/0006_claimed_at.sql")),
    (7, include_str!("../../../migrations/0007_occurrences.sql")),
    (8, include_str!("../../../migrations/0008_outbox_order.sql")),
    (9, include_str!("../../../migrations/0009_review.sql")),
];

/// Serializes migrations between instances starting at once (PostgreSQL advisory lock key).
const MIGRATION_LOCK: i64 = 0x5354_4b5f_4d49_4752;

impl SqlStore {
    /// WAL (SQLite) and the migrations.
    pub(super) async fn prepare(&self) -> Result<(), StoreError> {
        if self.sqlite {
            sqlx::raw_sql("PRAGMA journal_mode = WAL")
                .execute(&self.pool)
                .await?;
        }
        self.migrate().await
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // One connection holds the lock while it migrates; others wait, then find it done.
        let mut conn = self.pool.acquire().await?;
        if !self.sqlite {
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *conn)
                .await?;
        }
        let result = self.migrate_on(&mut conn).await;
        if !self.sqlite {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *conn)
                .await?;
        }
        result
    }

    async fn migrate_on(&self, conn: &mut sqlx::AnyConnection) -> Result<(), StoreError> {
        use sqlx::Connection;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS stk_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *conn)
        .await?;
        let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM stk_schema")
            .fetch_one(&mut *conn)
            .await?;
        for (version, sql) in MIGRATIONS {
            if applied.is_some_and(|a| a >= *version) {
                continue;
            }
            let result = async {
                let mut tx = conn.begin().await?;
                if *version == 4 {
                    repair_duplicates(&mut tx).await?;
                }
                sqlx::raw_sql(sql).execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO stk_schema (version, applied_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(*version)
                .bind(ids::unix_ms_now())
                .execute(&mut *tx)
                .await?;
                tx.commit().await.map_err(StoreError::from)
            }
            .await;
            if let Err(e) = result {
                // Another process starting on the same new SQLite file may have applied it
                // first (its `ALTER TABLE` then fails here): fine if it is recorded now.
                let done: Option<i64> =
                    sqlx::query_scalar("SELECT version FROM stk_schema WHERE version = $1")
                        .bind(*version)
                        .fetch_optional(&mut *conn)
                        .await?;
                if done.is_none() {
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// Migration 4's data repair, before its unique indexes (same transaction, so nothing can
/// slip in between; finding nothing, it changes nothing): an id
/// held by several attempts stays with the first and is taken from the others; a completion's
/// receipt (read from the evidence that completed it) is kept on the first completed attempt
/// that has it. Each attempt that loses an id, or whose receipt another holds, gets an
/// `anomaly` transition and event naming it: reported, never silently dropped.
async fn repair_duplicates(conn: &mut sqlx::AnyConnection) -> Result<(), StoreError> {
    let now = ids::unix_ms_now();
    let duplicated = sqlx::query(
        "SELECT a.id, a.provider, a.reference, a.state, a.amount, a.phone, a.payment_id FROM stk_attempts a \
         WHERE a.payment_id IS NOT NULL AND EXISTS (SELECT 1 FROM stk_attempts b \
         WHERE b.provider = a.provider AND b.payment_id = a.payment_id AND b.id <> a.id) \
         ORDER BY a.provider, a.payment_id, a.created_at, a.id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut keeper: Option<(String, String, String)> = None;
    for row in &duplicated {
        let get = |c: &str| row.try_get::<String, _>(c).map_err(StoreError::from);
        let (id, provider, payment_id) = (get("id")?, get("provider")?, get("payment_id")?);
        match &keeper {
            Some((p, pid, kept_by)) if *p == provider && *pid == payment_id => {
                sqlx::query("UPDATE stk_attempts SET payment_id = NULL WHERE id = $1")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
                let detail = serde_json::json!({ "payment_id": payment_id, "kept_by": kept_by });
                report_repair(conn, row, "duplicate_payment_id", detail, now).await?;
            }
            _ => keeper = Some((provider, payment_id, id)),
        }
    }
    let completions = sqlx::query(
        "SELECT a.id, a.provider, a.reference, a.state, a.amount, a.phone, a.payment_id, t.evidence FROM stk_attempts a \
         JOIN stk_transitions t ON t.attempt_id = a.id AND t.to_state = 'completed' \
         WHERE a.state = 'completed' AND a.receipt IS NULL ORDER BY t.at, t.id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut holders: std::collections::HashMap<(String, String), String> =
        std::collections::HashMap::new();
    for row in &completions {
        let get = |c: &str| row.try_get::<String, _>(c).map_err(StoreError::from);
        let (id, provider) = (get("id")?, get("provider")?);
        let evidence: serde_json::Value =
            serde_json::from_str(&get("evidence")?).unwrap_or_default();
        let Some(receipt) = evidence["status"]["receipt"]
            .as_str()
            .filter(|r| !r.trim().is_empty())
        else {
            continue;
        };
        match holders.entry((provider, receipt.to_owned())) {
            std::collections::hash_map::Entry::Occupied(kept) => {
                let detail = serde_json::json!({ "receipt": receipt, "kept_by": kept.get() });
                report_repair(conn, row, "duplicate_receipt", detail, now).await?;
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                sqlx::query("UPDATE stk_attempts SET receipt = $1 WHERE id = $2")
                    .bind(receipt)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
                slot.insert(id);
            }
        }
    }
    Ok(())
}

/// An anomaly found by the data repair: a transition row and an event for user code.
async fn report_repair(
    conn: &mut sqlx::AnyConnection,
    row: &AnyRow,
    what: &str,
    detail: serde_json::Value,
    now: i64,
) -> Result<(), StoreError> {
    let get = |c: &str| row.try_get::<String, _>(c).map_err(StoreError::from);
    let (id, state) = (get("id")?, get("state")?);
    tracing::warn!(attempt = %id, anomaly = what, %detail, "store migration: a provider payment was held by two attempts");
    let evidence =
        serde_json::json!({ "anomaly": what, "detail": detail, "found_by": "migration" });
    let transition = Transition {
        attempt_id: id.clone(),
        from: state.clone(),
        to: "anomaly".to_owned(),
        source: "migration".to_owned(),
        evidence: evidence.clone(),
        at: now,
    };
    insert_transition(&mut *conn, &transition).await?;
    let payload = serde_json::json!({
        "attempt_id": id,
        "provider": get("provider")?,
        "reference": get("reference")?,
        "amount": row.try_get::<i64, _>("amount")?,
        "phone": get("phone")?,
        "payment_id": row.try_get::<Option<String>, _>("payment_id")?,
        "state": state,
        "anomaly": what,
        "detail": detail,
    });
    // Written with the columns of schema version 4 (this runs inside its migration).
    sqlx::query(
        "INSERT INTO stk_outbox (event_id, attempt_id, kind, payload, created_at, deliveries, \
         next_attempt_at) VALUES ($1, $2, 'anomaly', $3, $4, 0, $4) ON CONFLICT DO NOTHING",
    )
    .bind(format!("{id}:anomaly:migration-{what}"))
    .bind(&id)
    .bind(payload.to_string())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
