//! [`SqlStore`]: the [`Store`] over `sqlx`'s `Any` driver, so SQLite and PostgreSQL run the
//! same SQL (`$n` placeholders, `ON CONFLICT DO NOTHING`, `UPDATE … RETURNING`, partial unique
//! indexes) and the same migrations.

use std::fmt::Write as _;
use std::path::Path;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use super::{AttemptKeys, Held, Store, StoreError};
use crate::event::{Event, EventKind, NewEvent};
use crate::ids;
use crate::model::{
    Attempt, InboxItem, Inserted, NewAttempt, Refused, Transition, TransitionRequest,
};

/// The migrations, in order: `(version, SQL)`. Version 4's data repair
/// ([`repair_duplicates`]) runs before its SQL (the unique indexes), in the same transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_init.sql")),
    (2, include_str!("../../migrations/0002_guard.sql")),
    (3, include_str!("../../migrations/0003_receipt.sql")),
    (
        4,
        include_str!("../../migrations/0004_one_attempt_per_payment.sql"),
    ),
    (5, include_str!("../../migrations/0005_refused.sql")),
    (6, include_str!("../../migrations/0006_claimed_at.sql")),
    (7, include_str!("../../migrations/0007_occurrences.sql")),
];

/// Distinct refusal reasons kept per provider; others are counted under `other`.
const MAX_REFUSAL_REASONS: i64 = 64;

const ATTEMPT_COLUMNS: &str = "id, provider, reference, phone, amount, payment_id, \
    checkout_request_id, receipt, state, version, created_at, updated_at, deadline_at, \
    next_check_at, check_count, last_error, claimed_at";

fn db(e: sqlx::Error) -> StoreError {
    let conflict = e
        .as_database_error()
        .is_some_and(|d| d.is_unique_violation());
    if conflict {
        StoreError::conflict(e.to_string())
    } else {
        StoreError::new(e.to_string())
    }
}

/// A SQL store: SQLite (`sqlite://…`, WAL, one node) or PostgreSQL (`postgres://…`, feature
/// `postgres`, many nodes).
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    sqlite: bool,
}

/// Serializes migrations between instances starting at once (PostgreSQL advisory lock key).
const MIGRATION_LOCK: i64 = 0x5354_4b5f_4d49_4752;

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

    /// Claims up to `limit` rows of `table` matching `due` (and not leased by a live claim)
    /// for `owner` until `now + lease_ms`; returns them with `columns`. One statement, so
    /// concurrent claimers get disjoint rows.
    async fn claim(
        &self,
        claim: Claim<'_>,
        providers: Option<&[&str]>,
        owner: &str,
        now: i64,
        lease_ms: i64,
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
            .bind(owner)
            .bind(now.saturating_add(lease_ms))
            .bind(now)
            .bind(limit);
        for name in providers.unwrap_or_default() {
            query = query.bind(*name);
        }
        query.fetch_all(&self.pool).await.map_err(db)
    }

    /// WAL (SQLite) and the migrations.
    async fn prepare(&self) -> Result<(), StoreError> {
        if self.sqlite {
            sqlx::raw_sql("PRAGMA journal_mode = WAL")
                .execute(&self.pool)
                .await
                .map_err(db)?;
        }
        self.migrate().await
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // One connection holds the lock while it migrates; others wait, then find it done.
        let mut conn = self.pool.acquire().await.map_err(db)?;
        if !self.sqlite {
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
        let result = self.migrate_on(&mut conn).await;
        if !self.sqlite {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
        result
    }

    async fn migrate_on(&self, conn: &mut sqlx::AnyConnection) -> Result<(), StoreError> {
        use sqlx::Connection;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS stk_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *conn)
        .await
        .map_err(db)?;
        let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM stk_schema")
            .fetch_one(&mut *conn)
            .await
            .map_err(db)?;
        for (version, sql) in MIGRATIONS {
            if applied.is_some_and(|a| a >= *version) {
                continue;
            }
            let result = async {
                let mut tx = conn.begin().await.map_err(db)?;
                if *version == 4 {
                    repair_duplicates(&mut tx).await?;
                }
                sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(db)?;
                sqlx::query(
                    "INSERT INTO stk_schema (version, applied_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(*version)
                .bind(ids::unix_ms_now())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                tx.commit().await.map_err(db)
            }
            .await;
            if let Err(e) = result {
                // Another process starting on the same new SQLite file may have applied it
                // first (its `ALTER TABLE` then fails here): fine if it is recorded now.
                let done: Option<i64> =
                    sqlx::query_scalar("SELECT version FROM stk_schema WHERE version = $1")
                        .bind(*version)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(db)?;
                if done.is_none() {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// The order's live (or paid) attempt, with any provider.
    async fn live_attempt(&self, reference: &str) -> Result<Option<Attempt>, StoreError> {
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM stk_attempts WHERE reference = $1 AND state <> 'failed'"
        );
        self.one(&sql, &[reference], attempt).await
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
        let row = query.fetch_optional(&self.pool).await.map_err(db)?;
        row.as_ref().map(decode).transpose()
    }

    /// The rows `sql` selects by `$1 = key`, decoded.
    async fn all<T>(
        &self,
        sql: &str,
        key: &str,
        decode: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = sqlx::query(sql)
            .bind(key)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
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

/// The URL without its user information or any password query parameter. A connection
/// string that is not a URL is hidden whole if it mentions a password.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return if url.to_ascii_lowercase().contains("password") {
            "[connection string hidden: it has a password]".to_owned()
        } else {
            url.to_owned()
        };
    };
    // The user information ends at the last `@` (a raw `?`, `/` or `@` in a password stays
    // on this side); then host, path and query.
    let rest = match url.rfind('@') {
        Some(at) if at > scheme_end => format!("…@{}", &url[at + 1..]),
        _ => url[scheme_end + 3..].to_owned(),
    };
    let (base, query) = rest.split_once('?').unwrap_or((&rest, ""));
    let mut shown = format!("{}://{base}", &url[..scheme_end]);
    if !query.is_empty() {
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                    format!("{key}=…")
                }
                _ => pair.to_owned(),
            })
            .collect();
        shown = format!("{shown}?{}", query.join("&"));
    }
    shown
}

