//! A client-side abuse guard: refuse, before sending, a push that would trip a provider's
//! documented abuse limits (e.g. UpesiPay blocks a number after more than 10 successive
//! failed or cancelled pushes).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::{
    AmountLimits, CallbackAck, CallbackClaim, CallbackRequest, Error, PaymentId, PaymentStatus,
    PhoneNumber, PushAccepted, StatusReport, StkProvider, StkPushRequest,
};

/// Refuse pushes to a number once it has had `max_successive_failures` failures in a row,
/// counting only failures younger than `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PhoneRule {
    /// Failures in a row after which the next push is refused.
    pub max_successive_failures: usize,
    /// How long a failure counts (the provider's block length).
    pub window: Duration,
}

/// Refuse all pushes once the account has had `max_failures` failures within the sliding
/// `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountRule {
    /// Failures within the window after which the next push is refused.
    pub max_failures: usize,
    /// The sliding window.
    pub window: Duration,
}

/// The limits a [`Guarded`] provider keeps below. Rules are data: build your own or use a
/// preset.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GuardRules {
    /// Per-number rule.
    pub phone: Option<PhoneRule>,
    /// Account-wide rules.
    pub account: Vec<AccountRule>,
    /// The provider whose documented limits these are, for messages.
    pub source: &'static str,
}

impl GuardRules {
    /// Custom rules.
    pub fn new(source: &'static str, phone: Option<PhoneRule>, account: Vec<AccountRule>) -> Self {
        Self {
            phone,
            account,
            source,
        }
    }

    fn longest_account_window(&self) -> Duration {
        self.account
            .iter()
            .map(|r| r.window)
            .max()
            .unwrap_or_default()
    }
}

impl PhoneRule {
    /// A per-number rule.
    pub fn new(max_successive_failures: usize, window: Duration) -> Self {
        Self {
            max_successive_failures,
            window,
        }
    }
}

impl AccountRule {
    /// An account-wide rule.
    pub fn new(max_failures: usize, window: Duration) -> Self {
        Self {
            max_failures,
            window,
        }
    }
}

/// What the guard refused, for [`Error::Guarded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GuardScope {
    /// One phone number.
    Phone,
    /// The whole account.
    Account,
}

impl fmt::Display for GuardScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Phone => "phone",
            Self::Account => "account",
        })
    }
}

/// Where the guard keeps failure times (milliseconds on the guard's clock). The in-memory
/// [`MemoryGuardStore`] is the default; implement this over a shared store so several app
/// instances count together. An error from the store refuses the push (nothing is sent).
#[async_trait]
pub trait GuardStore: Send + Sync + fmt::Debug {
    /// Records a failed or cancelled push to `phone` at `at_ms`.
    async fn record_failure(&self, phone: &PhoneNumber, at_ms: u64) -> Result<(), Error>;
    /// Records a completed payment: the number's run of failures ends.
    async fn record_success(&self, phone: &PhoneNumber) -> Result<(), Error>;
    /// The number's current run of failures, oldest first.
    async fn successive_failures(&self, phone: &PhoneNumber) -> Result<Vec<u64>, Error>;
    /// The account's failures at or after `since_ms`, oldest first; older ones may be dropped.
    async fn account_failures(&self, since_ms: u64) -> Result<Vec<u64>, Error>;
}

/// The default, in-process [`GuardStore`]. Failures older than its retention (default 24 h,
/// [`Guarded::new`] uses the rules' longest window) are forgotten, so memory stays bounded by
/// the failures of one window.
#[derive(Debug)]
pub struct MemoryGuardStore {
    retention_ms: u64,
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    phones: HashMap<PhoneNumber, Vec<u64>>,
    account: VecDeque<u64>,
    /// Prune the phones map when it grows past this.
    prune_at: usize,
}

impl Default for MemoryGuardStore {
    fn default() -> Self {
        Self::new(Duration::from_secs(24 * 3600))
    }
}

