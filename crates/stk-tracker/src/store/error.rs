//! What a store failure is, kept with its cause.

use std::error::Error as StdError;

/// What kind of store failure: what a caller branches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// A unique key refused the write (a payment id or receipt another attempt holds): the
    /// store is fine, the write must not happen.
    Conflict,
    /// The database cannot be reached now (connection refused or lost, pool exhausted, locked
    /// past the busy timeout): try again once it is back.
    Unavailable,
    /// A stored row does not read (written by a newer version, or damaged).
    Unreadable,
    /// Anything else the database refused (full disk, permissions, a constraint).
    Other,
}

/// A store failure (the database is unreachable, full, or corrupt), or a write refused
/// because it would give a provider payment id or receipt to a second attempt. The
/// database's own error is kept as [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[error("the payment store failed: {message}")]
#[non_exhaustive]
pub struct StoreError {
    /// What the database said.
    pub message: String,
    /// What kind of failure.
    pub kind: StoreErrorKind,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl StoreError {
    /// A store error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            kind: StoreErrorKind::Other,
            source: None,
        }
    }

    /// A write refused by a unique key.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            kind: StoreErrorKind::Conflict,
            ..Self::new(message)
        }
    }

    /// A store error of `kind` caused by `source`.
    pub fn with_source(
        kind: StoreErrorKind,
        message: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            kind,
            source: Some(Box::new(source)),
        }
    }

    /// Whether a unique key refused the write.
    pub fn is_conflict(&self) -> bool {
        self.kind == StoreErrorKind::Conflict
    }

    /// Whether the database could not be reached (worth retrying later).
    pub fn is_unavailable(&self) -> bool {
        self.kind == StoreErrorKind::Unavailable
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        let kind = match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreErrorKind::Conflict,
            // SQLite's "database is locked" after the busy timeout: another writer holds it.
            sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("5" | "6")) => {
                StoreErrorKind::Unavailable
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreErrorKind::Unavailable,
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreErrorKind::Unreadable,
            _ => StoreErrorKind::Other,
        };
        Self::with_source(kind, e.to_string(), e)
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        Self::with_source(
            StoreErrorKind::Unreadable,
            format!("a stored value does not read: {e}"),
            e,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_kept_and_the_message_unchanged() {
        let e = StoreError::from(sqlx::Error::PoolTimedOut);
        assert!(e.is_unavailable());
        assert_eq!(
            e.to_string(),
            format!("the payment store failed: {}", sqlx::Error::PoolTimedOut)
        );
        let cause = e.source().expect("a cause");
        assert!(cause.downcast_ref::<sqlx::Error>().is_some());
        assert!(StoreError::new("x").source().is_none());
        assert!(StoreError::conflict("x").is_conflict());
    }
}