/// `message` with every password `url` may carry (user information, a `password` query
/// parameter or `password=` setting, as written and percent-decoded) replaced, wherever a
/// driver's error repeats it.
pub(crate) fn scrub(message: &str, url: &str) -> String {
    let mut secrets: Vec<String> = Vec::new();
    if let (Some(scheme_end), Some(at)) = (url.find("://"), url.rfind('@')) {
        if at > scheme_end {
            if let Some((_, password)) = url[scheme_end + 3..at].split_once(':') {
                secrets.push(password.to_owned());
            }
        }
    }
    // URL query parameters, and `key=value` settings of a connection string.
    let pairs = url.split(['?', '&']).chain(url.split(' '));
    for pair in pairs {
        if let Some((key, value)) = pair.split_once('=') {
            if key.to_ascii_lowercase().contains("password") {
                secrets.push(value.to_owned());
            }
        }
    }
    let decoded: Vec<String> = secrets.iter().map(|s| percent_decode(s)).collect();
    secrets.extend(decoded);
    secrets.retain(|s| !s.is_empty());
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.iter().fold(message.to_owned(), |text, secret| {
        text.replace(secret.as_str(), "…")
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `sqlite://` URL of `path` (made absolute, every byte but the unreserved ones
/// percent-encoded, as the SQLite driver decodes them) with `params`.
fn sqlite_url(path: &Path, params: &str) -> String {
    // The directory resolved (symbolic links, `..`): the driver reads the URL through a URL
    // parser that would fold `..` by text, opening another file than the one named.
    let absolute = match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
        .map(|dir| dir.join(name))
        .ok(),
        _ => None,
    }
    .or_else(|| std::path::absolute(path).ok())
    .unwrap_or_else(|| path.to_path_buf());
    let mut encoded = String::new();
    for &byte in absolute.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    if !encoded.starts_with('/') {
        encoded.insert(0, '/');
    }
    format!("sqlite://{encoded}?{params}")
}

/// A SQLite URL in any documented form, as the one form the driver reads well: absolute
/// path, percent-encoded, `mode=rwc` (and the directory created) unless a mode is given.
fn normalize_sqlite_url(url: &str) -> Result<String, StoreError> {
    let lower = url.to_ascii_lowercase();
    let prefix = if lower.starts_with("sqlite://") { 9 } else { 7 };
    let rest = url.get(prefix..).unwrap_or_default();
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    if database == ":memory:" || database.is_empty() {
        return Ok(url.to_owned());
    }
    let path = std::path::PathBuf::from(percent_decode_path(database));
    let has_mode = params.split('&').any(|p| p.starts_with("mode="));
    let params = if has_mode {
        params.to_owned()
    } else {
        create_parent(&path)?;
        if params.is_empty() {
            "mode=rwc".to_owned()
        } else {
            format!("{params}&mode=rwc")
        }
    };
    Ok(sqlite_url(&path, &params))
}

/// A path part of a URL decoded (`%XX` only: `+` stays a plus in a path).
fn percent_decode_path(text: &str) -> String {
    percent_decode(&text.replace('+', "%2B"))
}

fn create_parent(path: &Path) -> Result<(), StoreError> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::new(format!("cannot create {}: {e}", dir.display()))),
        None => Ok(()),
    }
}

