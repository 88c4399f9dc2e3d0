//! Cheap refusal before storage (issue 18): what is not the provider's callback, or fails its
//! verification, is answered 400 and never stored; only counts by reason and the latest
//! excerpt are kept, so a garbage flood cannot fill the disk. Over real HTTP against the
//! tracker's receiver, the store a real SQLite file.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Claim, Kind, NEVER, Options, Rig};

/// The store's files on disk, after SQLite folded its write-ahead log into the database.
async fn store_bytes(rig: &Rig) -> u64 {
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", rig.db().display()))
        .await
        .unwrap();
    sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    std::fs::metadata(rig.db()).unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_flood_is_refused_and_stores_nothing() {
    for kind in [
        Kind::KulmiPay,
        Kind::UpesiPay,
        Kind::LipiaFlat,
        Kind::Daraja,
    ] {
        let rig = Rig::start(kind, Options::default()).await;
        let attempt = rig.push(NEVER, "FLOOD-1").await.unwrap();
        let before = store_bytes(&rig).await;

        // 300 bodies of 60 KB that are not JSON, and 100 well-formed forgeries with a guessed
        // secret.
        let garbage = vec![b'x'; 60 * 1024];
        for _ in 0..300 {
            assert_eq!(rig.post(&garbage).await, 400, "{kind:?}");
        }
        let id = attempt.payment_id.clone().unwrap();
        let forged = rig.claim_body(&id, &Claim::paid(&attempt));
        let guessed_status = rig.post_with_guessed_secret(&forged).await;
        let guessable = guessed_status == 200;
        for _ in 0..99 {
            rig.post_with_guessed_secret(&forged).await;
        }
        rig.settle().await;

        // Only the provider's own webhooks about the push (KulmiPay: pending, processing).
        let genuine = rig
            .emulator
            .ledger()
            .webhooks()
            .iter()
            .filter(|w| w.status.is_some_and(|s| s / 100 == 2))
            .count();
        let stored = usize::try_from(rig.inbox_rows().await).unwrap();
        assert_eq!(stored, genuine, "{kind:?}: nothing of the flood stored");
        let refused = rig.tracker.store().refused().await.unwrap();
        let total: i64 = refused.iter().map(|r| r.count).sum();
        let expected = if guessable { 300 } else { 400 };
        assert_eq!(total, expected, "{kind:?}: {refused:?}");
        assert!(
            refused.len() <= 3,
            "{kind:?}: a few reasons, not one per request"
        );
        for row in &refused {
            assert!(row.sample.chars().count() <= stk_tracker::Refused::SAMPLE_CHARS);
        }
        let growth = store_bytes(&rig).await.saturating_sub(before);
        assert!(
            growth <= 400 * 1024 / 10,
            "{kind:?}: the store grew {growth} bytes for 400 refused requests"
        );
        assert!(rig.events.all().is_empty(), "{kind:?}");
        assert!(rig.attempt(&attempt.id).await.state.is_open());
    }
}