impl MemoryGuardStore {
    /// A store that forgets failures older than `retention`.
    pub fn new(retention: Duration) -> Self {
        Self {
            retention_ms: ms(retention),
            state: Mutex::new(MemoryState {
                prune_at: 1024,
                ..MemoryState::default()
            }),
        }
    }

    /// How many numbers it currently remembers failures for.
    pub fn phones_remembered(&self) -> usize {
        lock(&self.state).phones.len()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl GuardStore for MemoryGuardStore {
    async fn record_failure(&self, phone: &PhoneNumber, at_ms: u64) -> Result<(), Error> {
        let horizon = at_ms.saturating_sub(self.retention_ms);
        let mut s = lock(&self.state);
        s.phones.entry(*phone).or_default().push(at_ms);
        s.account.push_back(at_ms);
        while s.account.front().is_some_and(|t| *t < horizon) {
            s.account.pop_front();
        }
        if s.phones.len() > s.prune_at {
            s.phones
                .retain(|_, run| run.last().is_some_and(|t| *t >= horizon));
            s.prune_at = (s.phones.len() * 2).max(1024);
        }
        Ok(())
    }
    async fn record_success(&self, phone: &PhoneNumber) -> Result<(), Error> {
        lock(&self.state).phones.remove(phone);
        Ok(())
    }
    async fn successive_failures(&self, phone: &PhoneNumber) -> Result<Vec<u64>, Error> {
        Ok(lock(&self.state)
            .phones
            .get(phone)
            .cloned()
            .unwrap_or_default())
    }
    async fn account_failures(&self, since_ms: u64) -> Result<Vec<u64>, Error> {
        let mut s = lock(&self.state);
        while s.account.front().is_some_and(|t| *t < since_ms) {
            s.account.pop_front();
        }
        Ok(s.account.iter().copied().collect())
    }
}

/// A provider wrapped with an abuse guard. Failures are learnt from what passes through:
/// final statuses from [`status`](StkProvider::status), events from
/// [`parse_callback`](StkProvider::parse_callback), and pushes the provider rejected.
///
/// ```
/// use std::time::Duration;
/// use stk_core::{AccountRule, Guarded, GuardRules, PhoneRule, StkProvider};
/// # fn wrap(provider: impl StkProvider) -> impl StkProvider {
/// // Adapter crates ship their provider's documented rules (e.g. `stk_upesipay::guard_rules()`).
/// let rules = GuardRules::new(
///     "acme",
///     Some(PhoneRule::new(10, Duration::from_secs(24 * 3600))),
///     vec![AccountRule::new(50, Duration::from_secs(6 * 3600))],
/// );
/// let guarded = Guarded::new(provider, rules);
/// # guarded }
/// ```
#[derive(Debug)]
pub struct Guarded<P> {
    inner: P,
    rules: GuardRules,
    shared: Arc<Shared>,
    epoch: Instant,
    epoch_unix_ms: u64,
}

/// What the guard shares with the tasks that record outcomes.
#[derive(Debug)]
struct Shared {
    store: Arc<dyn GuardStore>,
    /// Accepted pushes whose outcome is not known yet.
    pending: Mutex<PendingPushes>,
    /// Outcomes learnt but not yet written to the store.
    unrecorded: Mutex<Vec<Outcome>>,
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Failed(PhoneNumber, u64),
    Completed(PhoneNumber),
}

/// Accepted pushes by every id they are known by, oldest first, at most `capacity` of them
/// (a push that never settles is forgotten once `capacity` newer ones were accepted).
#[derive(Debug)]
struct PendingPushes {
    capacity: usize,
    next: u64,
    by_alias: HashMap<String, u64>,
    pushes: BTreeMap<u64, (PhoneNumber, Vec<String>)>,
}

impl PendingPushes {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            next: 0,
            by_alias: HashMap::new(),
            pushes: BTreeMap::new(),
        }
    }

    fn insert(&mut self, phone: PhoneNumber, aliases: Vec<String>) {
        let serial = self.next;
        self.next += 1;
        for alias in &aliases {
            self.by_alias.insert(alias.clone(), serial);
        }
        self.pushes.insert(serial, (phone, aliases));
        while self.pushes.len() > self.capacity {
            if let Some((oldest, _)) = self.pushes.first_key_value() {
                let oldest = *oldest;
                self.remove(oldest);
            }
        }
    }