fn attempt(row: &AnyRow) -> Result<Attempt, StoreError> {
    let get_s = |c: &str| row.try_get::<String, _>(c).map_err(db);
    let get_os = |c: &str| row.try_get::<Option<String>, _>(c).map_err(db);
    let get_i = |c: &str| row.try_get::<i64, _>(c).map_err(db);
    let state: String = get_s("state")?;
    Ok(Attempt {
        id: get_s("id")?,
        provider: get_s("provider")?,
        reference: get_s("reference")?,
        phone: get_s("phone")?,
        amount: u64::try_from(get_i("amount")?).unwrap_or_default(),
        payment_id: get_os("payment_id")?,
        checkout_request_id: get_os("checkout_request_id")?,
        receipt: get_os("receipt")?,
        state: state.parse().map_err(StoreError::new)?,
        version: get_i("version")?,
        created_at: get_i("created_at")?,
        updated_at: get_i("updated_at")?,
        deadline_at: get_i("deadline_at")?,
        next_check_at: row.try_get::<Option<i64>, _>("next_check_at").map_err(db)?,
        claimed_at: row.try_get::<Option<i64>, _>("claimed_at").map_err(db)?,
        check_count: get_i("check_count")?,
        last_error: get_os("last_error")?,
    })
}

fn inbox_item(row: &AnyRow) -> Result<InboxItem, StoreError> {
    let get_s = |c: &str| row.try_get::<String, _>(c).map_err(db);
    let get_os = |c: &str| row.try_get::<Option<String>, _>(c).map_err(db);
    let headers: Vec<(String, String)> =
        serde_json::from_str(&get_s("headers")?).map_err(|e| StoreError::new(e.to_string()))?;
    Ok(InboxItem {
        id: get_s("id")?,
        provider: get_s("provider")?,
        received_at: row.try_get("received_at").map_err(db)?,
        target: get_os("target")?,
        headers,
        body: hex::decode(get_s("body")?).map_err(|e| StoreError::new(e.to_string()))?,
        processed_at: row.try_get("processed_at").map_err(db)?,
        outcome: get_os("outcome")?,
        attempt_id: get_os("attempt_id")?,
        error: get_os("error")?,
    })
}

fn transition(row: &AnyRow) -> Result<Transition, StoreError> {
    let evidence: String = row.try_get("evidence").map_err(db)?;
    Ok(Transition {
        attempt_id: row.try_get("attempt_id").map_err(db)?,
        from: row.try_get("from_state").map_err(db)?,
        to: row.try_get("to_state").map_err(db)?,
        source: row.try_get("source").map_err(db)?,
        evidence: serde_json::from_str(&evidence).map_err(|e| StoreError::new(e.to_string()))?,
        at: row.try_get("at").map_err(db)?,
    })
}

fn event(row: &AnyRow) -> Result<Event, StoreError> {
    let payload: String = row.try_get("payload").map_err(db)?;
    let kind: String = row.try_get("kind").map_err(db)?;
    Ok(Event {
        event_id: row.try_get("event_id").map_err(db)?,
        attempt_id: row.try_get("attempt_id").map_err(db)?,
        kind: EventKind::from_stored(&kind, &payload)
            .map_err(|e| StoreError::new(format!("a stored {kind} event does not read: {e}")))?,
        created_at: row.try_get("created_at").map_err(db)?,
        deliveries: row.try_get("deliveries").map_err(db)?,
        occurrences: row.try_get("occurrences").map_err(db)?,
    })
}

