//! The abuse guard's tables (`stk_guard_runs`, `stk_guard_account`).

use async_trait::async_trait;

use super::SqlStore;

/// The abuse guard's counts in the shared store: a phone failed through one instance counts
/// for all (`stk_core::Guarded::with_store`). A store failure refuses the push.
#[async_trait]
impl stk_core::GuardStore for SqlStore {
    async fn record_failure(
        &self,
        phone: &stk_core::PhoneNumber,
        at_ms: u64,
    ) -> Result<(), stk_core::Error> {
        let at = i64::try_from(at_ms).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await.map_err(guard_error)?;
        sqlx::query("INSERT INTO stk_guard_runs (phone, at) VALUES ($1, $2)")
            .bind(phone.international())
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(guard_error)?;
        sqlx::query("INSERT INTO stk_guard_account (at) VALUES ($1)")
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(guard_error)?;
        tx.commit().await.map_err(guard_error)
    }

    async fn record_success(&self, phone: &stk_core::PhoneNumber) -> Result<(), stk_core::Error> {
        sqlx::query("DELETE FROM stk_guard_runs WHERE phone = $1")
            .bind(phone.international())
            .execute(&self.pool)
            .await
            .map_err(guard_error)?;
        Ok(())
    }

    async fn successive_failures(
        &self,
        phone: &stk_core::PhoneNumber,
    ) -> Result<Vec<u64>, stk_core::Error> {
        let times: Vec<i64> =
            sqlx::query_scalar("SELECT at FROM stk_guard_runs WHERE phone = $1 ORDER BY at")
                .bind(phone.international())
                .fetch_all(&self.pool)
                .await
                .map_err(guard_error)?;
        Ok(unsigned(times))
    }

    async fn account_failures(&self, since_ms: u64) -> Result<Vec<u64>, stk_core::Error> {
        let since = i64::try_from(since_ms).unwrap_or(i64::MAX);
        sqlx::query("DELETE FROM stk_guard_account WHERE at < $1")
            .bind(since)
            .execute(&self.pool)
            .await
            .map_err(guard_error)?;
        let times: Vec<i64> =
            sqlx::query_scalar("SELECT at FROM stk_guard_account WHERE at >= $1 ORDER BY at")
                .bind(since)
                .fetch_all(&self.pool)
                .await
                .map_err(guard_error)?;
        Ok(unsigned(times))
    }
}

/// Stored times (never negative) as the guard's `u64` milliseconds.
fn unsigned(times: Vec<i64>) -> Vec<u64> {
    times
        .into_iter()
        .map(|t| u64::try_from(t).unwrap_or(0))
        .collect()
}

fn guard_error(e: sqlx::Error) -> stk_core::Error {
    stk_core::Error::Unavailable {
        provider: "guard",
        status: None,
        message: format!("the abuse guard's store failed, so the push was not sent: {e}"),
        cause: Some(stk_core::Cause::new(e)),
    }
}
