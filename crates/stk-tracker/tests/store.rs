//! The store conformance suite against SQLite and PostgreSQL. PostgreSQL runs when
//! `STK_TEST_POSTGRES_URL` names a server (`.ci/run` starts one); in CI (`CI` set) it never
//! silently skips.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use stk_tracker::SqlStore;
use stk_tracker::conformance::Pair;

async fn sqlite_pair() -> Option<Pair> {
    let path = std::env::temp_dir().join(format!(
        "stk-conformance-{}-{}.db",
        std::process::id(),
        fastrand::u64(..)
    ));
    let a = SqlStore::open_sqlite(&path).await.unwrap();
    let b = SqlStore::open_sqlite(&path).await.unwrap();
    Some((Arc::new(a), Arc::new(b)))
}

mod sqlite {
    stk_tracker::store_conformance!(super::sqlite_pair());
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    /// A fresh database on the test server, as two pools.
    pub(super) async fn pair() -> Option<Pair> {
        let url = stk_tracker::conformance::test_postgres_url()?;
        let fresh = stk_tracker::conformance::fresh_postgres_database(&url).await;
        let a = SqlStore::connect(&fresh).await.unwrap();
        let b = SqlStore::connect(&fresh).await.unwrap();
        Some((Arc::new(a), Arc::new(b)))
    }

    stk_tracker::store_conformance!(pair());
}
