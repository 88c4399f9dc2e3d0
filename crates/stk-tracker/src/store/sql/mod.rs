//! [`SqlStore`]: the [`Store`](super::Store) over `sqlx`'s `Any` driver, so SQLite and
//! PostgreSQL run the same SQL (`$n` placeholders, `ON CONFLICT DO NOTHING`, `UPDATE …
//! RETURNING`, partial unique indexes) and the same migrations. One module per table.

mod attempts;
mod guard;
mod inbox;
mod migrate;
mod outbox;
mod rows;
mod search;
mod url;

use std::path::Path;

use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, AnyRow};

use super::{Lease, StoreError};

use url::{create_parent, normalize_sqlite_url, sqlite_url};
pub(crate) use url::{redact, scrub};

/// A SQL store: SQLite (`sqlite://…`, WAL, one node) or PostgreSQL (`postgres://…`, feature
/// `postgres`, many nodes).
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    sqlite: bool,
}

impl SqlStore {
    /// Opens (creating it and its directory if needed) the SQLite database at `path`; any
    /// file name works (spaces, `?`, `%`, `#`).
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        create_parent(path)?;
        Self::connect(&sqlite_url(path, "mode=rwc")).await
    }

    /// Connects to `url` and applies the migrations: `postgres://…` (feature `postgres`), or
    /// SQLite as `sqlite:path`, `sqlite://path` or `sqlite:///absolute/path` (percent-encoded
    /// where the path has `?`, `%` or `#`; a new file and its directory are created unless
    /// the URL sets `mode`), or `sqlite::memory:`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let sqlite = url
            .get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("sqlite:"));
        let normalized;
        let url = if sqlite {
            normalized = normalize_sqlite_url(url)?;
            normalized.as_str()
        } else {
            url
        };
        if !sqlite && !cfg!(feature = "postgres") {
            return Err(StoreError::new(format!(
                "{}: only SQLite is compiled in; build stk-tracker with feature `postgres` for postgres:// URLs",
                redact(url)
            )));
        }
        // SQLite: sqlx's driver waits up to 5 s on a locked database (busy timeout); WAL
        // (set below, kept in the file) lets readers run beside the writer.
        let cannot_open = |e: sqlx::Error| {
            StoreError::new(scrub(
                &format!("cannot open the payment store ({}): {e}", redact(url)),
                url,
            ))
        };
        // One connection first: a server that refuses is reported at once, not after the
        // pool's 30 s of retries.
        let probe = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
            .await
            .map_err(cannot_open)?;
        sqlx::Connection::close(probe).await.map_err(cannot_open)?;
        let options = AnyPoolOptions::new().max_connections(if sqlite { 4 } else { 16 });
        let pool = options.connect(url).await.map_err(cannot_open)?;
        let store = Self { pool, sqlite };
        // Many processes opening a new SQLite file at once race for the lock that switching
        // to WAL and migrating need; SQLite answers "locked" at once rather than waiting, so
        // try again for a while.
        let mut tries = 0;
        loop {
            match store.prepare().await {
                Err(e) if sqlite && e.message.contains("locked") && tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(10 + fastrand::u64(..40)))
                        .await;
                }
                result => break result?,
            }
        }
        Ok(store)
    }

    /// Whether this is the embedded SQLite store.
    pub fn is_sqlite(&self) -> bool {
        self.sqlite
    }

    /// `FOR UPDATE SKIP LOCKED` where the database has it (PostgreSQL): concurrent workers
    /// claim disjoint rows without waiting. SQLite serializes writers instead.
    fn skip_locked(&self) -> &'static str {
        if self.sqlite {
            ""
        } else {
            " FOR UPDATE SKIP LOCKED"
        }
    }

    /// Deletes up to `limit` rows of `table` finished (`finished_at` set) before `before`,
    /// oldest first; returns how many. Rows not finished are never deleted.
    async fn delete_finished(
        &self,
        table: &str,
        key: &str,
        finished_at: &str,
        before: i64,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let sql = format!(
            "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} \
             WHERE {finished_at} IS NOT NULL AND {finished_at} < $1 ORDER BY {finished_at} LIMIT $2)"
        );
        let done = sqlx::query(&sql)
            .bind(before)
            .bind(limit)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Claims up to `limit` rows of `table` matching `due` (and not leased by a live claim)
    /// for `lease`; returns them with `columns`. One statement, so
    /// concurrent claimers get disjoint rows.
    async fn claim(
        &self,
        claim: Claim<'_>,
        providers: Option<&[&str]>,
        lease: &Lease<'_>,
        limit: i64,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let Claim {
            table,
            key,
            due,
            order,
            columns,
        } = claim;
        let free = "(lease_until IS NULL OR lease_until < $3)";
        // Only what this instance can act on: its providers ($5, $6, …).
        let mine = providers.map_or(String::new(), |names| {
            let list: Vec<String> = (0..names.len()).map(|i| format!("${}", i + 5)).collect();
            format!(
                " AND provider IN ({})",
                if list.is_empty() {
                    "NULL".to_owned()
                } else {
                    list.join(", ")
                }
            )
        });
        let due = format!("{due}{mine}");
        let pick = format!(
            "SELECT {key} FROM {table} WHERE {due} AND {free} ORDER BY {order} LIMIT $4{lock}",
            lock = self.skip_locked()
        );
        // PostgreSQL may run an `IN (…SKIP LOCKED)` subquery more than once and so lease
        // more rows than `limit` (stranding the extra ones until their lease ends): pick the
        // rows once, materialized.
        let sql = if self.sqlite {
            format!(
                "UPDATE {table} SET lease_owner = $1, lease_until = $2 \
                 WHERE {key} IN ({pick}) AND {due} AND {free} RETURNING {columns}"
            )
        } else {
            format!(
                "WITH picked AS MATERIALIZED ({pick}) \
                 UPDATE {table} SET lease_owner = $1, lease_until = $2 \
                 WHERE {key} IN (SELECT {key} FROM picked) AND {due} AND {free} \
                 RETURNING {columns}"
            )
        };
        let mut query = sqlx::query(&sql)
            .bind(lease.owner)
            .bind(lease.until())
            .bind(lease.now)
            .bind(limit);
        for name in providers.unwrap_or_default() {
            query = query.bind(*name);
        }
        query.fetch_all(&self.pool).await.map_err(StoreError::from)
    }

    /// The row `sql` selects by `$1, $2, … = keys`, decoded.
    async fn one<T>(
        &self,
        sql: &str,
        keys: &[&str],
        decode: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let query = keys
            .iter()
            .fold(sqlx::query(sql), |query, key| query.bind(*key));
        let row = query.fetch_optional(&self.pool).await?;
        row.as_ref().map(decode).transpose()
    }

    /// The rows `sql` selects by `$1 = key`, decoded.
    async fn all<T>(
        &self,
        sql: &str,
        key: &str,
        decode: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = sqlx::query(sql).bind(key).fetch_all(&self.pool).await?;
        rows.iter().map(decode).collect()
    }
}

/// What [`SqlStore::claim`] claims (`$3` is now in `due`).
struct Claim<'a> {
    table: &'a str,
    key: &'a str,
    due: &'a str,
    order: &'a str,
    columns: &'a str,
}

fn amount(a: u64) -> i64 {
    i64::try_from(a).unwrap_or(i64::MAX)
}
