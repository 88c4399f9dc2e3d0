//! Record before sending, really (issue 17, case 7): when the store cannot write (a full
//! disk), nothing is sent; when it fails after the push went out, the push is reported as an
//! unrecorded outcome (`outcome_unknown`), never as a bad input that invites a second push.
//! On real SQLite and real PostgreSQL, whose triggers refuse the writes as a full disk would.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use stk_core::{StkProvider, StkPushRequest};
use stk_mock::MockProvider;
use stk_tracker::{AttemptState, SqlStore, Tracker, TrackerError};

/// Which writes the database refuses.
#[derive(Clone, Copy)]
enum Refuse {
    Insert,
    Update,
}

struct Db {
    url: String,
    sqlite: bool,
    _dir: Option<TempDir>,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Db {
    fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "stk-full-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        Self {
            url: format!("sqlite://{}/payments.db", dir.display()),
            sqlite: true,
            _dir: Some(TempDir(dir)),
        }
    }

    /// Makes every `refused` write to the attempts fail as a full disk does.
    async fn refuse(&self, refused: Refuse) {
        let op = match refused {
            Refuse::Insert => "INSERT",
            Refuse::Update => "UPDATE",
        };
        let sql = if self.sqlite {
            format!(
                "CREATE TRIGGER stk_test_full BEFORE {op} ON stk_attempts \
                 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
            )
        } else {
            format!(
                "CREATE FUNCTION stk_test_full() RETURNS trigger AS $$ BEGIN \
                 RAISE EXCEPTION 'could not extend file: No space left on device'; END $$ \
                 LANGUAGE plpgsql; \
                 CREATE TRIGGER stk_test_full BEFORE {op} ON stk_attempts \
                 FOR EACH ROW EXECUTE FUNCTION stk_test_full();"
            )
        };
        let pool = sqlx::AnyPool::connect(&self.url).await.unwrap();
        sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

fn request(reference: &str) -> StkPushRequest {
    StkPushRequest::builder()
        .phone("0712345678")
        .amount(100)
        .reference(reference)
        .build()
        .unwrap()
}

async fn tracker(db: &Db) -> (Tracker, MockProvider) {
    let store = SqlStore::connect(&db.url).await.unwrap();
    let mock = MockProvider::builder()
        .delay(std::time::Duration::ZERO)
        .build();
    let tracker = Tracker::builder(Arc::new(store))
        .provider(Arc::new(mock.clone()))
        .build();
    (tracker, mock)
}

/// The store refuses the attempt: the push is never sent.
async fn a_store_that_cannot_record_sends_nothing(db: Db) {
    let (tracker, mock) = tracker(&db).await;
    db.refuse(Refuse::Insert).await;
    let error = tracker.push(&request("FULL-1")).await.unwrap_err();
    assert!(matches!(error, TrackerError::Store(_)), "{error}");
    assert_eq!(error.kind(), "store");
    assert!(mock.requests().is_empty(), "nothing was sent");
    assert!(
        tracker
            .payments(&stk_tracker::AttemptQuery::newest(10))
            .await
            .unwrap()
            .attempts
            .is_empty()
    );
}

/// The attempt was recorded and the push sent, then the store fails: an unrecorded outcome
/// (`outcome_unknown`) that names the attempt and the provider's payment id and says not to
/// push again; the order stays blocked.
async fn a_store_failure_after_sending_is_an_unknown_outcome(db: Db) {
    let (tracker, mock) = tracker(&db).await;
    db.refuse(Refuse::Update).await;
    let error = tracker.push(&request("FULL-2")).await.unwrap_err();
    let TrackerError::Unrecorded {
        attempt_id,
        payment_id,
        ..
    } = &error
    else {
        panic!("an unrecorded outcome, not {error:?}")
    };
    assert_eq!(error.kind(), "outcome_unknown");
    assert_eq!(mock.requests().len(), 1, "the push went out once");
    let message = error.to_string();
    assert!(message.contains("do not push again"), "{message}");
    assert!(message.contains(attempt_id.as_str()), "{message}");
    let payment_id = payment_id.clone().unwrap();
    assert!(message.contains(&payment_id), "{message}");
    assert_eq!(
        mock.status(&stk_core::PaymentId::new(payment_id))
            .await
            .unwrap()
            .as_str(),
        "completed",
        "the customer was charged"
    );

    // The row recorded before sending blocks a second push for the order.
    let recorded = tracker.attempt(attempt_id).await.unwrap();
    assert_eq!(recorded.state, AttemptState::Created);
    let again = tracker.push(&request("FULL-2")).await.unwrap_err();
    assert!(matches!(again, TrackerError::AlreadyLive { .. }), "{again}");
    assert_eq!(mock.requests().len(), 1);
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn a_store_that_cannot_record_sends_nothing() {
        super::a_store_that_cannot_record_sends_nothing(Db::sqlite()).await;
    }

    #[tokio::test]
    async fn a_store_failure_after_sending_is_an_unknown_outcome() {
        super::a_store_failure_after_sending_is_an_unknown_outcome(Db::sqlite()).await;
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    async fn db() -> Option<Db> {
        let url = stk_tracker::conformance::test_postgres_url()?;
        let url = stk_tracker::conformance::fresh_postgres_database(&url).await;
        Some(Db {
            url,
            sqlite: false,
            _dir: None,
        })
    }

    #[tokio::test]
    async fn a_store_that_cannot_record_sends_nothing() {
        if let Some(db) = db().await {
            super::a_store_that_cannot_record_sends_nothing(db).await;
        }
    }

    #[tokio::test]
    async fn a_store_failure_after_sending_is_an_unknown_outcome() {
        if let Some(db) = db().await {
            super::a_store_failure_after_sending_is_an_unknown_outcome(db).await;
        }
    }
}