    fn remove(&mut self, serial: u64) -> Option<PhoneNumber> {
        let (phone, aliases) = self.pushes.remove(&serial)?;
        for alias in aliases {
            if self.by_alias.get(&alias) == Some(&serial) {
                self.by_alias.remove(&alias);
            }
        }
        Some(phone)
    }

    /// Removes the push known by any of `ids`, with all its aliases.
    fn settle(&mut self, ids: &[Option<&str>]) -> Option<PhoneNumber> {
        let serial = ids
            .iter()
            .flatten()
            .find_map(|id| self.by_alias.get(*id).copied())?;
        self.remove(serial)
    }

    fn len(&self) -> (usize, usize) {
        (self.pushes.len(), self.by_alias.len())
    }
}

impl Shared {
    /// Writes learnt outcomes to the store.
    async fn flush(&self) -> Result<(), Error> {
        let outcomes = std::mem::take(&mut *lock(&self.unrecorded));
        for outcome in outcomes {
            match outcome {
                Outcome::Failed(phone, at) => self.store.record_failure(&phone, at).await?,
                Outcome::Completed(phone) => self.store.record_success(&phone).await?,
            }
        }
        Ok(())
    }
}

/// How many unsettled pushes a [`Guarded`] remembers by default.
pub const DEFAULT_PENDING_CAPACITY: usize = 100_000;

impl<P: StkProvider> Guarded<P> {
    /// Wraps `inner` with `rules` and an in-memory store keeping the rules' longest window.
    pub fn new(inner: P, rules: GuardRules) -> Self {
        let retention = rules
            .phone
            .map(|r| r.window)
            .unwrap_or_default()
            .max(rules.longest_account_window());
        Self::with_store(inner, rules, Arc::new(MemoryGuardStore::new(retention)))
    }