fn amount(a: u64) -> i64 {
    i64::try_from(a).unwrap_or(i64::MAX)
}

const EVENT_COLUMNS: &str =
    "event_id, attempt_id, kind, payload, created_at, deliveries, occurrences";
const INBOX_COLUMNS: &str =
    "id, provider, received_at, target, headers, body, processed_at, outcome, attempt_id, error";

/// Writes an event, or counts one more occurrence of it while it is undelivered; returns
/// whether a row was written or counted (`false`: it was already delivered).
async fn insert_event<'c, E>(executor: E, event: &NewEvent) -> Result<bool, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let (kind, payload) = event.kind.to_stored();
    let written = sqlx::query(
        "INSERT INTO stk_outbox (event_id, attempt_id, kind, payload, created_at, deliveries, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, 0, $5) ON CONFLICT (event_id) DO UPDATE \
         SET occurrences = stk_outbox.occurrences + 1 WHERE stk_outbox.delivered_at IS NULL",
    )
    .bind(&event.event_id)
    .bind(&event.attempt_id)
    .bind(kind)
    .bind(payload)
    .bind(event.at)
    .execute(executor)
    .await
    .map_err(db)?
    .rows_affected();
    Ok(written > 0)
}

async fn insert_transition<'c, E>(executor: E, t: &Transition) -> Result<(), StoreError>
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
    .await
    .map_err(db)?;
    Ok(())
}

