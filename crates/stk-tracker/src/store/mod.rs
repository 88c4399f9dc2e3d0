//! The store behind the tracker: one small async trait, [`SqlStore`] over SQLite (the
//! embedded default) or PostgreSQL (feature `postgres`).

mod error;
mod query;
mod sql;
mod states;

use async_trait::async_trait;

use crate::event::{Event, NewEvent};
use crate::model::{
    Attempt, InboxItem, Inserted, NewAttempt, Refused, Transition, TransitionRequest,
};

pub use error::{StoreError, StoreErrorKind};
pub use query::{AttemptQuery, Cursor, Tally};
pub use sql::SqlStore;

/// Who claims rows, when, and for how long: a claimed row is skipped by other claimers until
/// the lease ends (then another instance takes it over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease<'a> {
    /// The claiming instance.
    pub owner: &'a str,
    /// Now (Unix ms).
    pub now: i64,
    /// How long the claim holds (ms).
    pub for_ms: i64,
}

impl Lease<'_> {
    /// When the lease ends (Unix ms).
    pub fn until(&self) -> i64 {
        self.now.saturating_add(self.for_ms)
    }
}

/// What recording a new attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Recorded {
    /// Recorded: the push may be sent.
    New(Attempt),
    /// Not recorded: the order already has this live (or paid) attempt.
    Live(Attempt),
}

/// A provider's key that at most one attempt may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Held<'a> {
    /// A provider payment id.
    PaymentId(&'a str),
    /// The M-Pesa receipt of a completed attempt.
    Receipt(&'a str),
}

/// Which of an attempt's ids a callback may carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptKeys<'a> {
    /// The provider name.
    pub provider: &'a str,
    /// Payment ids (the event's `payment_id` and `status_id`).
    pub payment_ids: Vec<&'a str>,
    /// M-Pesa's `CheckoutRequestID`.
    pub checkout_request_id: Option<&'a str>,
    /// The merchant reference.
    pub reference: Option<&'a str>,
}

/// Durable payment state: the backend contract, one trait per table ([`AttemptStore`],
/// [`InboxStore`], [`OutboxStore`]), implemented by [`SqlStore`] and checked for any backend
/// by the conformance suite (feature `conformance`). Every write that changes an attempt is
/// a compare-and-set, so concurrent writers (tasks or processes) cannot interleave.
///
/// Reads for people (lists, search, one payment's record) go through the
/// [`Tracker`](crate::Tracker)'s query methods.
pub trait Store: AttemptStore + InboxStore + OutboxStore + std::fmt::Debug {}

impl<T: AttemptStore + InboxStore + OutboxStore + std::fmt::Debug> Store for T {}

