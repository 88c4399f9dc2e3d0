//! Upgrading a store written before payment ids and receipts were unique (issue 17, case 4):
//! duplicates already in it are kept on the first attempt and reported on the others as
//! `anomaly` events, never silently dropped; afterwards the database itself refuses them. On
//! real SQLite and real PostgreSQL.

#![allow(clippy::unwrap_used)]

use serde_json::json;
use stk_tracker::{AttemptStore, EventKind, OutboxStore, SqlStore};

/// A store at schema version 2 holding: OLD (expired) and NEW (completed) sharing payment
/// `P-1`; NEW and LATE (completed later) sharing receipt `UREC000001`.
async fn version_2_store_with_duplicates(url: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE stk_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    for (version, sql) in [
        (1_i64, include_str!("../migrations/0001_init.sql")),
        (2, include_str!("../migrations/0002_guard.sql")),
    ] {
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        sqlx::query("INSERT INTO stk_schema (version, applied_at) VALUES ($1, 0)")
            .bind(version)
            .execute(&pool)
            .await
            .unwrap();
    }
    let rows = [
        ("att_old", "OLD", "P-1", "expired", 1_000_i64, None),
        (
            "att_new",
            "NEW",
            "P-1",
            "completed",
            2_000,
            Some((2_500_i64, "UREC000001")),
        ),
        (
            "att_late",
            "LATE",
            "P-2",
            "completed",
            3_000,
            Some((3_500, "UREC000001")),
        ),
    ];
    for (id, reference, payment_id, state, at, completion) in rows {
        sqlx::query(
            "INSERT INTO stk_attempts (id, provider, reference, phone, amount, payment_id, state, \
             version, created_at, updated_at, deadline_at, check_count) \
             VALUES ($1, 'mock', $2, '254712345678', 100, $3, $4, 1, $5, $5, $5, 0)",
        )
        .bind(id)
        .bind(reference)
        .bind(payment_id)
        .bind(state)
        .bind(at)
        .execute(&pool)
        .await
        .unwrap();
        if let Some((done_at, receipt)) = completion {
            let evidence =
                json!({ "status": { "status": "completed", "receipt": receipt, "amount": 100 } });
            sqlx::query(
                "INSERT INTO stk_transitions (id, attempt_id, from_state, to_state, source, evidence, at) \
                 VALUES ($1, $2, 'submitted', 'completed', 'status_query', $3, $4)",
            )
            .bind(format!("tr_{id}"))
            .bind(id)
            .bind(evidence.to_string())
            .bind(done_at)
            .execute(&pool)
            .await
            .unwrap();
        }
    }
    pool.close().await;
}

async fn duplicates_are_reported_then_refused(url: String) {
    version_2_store_with_duplicates(&url).await;
    let store = SqlStore::connect(&url).await.unwrap();

    let old = store.attempt("att_old").await.unwrap().unwrap();
    let new = store.attempt("att_new").await.unwrap().unwrap();
    let late = store.attempt("att_late").await.unwrap().unwrap();
    assert_eq!(old.payment_id.as_deref(), Some("P-1"), "the first keeps it");
    assert_eq!(new.payment_id, None, "taken from the second");
    assert_eq!(
        new.receipt.as_deref(),
        Some("UREC000001"),
        "the first completion keeps it"
    );
    assert_eq!(late.receipt, None);
    // Nothing moved: states are as they were.
    assert_eq!(
        [old.state, new.state, late.state].map(|s| s.as_str()),
        ["expired", "completed", "completed"]
    );

    let reported = |id: &'static str| {
        let store = &store;
        async move {
            store
                .events(id)
                .await
                .unwrap()
                .into_iter()
                .map(|e| match e.kind {
                    EventKind::Anomaly(a) => (a.kind.as_str().to_owned(), a.detail),
                    other => panic!("not an anomaly: {other:?}"),
                })
                .collect::<Vec<_>>()
        }
    };
    let on_new = reported("att_new").await;
    assert_eq!(on_new.len(), 1, "{on_new:?}");
    assert_eq!(on_new[0].0, "duplicate_payment_id");
    assert_eq!(
        on_new[0].1,
        json!({ "payment_id": "P-1", "kept_by": "att_old" })
    );
    let on_late = reported("att_late").await;
    assert_eq!(on_late.len(), 1, "{on_late:?}");
    assert_eq!(on_late[0].0, "duplicate_receipt");
    assert_eq!(
        on_late[0].1,
        json!({ "receipt": "UREC000001", "kept_by": "att_new" })
    );
    assert!(reported("att_old").await.is_empty());
    let timeline = store.transitions("att_new").await.unwrap();
    let found = timeline.iter().find(|t| t.source == "migration").unwrap();
    assert_eq!(found.to, "anomaly");

    // Opening again changes nothing (the repair ran once).
    drop(SqlStore::connect(&url).await.unwrap());
    assert_eq!(store.events("att_new").await.unwrap().len(), 1);

    // The database refuses a second holder from now on.
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let refused = sqlx::query("UPDATE stk_attempts SET payment_id = 'P-1' WHERE id = 'att_new'")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(
        refused.as_database_error().unwrap().is_unique_violation(),
        "{refused}"
    );
    pool.close().await;
}

#[tokio::test]
async fn sqlite_duplicates_are_reported_then_refused() {
    let dir = std::env::temp_dir().join(format!(
        "stk-migration-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/payments.db?mode=rwc", dir.display());
    duplicates_are_reported_then_refused(url).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_duplicates_are_reported_then_refused() {
    if let Some(url) = stk_tracker::conformance::test_postgres_url() {
        let url = stk_tracker::conformance::fresh_postgres_database(&url).await;
        duplicates_are_reported_then_refused(url).await;
    }
}