    /// Wraps `inner` with `rules` and a given store.
    pub fn with_store(inner: P, rules: GuardRules, store: Arc<dyn GuardStore>) -> Self {
        Self {
            inner,
            rules,
            shared: Arc::new(Shared {
                store,
                pending: Mutex::new(PendingPushes::new(DEFAULT_PENDING_CAPACITY)),
                unrecorded: Mutex::new(Vec::new()),
            }),
            epoch: Instant::now(),
            epoch_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, ms),
        }
    }

    /// Remembers at most `capacity` unsettled pushes (default [`DEFAULT_PENDING_CAPACITY`]).
    pub fn pending_capacity(self, capacity: usize) -> Self {
        *lock(&self.shared.pending) = PendingPushes::new(capacity.max(1));
        self
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// How many unsettled pushes it remembers, and by how many ids.
    pub fn pending_pushes(&self) -> (usize, usize) {
        lock(&self.shared.pending).len()
    }

    /// Unix time in milliseconds, advancing with tokio's clock (so a paused clock in tests
    /// moves it), comparable across instances sharing a store.
    fn now_ms(&self) -> u64 {
        self.epoch_unix_ms.saturating_add(ms(self.epoch.elapsed()))
    }

    /// Checks whether a push to `phone` would be refused now.
    pub async fn check(&self, phone: &PhoneNumber) -> Result<(), Error> {
        self.shared.flush().await?;
        let store = &self.shared.store;
        let now = self.now_ms();
        let refuse = |scope, clears_at: u64, reason: String| Error::Guarded {
            provider: self.inner.name(),
            scope,
            clears_in: Duration::from_millis(clears_at.saturating_sub(now)),
            reason,
        };
        if let Some(rule) = self.rules.phone {
            let window = ms(rule.window);
            let run: Vec<u64> = store
                .successive_failures(phone)
                .await?
                .into_iter()
                .filter(|t| t + window > now)
                .collect();
            if rule.max_successive_failures > 0 && run.len() >= rule.max_successive_failures {
                let nth = run[run.len() - rule.max_successive_failures];
                return Err(refuse(
                    GuardScope::Phone,
                    nth + window,
                    format!(
                        "{} has had {} failed or cancelled pushes in a row; {} blocks a number after more than {}",
                        phone.masked(),
                        run.len(),
                        self.rules.source,
                        rule.max_successive_failures
                    ),
                ));
            }
        }
        let since = now.saturating_sub(ms(self.rules.longest_account_window()));
        let failures = store.account_failures(since).await?;
        for rule in &self.rules.account {
            let window = ms(rule.window);
            let recent: Vec<u64> = failures
                .iter()
                .copied()
                .filter(|t| t + window > now)
                .collect();
            if rule.max_failures > 0 && recent.len() >= rule.max_failures {
                let nth = recent[recent.len() - rule.max_failures];
                return Err(refuse(
                    GuardScope::Account,
                    nth + window,
                    format!(
                        "the account has had {} failed pushes in the last {} h; {} restricts accounts after more than {}",
                        recent.len(),
                        rule.window.as_secs() / 3600,
                        self.rules.source,
                        rule.max_failures
                    ),
                ));
            }
        }
        Ok(())
    }

    fn remember(&self, accepted: &PushAccepted, phone: PhoneNumber) {
        let mut aliases = vec![accepted.payment_id.to_string()];
        aliases.extend(accepted.checkout_request_id.clone());
        lock(&self.shared.pending).insert(phone, aliases);
    }

    /// Learns the outcome of a payment, once, by any of its ids; every alias is forgotten.
    fn observe(&self, ids: &[Option<&str>], status: &PaymentStatus) {
        if !status.is_final() {
            return;
        }
        let Some(phone) = lock(&self.shared.pending).settle(ids) else {
            return;
        };
        let outcome = match status {
            PaymentStatus::Failed(_) => Outcome::Failed(phone, self.now_ms()),
            _ => Outcome::Completed(phone),
        };
        lock(&self.shared.unrecorded).push(outcome);
    }

    /// Writes learnt outcomes to the store now when a runtime is at hand (callbacks are parsed
    /// synchronously); otherwise the next `initiate` or `status` writes them first.
    fn flush_soon(&self) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let shared = Arc::clone(&self.shared);
            runtime.spawn(async move {
                if let Err(e) = shared.flush().await {
                    tracing::warn!(error = %e, "the abuse guard could not record an outcome");
                }
            });
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl<P: StkProvider> StkProvider for Guarded<P> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn limits(&self) -> AmountLimits {
        self.inner.limits()
    }

    async fn initiate(&self, request: &StkPushRequest) -> Result<PushAccepted, Error> {
        self.check(request.phone()).await?;
        match self.inner.initiate(request).await {
            Ok(accepted) => {
                self.remember(&accepted, *request.phone());
                self.observe(&[Some(accepted.payment_id.as_str())], &accepted.status);
                Ok(accepted)
            }
            Err(e) => {
                if matches!(e, Error::Rejected { .. }) {
                    self.shared
                        .store
                        .record_failure(request.phone(), self.now_ms())
                        .await?;
                }
                Err(e)
            }
        }
    }

    async fn status(&self, id: &PaymentId) -> Result<PaymentStatus, Error> {
        self.status_report(id).await.map(|report| report.status)
    }

    async fn status_report(&self, id: &PaymentId) -> Result<StatusReport, Error> {
        let report = self.inner.status_report(id).await?;
        self.observe(&[Some(id.as_str())], &report.status);
        self.shared.flush().await?;
        Ok(report)
    }

    fn parse_callback(&self, callback: &CallbackRequest) -> Result<CallbackClaim, Error> {
        let event = self.inner.parse_callback(callback)?;
        let ids = [
            event.payment_id.as_ref().map(PaymentId::as_str),
            event.status_id.as_ref().map(PaymentId::as_str),
            event.checkout_request_id.as_deref(),
        ];
        self.observe(&ids, &event.status);
        self.flush_soon();
        Ok(event)
    }

    fn callback_ack(&self) -> CallbackAck {
        self.inner.callback_ack()
    }
}
