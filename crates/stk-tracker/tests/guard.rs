//! The abuse guard's counts in the shared store: failures recorded through two instances
//! (two connection pools, two `Guarded` providers) block the phone for both. SQLite and
//! PostgreSQL.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use stk_core::{
    AccountRule, Error, GuardRules, GuardStore, Guarded, PhoneRule, PollPolicy, StkProvider,
    StkPushRequest, wait_for_final,
};
use stk_mock::MockProvider;
use stk_tracker::SqlStore;

/// 0700000001 cancels every push.
const CANCELS: &str = "0700000001";

fn rules() -> GuardRules {
    GuardRules::new(
        "test",
        Some(PhoneRule::new(10, Duration::from_secs(24 * 3600))),
        vec![AccountRule::new(50, Duration::from_secs(6 * 3600))],
    )
}

async fn cancelled_push(p: &Guarded<MockProvider>, n: usize) -> Result<(), Error> {
    let request = StkPushRequest::builder()
        .phone(CANCELS)
        .amount(10)
        .reference(format!("G-{n}"))
        .build()
        .unwrap();
    let accepted = p.initiate(&request).await?;
    let policy = PollPolicy::default()
        .intervals(Duration::from_millis(1), Duration::from_millis(5))
        .deadline(Duration::from_secs(5));
    wait_for_final(p, &accepted.payment_id, &policy).await?;
    Ok(())
}

async fn shared_counts(a: SqlStore, b: SqlStore) {
    let mock = || MockProvider::builder().delay(Duration::ZERO).build();
    let (mock_a, mock_b) = (mock(), mock());
    let one = Guarded::with_store(mock_a.clone(), rules(), Arc::new(a) as Arc<dyn GuardStore>);
    let two = Guarded::with_store(mock_b.clone(), rules(), Arc::new(b) as Arc<dyn GuardStore>);
    for n in 0..5 {
        cancelled_push(&one, n).await.unwrap();
        cancelled_push(&two, 100 + n).await.unwrap();
    }
    for guarded in [&one, &two] {
        let err = cancelled_push(guarded, 999).await.unwrap_err();
        assert_eq!(err.kind(), "guarded", "{err}");
    }
    assert_eq!(
        mock_a.requests().len() + mock_b.requests().len(),
        10,
        "the 11th never went out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_instances_share_the_guard() {
    let path = std::env::temp_dir().join(format!(
        "stk-guard-{}-{}.db",
        std::process::id(),
        fastrand::u64(..)
    ));
    let a = SqlStore::open_sqlite(&path).await.unwrap();
    let b = SqlStore::open_sqlite(&path).await.unwrap();
    shared_counts(a, b).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_instances_share_the_guard() {
    let Some(url) = stk_tracker::conformance::test_postgres_url() else {
        return;
    };
    let fresh = stk_tracker::conformance::fresh_postgres_database(&url).await;
    let a = SqlStore::connect(&fresh).await.unwrap();
    let b = SqlStore::connect(&fresh).await.unwrap();
    shared_counts(a, b).await;
}
