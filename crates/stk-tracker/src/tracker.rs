//! [`Tracker`]: push (recorded before sending), apply evidence through the state machine,
//! look payments up.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use stk_core::{Error, PaymentStatus, StkProvider, StkPushRequest};
use tokio::sync::Notify;

use crate::error::TrackerError;
use crate::event::{AnomalyKind, NewEvent};
use crate::ids::{self, Clock};
use crate::model::{Attempt, NewAttempt, Source, TransitionRequest};
use crate::raise::settled_event;
use crate::state::{AttemptState, Observed, emits_event, is_paid_late, next_state};
use crate::store::{Held, Store, StoreError};

/// Timing of the tracker's work. Defaults suit M-Pesa's prompts (about a minute to answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackerConfig {
    /// After this, an attempt without final evidence is flagged for review (`expired`).
    /// Never marks it failed. Default 10 minutes.
    pub deadline: Duration,
    /// First status query after a push, if no callback came. Default 30 s.
    pub first_check: Duration,
    /// Longest gap between status queries (the backoff doubles up to it). Default 5 min.
    pub max_check_interval: Duration,
    /// How long an attempt may stay `created` (the push was being sent) before it is
    /// treated as `outcome_unknown`. Default 2 min.
    pub send_grace: Duration,
    /// How long a claim on a callback, attempt or event lasts before another worker may take
    /// it over. Default 60 s.
    pub lease: Duration,
    /// Work items claimed at once. Default 64.
    pub batch: i64,
    /// Processed callbacks are pruned from the inbox after this (what moved an attempt stays
    /// in its transition). Default 30 days.
    pub retention: Duration,
    /// Unprocessed callbacks a provider may have waiting; beyond it new ones are answered
    /// 503 (the provider retries later), never stored and lost. Default 100,000.
    pub max_unprocessed: i64,
    /// Status queries a second to one provider from this instance, callbacks and the sweeper
    /// together, with bursts of twice that; past it, claims share the last answer or wait a
    /// moment, and the sweeper's looks move on by a moment. None of the providers publishes a
    /// limit (429s are documented): keep it under what your account is allowed. Default 50.
    pub status_queries_per_second: u32,
    /// Events handed to the handler at once, each of a different attempt (an attempt's
    /// events always arrive one after another, in order). 1 delivers strictly one at a time.
    /// Default 16.
    pub deliveries_at_once: i64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(600),
            first_check: Duration::from_secs(30),
            max_check_interval: Duration::from_secs(300),
            send_grace: Duration::from_secs(120),
            lease: Duration::from_secs(60),
            batch: 64,
            retention: Duration::from_secs(30 * 24 * 3600),
            max_unprocessed: 100_000,
            status_queries_per_second: 50,
            deliveries_at_once: 16,
        }
    }
}

/// Anomalies of one kind on one attempt within this window are one event with a count.
pub const ANOMALY_WINDOW: Duration = Duration::from_secs(600);

/// When a final claim the status did not confirm yet is re-checked, after its arrival: 1 s,
/// 2 s later, then every 2.5 s until a minute has passed (status endpoints lag callbacks by
/// seconds, at times tens of seconds: a lag of L is seen within L + 2.5 s); then the usual
/// backoff. At most 25 queries per claim series, well under one per second.
pub(crate) const CLAIM_RECHECKS_MS: [i64; 25] = claim_rechecks();

const fn claim_rechecks() -> [i64; 25] {
    let mut at = [1_000; 25];
    at[1] = 3_000;
    let mut n = 2;
    while n < at.len() {
        at[n] = at[n - 1] + 2_500;
        n += 1;
    }
    at
}

/// How long after a claim its quick looks go on (a second past the last, so a sweep that
/// comes a little late still takes it).
pub(crate) const CLAIM_SERIES_MS: i64 = CLAIM_RECHECKS_MS[CLAIM_RECHECKS_MS.len() - 1] + 1_000;

/// Whether `attempt` is in the quick looks after a completion claim its status did not
/// confirm (also for a `failed` or `expired` one: M-Pesa reports some payments failed, then
/// paid).
pub(crate) fn in_claim_series(attempt: &Attempt, now: i64) -> bool {
    attempt
        .claimed_at
        .is_some_and(|claimed| now.saturating_sub(claimed) < CLAIM_SERIES_MS)
}

/// The next quick look after a claim that arrived at `claimed`, if the series is not over.
pub(crate) fn claim_recheck_after(claimed: i64, now: i64) -> Option<i64> {
    CLAIM_RECHECKS_MS
        .iter()
        .map(|after| claimed.saturating_add(*after))
        .find(|at| *at > now)
}

pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Durable payment state for one app (or many instances sharing a PostgreSQL store). Cheap to
/// clone.
///
/// ```no_run
/// use std::sync::Arc;
/// use stk_core::StkPushRequest;
/// use stk_tracker::{SqlStore, Tracker};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = SqlStore::open_sqlite("payments.db".as_ref()).await?;
/// let tracker = Tracker::builder(Arc::new(store))
///     .provider(Arc::new(stk_mock::MockProvider::new()))
///     .build();
/// let request = StkPushRequest::builder()
///     .phone("0712345678").amount(100).reference("ORDER-1001").build()?;
/// let attempt = tracker.push(&request).await?; // recorded before it was sent
/// println!("{} is {}", attempt.id, attempt.state);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Tracker {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) providers: HashMap<&'static str, Arc<dyn StkProvider>>,
    pub(crate) default_provider: Option<&'static str>,
    pub(crate) config: TrackerConfig,
    pub(crate) clock: Clock,
    /// This instance's name in leases.
    pub(crate) owner: String,
    /// Wakes the worker when a callback was stored.
    pub(crate) work: Notify,
    /// Wakes the event delivery when an event was written.
    pub(crate) events: Notify,
    /// Status queries in flight and their fresh answers, shared by callbacks and the sweeper.
    pub(crate) queries: crate::budget::QueryBudget,
    /// The providers' callback backlogs, as last counted.
    pub(crate) backlog: crate::retention::Backlog,
    /// Stores callbacks in batches (group commit).
    pub(crate) intake: crate::intake::Intake,
    /// Callbacks decided, for metrics.
    pub(crate) callbacks: crate::stats::CallbackStats,
    /// When `run` last pruned (tracker clock, ms).
    pub(crate) last_prune: std::sync::atomic::AtomicI64,
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut providers: Vec<&str> = self.inner.providers.keys().copied().collect();
        providers.sort_unstable();
        f.debug_struct("Tracker")
            .field("providers", &providers)
            .field("store", &self.inner.store)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Tracker`].
#[must_use]
pub struct TrackerBuilder {
    store: Arc<dyn Store>,
    providers: Vec<Arc<dyn StkProvider>>,
    config: TrackerConfig,
    clock: Clock,
}

impl fmt::Debug for TrackerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackerBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TrackerBuilder {
    /// Adds a provider (the first added is the default for [`Tracker::push`]); callbacks are
    /// received per provider name.
    pub fn provider(mut self, provider: Arc<dyn StkProvider>) -> Self {
        self.providers.push(provider);
        self
    }

    /// Sets the timing.
    pub fn config(mut self, config: TrackerConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the clock (default [`Clock::system`]; tests use [`Clock::manual`]).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The tracker.
    pub fn build(self) -> Tracker {
        let default_provider = self.providers.first().map(|p| p.name());
        let providers = self.providers.into_iter().map(|p| (p.name(), p)).collect();
        let clock = self.clock;
        Tracker {
            inner: Arc::new(Inner {
                store: self.store,
                providers,
                default_provider,
                config: self.config,
                owner: ids::new_id("worker", clock.now_ms()),
                clock,
                work: Notify::new(),
                events: Notify::new(),
                queries: crate::budget::QueryBudget::new(self.config.status_queries_per_second),
                backlog: crate::retention::Backlog::default(),
                intake: crate::intake::Intake::default(),
                callbacks: crate::stats::CallbackStats::default(),
                last_prune: std::sync::atomic::AtomicI64::new(i64::MIN),
            }),
        }
    }
}

/// What status evidence means for the state machine.
pub(crate) fn observed(status: &PaymentStatus) -> Observed {
    match status {
        PaymentStatus::Completed(_) => Observed::Completed,
        PaymentStatus::Failed(_) => Observed::Failed,
        PaymentStatus::Processing => Observed::Processing,
        _ => Observed::Pending,
    }
}

/// Evidence to apply to an attempt.
pub(crate) struct Evidence {
    pub(crate) observed: Observed,
    pub(crate) source: Source,
    pub(crate) detail: Value,
    pub(crate) payment_id: Option<String>,
    pub(crate) checkout_request_id: Option<String>,
    /// The status it moves the attempt on (its completion's receipt is kept).
    pub(crate) status: Option<PaymentStatus>,
}

impl Evidence {
    /// Evidence that brings no provider ids.
    pub(crate) fn new(observed: Observed, source: Source, detail: Value) -> Self {
        Self {
            observed,
            source,
            detail,
            payment_id: None,
            checkout_request_id: None,
            status: None,
        }
    }

    /// Evidence of a provider's status.
    pub(crate) fn of_status(source: Source, status: PaymentStatus, detail: Value) -> Self {
        Self {
            status: Some(status.clone()),
            ..Self::new(observed(&status), source, detail)
        }
    }

    /// The completion's receipt, if this evidence completes with one.
    fn receipt(&self) -> Option<&str> {
        match &self.status {
            Some(PaymentStatus::Completed(done)) => done.receipt.as_deref(),
            _ => None,
        }
    }
}

impl Tracker {
    /// Starts a tracker on `store`.
    pub fn builder(store: Arc<dyn Store>) -> TrackerBuilder {
        TrackerBuilder {
            store,
            providers: Vec::new(),
            config: TrackerConfig::default(),
            clock: Clock::system(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The configured provider of this name.
    pub fn provider(&self, name: &str) -> Result<&Arc<dyn StkProvider>, TrackerError> {
        self.inner
            .providers
            .get(name)
            .ok_or_else(|| TrackerError::UnknownProvider(name.to_owned()))
    }

    /// The status queries this tracker made since it started, by reason, and the claims
    /// that shared an answer instead (for metrics).
    pub fn status_query_counts(&self) -> crate::StatusQueryCounts {
        self.inner.queries.counts()
    }

    /// How many callbacks this tracker answered 503 since it started because a provider's
    /// backlog of unprocessed callbacks was full ([`TrackerConfig::max_unprocessed`]).
    pub fn overloaded_callbacks(&self) -> u64 {
        self.inner
            .backlog
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Callbacks decided since this tracker started, by outcome (`applied`, `duplicate`,
    /// `not_confirmed`, `invalid`, …), for metrics.
    pub fn callback_outcomes(&self) -> Vec<(&'static str, u64)> {
        self.inner.callbacks.by_outcome()
    }

    /// How long stored callbacks waited until they were decided (confirmed by status query
    /// and applied, or refused), since this tracker started.
    pub fn callback_latency(&self) -> &crate::LatencyHistogram {
        &self.inner.callbacks.latency
    }

    /// The configured providers' names.
    pub fn provider_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.inner.providers.keys().copied().collect();
        names.sort_unstable();
        names
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// This instance's lease on what it claims, from now.
    pub(crate) fn lease(&self) -> crate::store::Lease<'_> {
        crate::store::Lease {
            owner: &self.inner.owner,
            now: self.now(),
            for_ms: ms(self.inner.config.lease),
        }
    }

    /// The provider's status answer about `id`, within the query budget (one in flight per
    /// payment; an answer asked after `seen` is shared), or how long to wait for one.
    pub(crate) async fn status_report(
        &self,
        provider: &dyn StkProvider,
        id: &stk_core::PaymentId,
        seen: tokio::time::Instant,
        need: crate::budget::Need,
    ) -> Result<crate::budget::Answer, Error> {
        self.inner.queries.report(provider, id, seen, need).await
    }

    /// Pushes through the default (first) provider. See [`push_via`](Self::push_via).
    pub async fn push(&self, request: &StkPushRequest) -> Result<Attempt, TrackerError> {
        let name = self
            .inner
            .default_provider
            .ok_or_else(|| TrackerError::UnknownProvider(String::new()))?;
        self.push_via(name, request).await
    }

    /// Records an attempt for the request's reference, then sends the push.
    ///
    /// - Refused with [`TrackerError::AlreadyLive`] (nothing sent) when the order already has
    ///   an attempt that is not `failed`.
    /// - `Ok` with state `submitted` when accepted, or `outcome_unknown` when the push may
    ///   have gone out (the tracker resolves it by callback or status query, never by pushing
    ///   again).
    /// - [`TrackerError::Provider`] when it certainly was not accepted (the attempt is
    ///   `failed`; pushing again for the order is allowed).
    /// - [`TrackerError::Store`] when the attempt could not be recorded: nothing was sent.
    /// - [`TrackerError::Unrecorded`] when the push was sent and the store failed recording
    ///   its answer: the outcome is unknown here; never push again for the order.
    pub async fn push_via(
        &self,
        provider_name: &str,
        request: &StkPushRequest,
    ) -> Result<Attempt, TrackerError> {
        let provider = Arc::clone(self.provider(provider_name)?);
        request
            .check_limits(&provider.limits())
            .map_err(|e| TrackerError::Provider {
                error: e.into(),
                attempt: None,
            })?;
        let now = self.now();
        let config = &self.inner.config;
        let new = NewAttempt {
            id: ids::new_id("att", now),
            provider: provider.name().to_owned(),
            reference: request.reference().as_str().to_owned(),
            phone: request.phone().international(),
            amount: request.amount().shillings(),
            created_at: now,
            deadline_at: now.saturating_add(ms(config.deadline)),
            next_check_at: now.saturating_add(ms(config.send_grace)),
        };
        let attempt = match self.inner.store.insert_attempt(&new).await? {
            crate::store::Recorded::New(attempt) => attempt,
            crate::store::Recorded::Live(existing) => {
                return Err(TrackerError::AlreadyLive {
                    attempt: Box::new(existing),
                });
            }
        };
        crate::fault::point("after_record_before_send");
        let result = provider.initiate(request).await;
        crate::fault::point("after_send_before_store");
        match result {
            Ok(accepted) => {
                let payment_id = Some(accepted.payment_id.to_string());
                let evidence = Evidence {
                    payment_id: payment_id.clone(),
                    checkout_request_id: accepted.checkout_request_id.clone(),
                    ..Evidence::new(
                        Observed::Accepted,
                        Source::Initiate,
                        json!({ "accepted": accepted }),
                    )
                };
                let mut attempt = self
                    .apply(attempt, evidence)
                    .await
                    .map_err(|e| unrecorded(e, &new, payment_id.clone()))?;
                if attempt.state == AttemptState::Created {
                    // Refused: another attempt holds the id the provider answered with (an
                    // anomaly was raised). Which payment this push made is unknown.
                    let evidence = Evidence::new(
                        Observed::OutcomeUnknown,
                        Source::Initiate,
                        json!({ "accepted": accepted, "refused": "the payment id belongs to another attempt" }),
                    );
                    return self
                        .apply(attempt, evidence)
                        .await
                        .map_err(|e| unrecorded(e, &new, payment_id));
                }
                if accepted.status != PaymentStatus::Pending {
                    let evidence = Evidence::of_status(
                        Source::Initiate,
                        accepted.status.clone(),
                        json!({ "status": accepted.status }),
                    );
                    attempt = self
                        .apply(attempt, evidence)
                        .await
                        .map_err(|e| unrecorded(e, &new, payment_id))?;
                }
                Ok(attempt)
            }
            Err(error @ Error::OutcomeUnknown { .. }) => {
                let evidence = Evidence::new(
                    Observed::OutcomeUnknown,
                    Source::Initiate,
                    json!({ "error": error.kind(), "message": error.to_string() }),
                );
                self.apply(attempt, evidence)
                    .await
                    .map_err(|e| unrecorded(e, &new, None))
            }
            Err(error) => {
                let evidence = Evidence::new(
                    Observed::NotAccepted,
                    Source::Initiate,
                    json!({ "error": error.kind(), "message": error.to_string() }),
                );
                // The push certainly was not accepted, but if this is not recorded the order
                // stays blocked (`created`) until the sweeper resolves it: say so.
                let attempt = self
                    .apply(attempt, evidence)
                    .await
                    .map_err(|e| unrecorded(e, &new, None))?;
                Err(TrackerError::Provider {
                    error,
                    attempt: Some(Box::new(attempt)),
                })
            }
        }
    }

    /// Applies evidence through the state machine with compare-and-set, re-reading the
    /// attempt when another writer moved it first. Returns the attempt as it now stands.
    ///
    /// Evidence that would give this attempt a payment id or receipt another attempt holds
    /// moves nothing: it is raised as an anomaly (checked first, and enforced by the store's
    /// unique keys when two writers race).
    pub(crate) async fn apply(
        &self,
        mut attempt: Attempt,
        evidence: Evidence,
    ) -> Result<Attempt, TrackerError> {
        let store = &self.inner.store;
        for _ in 0..8 {
            let Some(to) = next_state(attempt.state, evidence.observed) else {
                return Ok(attempt);
            };
            let receipt = (to == AttemptState::Completed)
                .then(|| evidence.receipt())
                .flatten();
            if let Some(holder) = self.holder(&attempt, &evidence, receipt).await? {
                self.refuse_held(&attempt, &evidence, holder).await?;
                return Ok(attempt);
            }
            let now = self.now();
            let next_check_at = to.is_open().then(|| self.next_check(&attempt, now));
            let paid_late = is_paid_late(attempt.state, to);
            let event = emits_event(to).then(|| {
                let kind = settled_event(&attempt, to, &evidence, receipt, paid_late);
                NewEvent {
                    event_id: format!("{}:{}", attempt.id, to),
                    attempt_id: attempt.id.clone(),
                    kind,
                    at: now,
                }
            });
            let request = TransitionRequest {
                attempt_id: attempt.id.clone(),
                expected: attempt.state,
                version: attempt.version,
                to,
                source: evidence.source,
                evidence: evidence.detail.clone(),
                at: now,
                payment_id: evidence.payment_id.clone(),
                checkout_request_id: evidence.checkout_request_id.clone(),
                receipt: receipt.map(str::to_owned),
                next_check_at,
                event,
            };
            let moved = match store.transition(&request).await {
                Ok(moved) => moved,
                Err(e) if e.is_conflict() => {
                    // Another writer gave the id or receipt to another attempt in between, or
                    // a failed attempt was paid late while the order has a new live attempt
                    // (one live attempt per order): either way, a person must know.
                    match self.holder(&attempt, &evidence, receipt).await? {
                        Some(holder) => self.refuse_held(&attempt, &evidence, holder).await?,
                        None => self.paid_while_pushed_again(&attempt, &evidence).await?,
                    }
                    return self.attempt(&attempt.id).await;
                }
                Err(e) => return Err(e.into()),
            };
            if moved {
                if emits_event(to) {
                    self.inner.events.notify_one();
                }
                tracing::debug!(attempt = %attempt.id, from = %attempt.state, to = %to, source = evidence.source.as_str(), "attempt moved");
            }
            attempt = store
                .attempt(&attempt.id)
                .await?
                .ok_or_else(|| TrackerError::UnknownAttempt(attempt.id.clone()))?;
            if attempt.state == to {
                return Ok(attempt);
            }
        }
        Ok(attempt)
    }

    /// The other attempt that already holds the payment id or receipt this evidence would
    /// give `attempt`, with which key.
    async fn holder(
        &self,
        attempt: &Attempt,
        evidence: &Evidence,
        receipt: Option<&str>,
    ) -> Result<Option<(Attempt, AnomalyKind, String)>, TrackerError> {
        let store = &self.inner.store;
        let new_id = evidence
            .payment_id
            .as_deref()
            .filter(|_| attempt.payment_id.is_none());
        if let Some(id) = new_id {
            if let Some(other) = store
                .attempt_holding(&attempt.provider, Held::PaymentId(id))
                .await?
                .filter(|other| other.id != attempt.id)
            {
                return Ok(Some((
                    other,
                    AnomalyKind::PaymentIdAlreadyBound,
                    id.to_owned(),
                )));
            }
        }
        if let Some(receipt) = receipt.filter(|_| attempt.receipt.is_none()) {
            if let Some(other) = store
                .attempt_holding(&attempt.provider, Held::Receipt(receipt))
                .await?
                .filter(|other| other.id != attempt.id && other.state == AttemptState::Completed)
            {
                return Ok(Some((
                    other,
                    AnomalyKind::ReceiptAlreadyUsed,
                    receipt.to_owned(),
                )));
            }
        }
        Ok(None)
    }

    /// When to query an open attempt next: doubling from `first_check` up to
    /// `max_check_interval`, never past the deadline by more than one interval.
    pub(crate) fn next_check(&self, attempt: &Attempt, now: i64) -> i64 {
        let config = &self.inner.config;
        // A final claim the status did not confirm yet: quick looks for a minute after it.
        if let Some(claimed) = attempt.claimed_at {
            if let Some(at) = claim_recheck_after(claimed, now) {
                return if attempt.state.is_open() {
                    at.min(attempt.deadline_at.max(now))
                } else {
                    at
                };
            }
        }
        let shift = u32::try_from(attempt.check_count.clamp(0, 20)).unwrap_or(20);
        let backoff = ms(config.first_check)
            .saturating_mul(1_i64 << shift)
            .min(ms(config.max_check_interval));
        now.saturating_add(backoff)
            .min(attempt.deadline_at.max(now))
    }

    /// An attempt by id.
    pub async fn attempt(&self, id: &str) -> Result<Attempt, TrackerError> {
        self.inner
            .store
            .attempt(id)
            .await?
            .ok_or_else(|| TrackerError::UnknownAttempt(id.to_owned()))
    }
}

/// A store failure after the push was sent is not a store error to retry: the push may have
/// gone out, so it is an unrecorded outcome (never pushed again).
fn unrecorded(error: TrackerError, new: &NewAttempt, payment_id: Option<String>) -> TrackerError {
    let source = match error {
        TrackerError::Store(source) => source,
        TrackerError::UnknownAttempt(_) => {
            StoreError::new("the attempt recorded before sending can no longer be read")
        }
        other => return other,
    };
    TrackerError::Unrecorded {
        attempt_id: new.id.clone(),
        reference: new.reference.clone(),
        payment_id,
        source,
    }
}
