//! Durable payment state for M-Pesa STK Push: the merchant always knows whether an order is
//! paid, exactly once, never on a forged callback.
//!
//! - **Record before sending**: [`Tracker::push`] writes the attempt, then calls the provider;
//!   a lost answer or a crash leaves a record, resolved by callback or status query, never by
//!   a second push. A second push for an order that is live or paid is refused
//!   ([`TrackerError::AlreadyLive`]).
//! - **One state machine** ([`AttemptState`]), forward only, compare-and-set in the store.
//! - **Callbacks: store, acknowledge, then process** ([`Tracker::receive`],
//!   [`receiver::router`]): a callback is a claim; it is confirmed by a status query, and the
//!   binding rules decide what the answer may move: an id only a callback supplied pays an
//!   order only when the provider's answer names that order's reference and amount (and
//!   phone); a failure claim never binds; one provider payment id or receipt pays at most one
//!   attempt (unique in the store). Claims the provider cannot settle raise `needs_review`;
//!   [`Tracker::resolve`] records a person's decision.
//! - **Events** ([`EventHandler`]): one per (attempt, final state) and per anomaly, written in
//!   the same transaction as the transition, re-delivered until acknowledged.
//! - **Reconciliation** ([`Tracker::sweep`]): lost callbacks and outcome-unknown pushes are
//!   queried with backoff; attempts past their deadline are flagged for review, never failed.
//!
//! The store is [`SqlStore`]: SQLite by default (one node: WAL, busy timeout), PostgreSQL with
//! feature `postgres` (many instances).

mod binding;
mod budget;
mod callbacks;
#[cfg(feature = "conformance")]
pub mod conformance;
mod delivery;
mod error;
mod event;
mod fault;
mod ids;
mod intake;
mod model;
mod queries;
mod raise;
mod resolve;
mod retention;
mod state;
mod stats;
mod store;
mod sweeper;
mod tracker;

#[cfg(feature = "axum")]
pub mod receiver;

pub use budget::StatusQueryCounts;
pub use callbacks::{CallbackOutcome, Received};
pub use delivery::{EventHandler, HandlerError, MAX_RETRY_DELAY};
pub use error::TrackerError;
pub use event::{
    Anomaly, AnomalyKind, Completed, Event, EventKind, EventPayment, Expired, Failed, NeedsReview,
    NewEvent,
};
pub use ids::Clock;
pub use model::{
    Attempt, InboxItem, Inserted, NewAttempt, Refused, Source, Transition, TransitionRequest,
};
pub use queries::{Page, PaymentRecord};
pub use resolve::{MAX_NOTE_CHARS, Resolution, awaiting_review};
pub use state::{AttemptState, Observed, next_state};
pub use stats::{LATENCY_BUCKETS, LatencyHistogram};
pub use store::{
    AttemptKeys, AttemptQuery, AttemptStore, Cursor, Held, InboxStore, Lease, OutboxStore,
    Recorded, SqlStore, Store, StoreError, StoreErrorKind, Tally,
};
pub use sweeper::SweepReport;
pub use tracker::{ANOMALY_WINDOW, Tracker, TrackerBuilder, TrackerConfig};