#[async_trait]
impl Store for SqlStore {
    async fn insert_attempt(
        &self,
        new: &NewAttempt,
    ) -> Result<Result<Attempt, Attempt>, StoreError> {
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
            .await
            .map_err(db)?
            .rows_affected();
            if inserted == 1 {
                return match self.attempt(&new.id).await? {
                    Some(recorded) => Ok(Ok(recorded)),
                    None => Err(StoreError::new(
                        "the attempt was written but cannot be read back; nothing was sent",
                    )),
                };
            }
            if let Some(existing) = self.live_attempt(&new.reference).await? {
                return Ok(Err(existing));
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
            if let Some(row) = query.fetch_optional(&self.pool).await.map_err(db)? {
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

    async fn list_attempts(&self, limit: i64) -> Result<Vec<Attempt>, StoreError> {
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM stk_attempts ORDER BY created_at DESC, id DESC LIMIT $1"
        );
        sqlx::query(&sql)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(attempt)
            .collect()
    }

    async fn transition(&self, r: &TransitionRequest) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
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
        .await
        .map_err(db)?
        .rows_affected();
        if updated != 1 {
            tx.rollback().await.map_err(db)?;
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
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn note(&self, t: &Transition, event: Option<&NewEvent>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        insert_transition(&mut *tx, t).await?;
        if let Some(event) = event {
            if !insert_event(&mut *tx, event).await? {
                // Already delivered: this occurrence is news, as an event of its own.
                let mut again = event.clone();
                again.event_id = format!("{}:{}", event.event_id, ids::new_id("r", event.at));
                insert_event(&mut *tx, &again).await?;
            }
        }
        tx.commit().await.map_err(db)
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
        .await
        .map_err(db)?;
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
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn claim_due_attempts(
        &self,
        providers: &[&str],
        owner: &str,
        now: i64,
        lease_ms: i64,
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
                open = *super::states::OPEN,
            ),
            // Attempts in the quick looks after a fresh final claim first.
            order: &format!(
                "CASE WHEN claimed_at > $3 - {series} THEN 0 ELSE 1 END, next_check_at",
                series = crate::tracker::CLAIM_SERIES_MS
            ),
            columns: ATTEMPT_COLUMNS,
        };
        self.claim(claim, Some(providers), owner, now, lease_ms, limit)
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        let stored: std::collections::HashSet<String> = query
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?
            .into_iter()
            .collect();
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
                    .await
                    .map_err(db)?;
            let existing = existing
                .ok_or_else(|| StoreError::new("the callback was neither stored nor found"))?;
            answers.push(Inserted::Duplicate(existing));
        }
        tx.commit().await.map_err(db)?;
        Ok(answers)
    }

    async fn claim_inbox(
        &self,
        providers: &[&str],
        owner: &str,
        now: i64,
        lease_ms: i64,
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
            .claim(claim, Some(providers), owner, now, lease_ms, limit)
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
            query.execute(&self.pool).await.map_err(db)?;
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
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn prune_inbox(&self, before: i64, limit: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM stk_inbox WHERE id IN (SELECT id FROM stk_inbox \
             WHERE processed_at IS NOT NULL AND processed_at < $1 ORDER BY processed_at LIMIT $2)",
        )
        .bind(before)
        .bind(limit)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
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
        .map_err(db)
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
        .await
        .map_err(db)?;
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
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn refused(&self) -> Result<Vec<Refused>, StoreError> {
        let rows = sqlx::query(
            "SELECT provider, reason, count, last_at, sample FROM stk_refused \
             ORDER BY provider, count DESC, reason",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok(Refused {
                    provider: row.try_get("provider").map_err(db)?,
                    reason: row.try_get("reason").map_err(db)?,
                    count: row.try_get("count").map_err(db)?,
                    last_at: row.try_get("last_at").map_err(db)?,
                    sample: row.try_get("sample").map_err(db)?,
                })
            })
            .collect()
    }

    async fn inbox_item(&self, id: &str) -> Result<Option<InboxItem>, StoreError> {
        let sql = format!("SELECT {INBOX_COLUMNS} FROM stk_inbox WHERE id = $1");
        self.one(&sql, &[id], inbox_item).await
    }

    async fn claim_events(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let claim = Claim {
            table: "stk_outbox",
            key: "event_id",
            // In order per attempt, except that a state event (completed, failed, expired)
            // never waits behind an anomaly or a review: those cannot delay a payment.
            due: "delivered_at IS NULL AND next_attempt_at <= $3 AND NOT EXISTS (\
                  SELECT 1 FROM stk_outbox older WHERE older.attempt_id = stk_outbox.attempt_id \
                  AND older.delivered_at IS NULL AND (older.created_at < stk_outbox.created_at \
                  OR (older.created_at = stk_outbox.created_at AND older.event_id < stk_outbox.event_id)) \
                  AND NOT (stk_outbox.kind IN ('completed', 'failed', 'expired') \
                  AND older.kind IN ('anomaly', 'needs_review')))",
            order: "created_at, event_id",
            columns: EVENT_COLUMNS,
        };
        let mut events: Vec<Event> = self
            .claim(claim, None, owner, now, lease_ms, limit)
            .await?
            .iter()
            .map(event)
            .collect::<Result<_, _>>()?;
        events.sort_by(|a, b| (a.created_at, &a.event_id).cmp(&(b.created_at, &b.event_id)));
        Ok(events)
    }

    async fn ack_event(&self, event_id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE stk_outbox SET delivered_at = $1, lease_owner = NULL, lease_until = NULL \
             WHERE event_id = $2",
        )
        .bind(now)
        .bind(event_id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn retry_event(
        &self,
        event_id: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE stk_outbox SET deliveries = deliveries + 1, next_attempt_at = $1, \
             last_error = $2, lease_owner = NULL, lease_until = NULL WHERE event_id = $3",
        )
        .bind(next_attempt_at)
        .bind(error)
        .bind(event_id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn events(&self, attempt_id: &str) -> Result<Vec<Event>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM stk_outbox WHERE attempt_id = $1 ORDER BY created_at, event_id"
        );
        self.all(&sql, attempt_id, event).await
    }
}

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
        Ok(times
            .into_iter()
            .map(|t| u64::try_from(t).unwrap_or(0))
            .collect())
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
        Ok(times
            .into_iter()
            .map(|t| u64::try_from(t).unwrap_or(0))
            .collect())
    }
}