/// Attempts and their transitions.
#[async_trait]
pub trait AttemptStore: Send + Sync {
    /// Records an attempt, unless the order already has a live or paid attempt (with any
    /// provider).
    async fn insert_attempt(&self, new: &NewAttempt) -> Result<Recorded, StoreError>;
    /// An attempt by id.
    async fn attempt(&self, id: &str) -> Result<Option<Attempt>, StoreError>;
    /// The attempt a callback names, by payment id, checkout id, then live reference.
    async fn find_attempt(&self, keys: &AttemptKeys<'_>) -> Result<Option<Attempt>, StoreError>;
    /// The attempt of `provider` that holds `key`, if any.
    async fn attempt_holding(
        &self,
        provider: &str,
        key: Held<'_>,
    ) -> Result<Option<Attempt>, StoreError>;
    /// The attempts `query` matches, newest first (at most its limit).
    async fn search_attempts(&self, query: &AttemptQuery) -> Result<Vec<Attempt>, StoreError>;
    /// Attempts created in `[from, before)` (Unix ms), counted and summed by state and
    /// provider.
    async fn tally(&self, from: i64, before: i64) -> Result<Vec<Tally>, StoreError>;
    /// Applies a compare-and-set transition (with its transition row and its event, in one
    /// transaction); `false` if the attempt had moved on. A payment id or receipt another
    /// attempt holds is refused with a [`StoreError::conflict`].
    async fn transition(&self, request: &TransitionRequest) -> Result<bool, StoreError>;
    /// Records evidence that changes no state (an anomaly, a failed query) and its event.
    async fn note(
        &self,
        transition: &Transition,
        event: Option<&NewEvent>,
    ) -> Result<(), StoreError>;
    /// Sets when to query an open attempt next, counting a query made.
    async fn schedule_check(
        &self,
        attempt_id: &str,
        next_check_at: Option<i64>,
        queried: bool,
        last_error: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Notes a final claim the provider's status did not confirm yet (the first one's time is
    /// kept) and brings the attempt's next check forward to `check_at` (open attempts only).
    async fn note_claim(&self, attempt_id: &str, at: i64, check_at: i64) -> Result<(), StoreError>;
    /// Claims up to `limit` open attempts of `providers` due for a check (or past their
    /// deadline).
    async fn claim_due_attempts(
        &self,
        providers: &[&str],
        lease: &Lease<'_>,
        limit: i64,
    ) -> Result<Vec<Attempt>, StoreError>;
    /// An attempt's transitions, oldest first.
    async fn transitions(&self, attempt_id: &str) -> Result<Vec<Transition>, StoreError>;
}

/// The callback inbox: callbacks stored as received, then processed.
#[async_trait]
pub trait InboxStore: Send + Sync {
    /// Stores callbacks as received (de-duplicated on provider and body, also within
    /// `items`), all or none; one answer per item, in order. The tracker hands over the
    /// callbacks that arrive together, so a flood shares commits (group commit).
    async fn insert_inbox(&self, items: &[InboxItem]) -> Result<Vec<Inserted>, StoreError>;
    /// Claims up to `limit` unprocessed callbacks for `providers`.
    async fn claim_inbox(
        &self,
        providers: &[&str],
        lease: &Lease<'_>,
        limit: i64,
    ) -> Result<Vec<InboxItem>, StoreError>;
    /// Marks callbacks processed, all with the same outcome (claims processed together).
    async fn finish_inbox(
        &self,
        ids: &[&str],
        now: i64,
        outcome: &str,
        attempt_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Leaves a callback unprocessed, to be claimed again at `retry_at` (its processing failed
    /// for a reason that may pass: the store or the provider was unavailable).
    async fn release_inbox(&self, id: &str, retry_at: i64, error: &str) -> Result<(), StoreError>;
    /// A callback by id.
    async fn inbox_item(&self, id: &str) -> Result<Option<InboxItem>, StoreError>;
    /// The latest 100 callbacks matched to `attempt_id`, oldest first.
    async fn callbacks_of(&self, attempt_id: &str) -> Result<Vec<InboxItem>, StoreError>;
    /// Deletes up to `limit` callbacks processed before `before`; returns how many.
    async fn prune_inbox(&self, before: i64, limit: i64) -> Result<u64, StoreError>;
    /// How many callbacks of `provider` wait to be processed (counted up to `up_to`).
    async fn unprocessed(&self, provider: &str, up_to: i64) -> Result<i64, StoreError>;
    /// Counts callbacks refused before storage (`refused.count` more for its provider and
    /// reason; a bounded number of reasons per provider) and keeps the latest excerpt.
    async fn record_refused(&self, refused: &Refused) -> Result<(), StoreError>;
    /// The refusal counts, per provider, most frequent first.
    async fn refused(&self) -> Result<Vec<Refused>, StoreError>;
}

/// The event outbox: events written with their transitions, delivered until acknowledged.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Claims up to `limit` undelivered events due now; an event waits while an older one of
    /// the same attempt is undelivered (events arrive in order).
    async fn claim_events(&self, lease: &Lease<'_>, limit: i64) -> Result<Vec<Event>, StoreError>;
    /// Marks an event delivered (the handler acknowledged it).
    async fn ack_event(&self, event_id: &str, now: i64) -> Result<(), StoreError>;
    /// Schedules another delivery of an event the handler did not acknowledge.
    async fn retry_event(
        &self,
        event_id: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<(), StoreError>;
    /// Every event of an attempt, delivered or not.
    async fn events(&self, attempt_id: &str) -> Result<Vec<Event>, StoreError>;
    /// How many events are undelivered, counted up to `up_to` (a bounded count, for metrics).
    async fn undelivered(&self, up_to: i64) -> Result<i64, StoreError>;
    /// Deletes up to `limit` events delivered before `before` (never an undelivered one);
    /// returns how many.
    async fn prune_events(&self, before: i64, limit: i64) -> Result<u64, StoreError>;
}