fn guard_error(e: sqlx::Error) -> stk_core::Error {
    stk_core::Error::Unavailable {
        provider: "guard",
        status: None,
        message: format!("the abuse guard's store failed, so the push was not sent: {e}"),
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
    .await
    .map_err(db)?;
    let mut keeper: Option<(String, String, String)> = None;
    for row in &duplicated {
        let get = |c: &str| row.try_get::<String, _>(c).map_err(db);
        let (id, provider, payment_id) = (get("id")?, get("provider")?, get("payment_id")?);
        match &keeper {
            Some((p, pid, kept_by)) if *p == provider && *pid == payment_id => {
                sqlx::query("UPDATE stk_attempts SET payment_id = NULL WHERE id = $1")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
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
    .await
    .map_err(db)?;
    let mut holders: std::collections::HashMap<(String, String), String> =
        std::collections::HashMap::new();
    for row in &completions {
        let get = |c: &str| row.try_get::<String, _>(c).map_err(db);
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
                    .await
                    .map_err(db)?;
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
    let get = |c: &str| row.try_get::<String, _>(c).map_err(db);
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
        "amount": row.try_get::<i64, _>("amount").map_err(db)?,
        "phone": get("phone")?,
        "payment_id": row.try_get::<Option<String>, _>("payment_id").map_err(db)?,
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
    .await
    .map_err(db)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    /// What the SQLite driver will open for `url`.
    fn opened(url: &str) -> std::path::PathBuf {
        sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .unwrap()
            .get_filename()
            .to_path_buf()
    }

    #[test]
    fn every_documented_sqlite_form_opens_the_file_it_names() {
        let abs = std::env::temp_dir().join("stk forms/pay?ments%41#1.db");
        let relative = std::path::absolute("relative.db").unwrap();
        let encoded = abs
            .display()
            .to_string()
            .replace('%', "%25")
            .replace('?', "%3F")
            .replace('#', "%23");
        for (url, expected) in [
            (format!("sqlite://{encoded}"), &abs),
            (format!("sqlite:{encoded}"), &abs),
            ("sqlite://relative.db".to_owned(), &relative),
            ("sqlite:relative.db".to_owned(), &relative),
        ] {
            let normalized = normalize_sqlite_url(&url).unwrap();
            assert!(normalized.ends_with("?mode=rwc"), "{normalized}");
            assert_eq!(&opened(&normalized), expected, "{url}");
        }
        assert_eq!(
            normalize_sqlite_url("sqlite::memory:").unwrap(),
            "sqlite::memory:"
        );
        let given = normalize_sqlite_url("sqlite:///tmp/x.db?mode=ro").unwrap();
        assert!(given.ends_with("?mode=ro"), "{given}");
        let upper = normalize_sqlite_url("SQLITE://relative.db").unwrap();
        assert_eq!(&opened(&upper), &relative);
    }

    /// `link/../payments.db` is the file the operating system would open (beside the link's
    /// target), not the one a textual `..` fold names.
    #[test]
    fn dot_dot_through_a_symbolic_link_opens_what_the_system_would() {
        let dir = std::env::temp_dir().join(format!("stk-link-{}", fastrand::u64(..)));
        std::fs::create_dir_all(dir.join("real/inner")).unwrap();
        std::os::unix::fs::symlink(dir.join("real/inner"), dir.join("link")).unwrap();
        let url = sqlite_url(&dir.join("link/../payments.db"), "mode=rwc");
        let expected = std::fs::canonicalize(dir.join("real"))
            .unwrap()
            .join("payments.db");
        assert_eq!(opened(&url), expected);
        let _ = std::fs::remove_dir_all(&dir);
    }

    proptest! {
        /// Any file name survives the URL: the driver opens exactly the path given.
        #[test]
        fn sqlite_urls_round_trip(name in "[a-zA-Z0-9 ?%#&=+;:@!'()\u{e9}\u{4e2d}_.-]{1,30}") {
            let path = std::env::temp_dir().join(&name);
            prop_assert_eq!(opened(&sqlite_url(&path, "mode=rwc")), std::path::absolute(&path).unwrap());
        }

        /// No password reaches an error message, whatever the URL's form, percent-encoded or
        /// written raw (`?`, `/`, `@`, `:` and `#` included).
        #[test]
        fn passwords_never_shown(password in "[a-zA-Z0-9%@:/?#+-]{4,20}", user in "[a-z]{1,8}") {
            let encoded: String = password.bytes().map(|b| format!("%{b:02X}")).collect();
            for url in [
                format!("postgres://{user}:{encoded}@db.example:5432/pay"),
                format!("postgres://{user}:{password}@db.example:5432/pay"),
                format!("postgres://{user}@db.example/pay?sslmode=disable&password={encoded}"),
                format!("postgres://db.example/pay?user={user}&password={encoded}&sslmode=require"),
                format!("host=db.example user={user} password={password}"),
            ] {
                let driver_said = format!("error connecting to {url} as {user} with password {password}");
                let message = scrub(&format!("({}) {driver_said}", redact(&url)), &url);
                prop_assert!(!message.contains(&encoded), "{}", message);
                prop_assert!(!message.contains(&password), "{}", message);
            }
        }
    }
}
