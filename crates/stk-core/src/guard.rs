//! A client-side abuse guard: refuse, before sending, a push that would trip a provider's
//! documented abuse limits (e.g. UpesiPay blocks a number after more than 10 successive
//! failed or cancelled pushes).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::{
    AmountLimits, CallbackAck, CallbackRequest, Error, PaymentEvent, PaymentId, PaymentStatus,
    PhoneNumber, PushAccepted, StkProvider, StkPushRequest,
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

const HOUR: Duration = Duration::from_secs(3600);

impl GuardRules {
    /// UpesiPay's documented STK abuse protection: a number is blocked for 24 h after more
    /// than 10 successive failed or cancelled pushes; the account is restricted after more than
    /// 50 failures in a sliding 6 h window. The guard refuses the push that could cross either.
    pub fn upesipay() -> Self {
        Self {
            phone: Some(PhoneRule {
                max_successive_failures: 10,
                window: 24 * HOUR,
            }),
            account: vec![AccountRule {
                max_failures: 50,
                window: 6 * HOUR,
            }],
            source: "upesipay",
        }
    }

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
/// instances count together.
pub trait GuardStore: Send + Sync + fmt::Debug {
    /// Records a failed or cancelled push to `phone` at `at_ms`.
    fn record_failure(&self, phone: &PhoneNumber, at_ms: u64);
    /// Records a completed payment: the number's run of failures ends.
    fn record_success(&self, phone: &PhoneNumber);
    /// The number's current run of failures, oldest first.
    fn successive_failures(&self, phone: &PhoneNumber) -> Vec<u64>;
    /// The account's failures at or after `since_ms`, oldest first; older ones may be dropped.
    fn account_failures(&self, since_ms: u64) -> Vec<u64>;
}

/// The default, in-process [`GuardStore`].
#[derive(Debug, Default)]
pub struct MemoryGuardStore {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    phones: HashMap<PhoneNumber, Vec<u64>>,
    account: Vec<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl GuardStore for MemoryGuardStore {
    fn record_failure(&self, phone: &PhoneNumber, at_ms: u64) {
        let mut s = lock(&self.state);
        s.phones.entry(*phone).or_default().push(at_ms);
        s.account.push(at_ms);
    }
    fn record_success(&self, phone: &PhoneNumber) {
        lock(&self.state).phones.remove(phone);
    }
    fn successive_failures(&self, phone: &PhoneNumber) -> Vec<u64> {
        lock(&self.state)
            .phones
            .get(phone)
            .cloned()
            .unwrap_or_default()
    }
    fn account_failures(&self, since_ms: u64) -> Vec<u64> {
        let mut s = lock(&self.state);
        s.account.retain(|t| *t >= since_ms);
        s.account.clone()
    }
}

/// A provider wrapped with an abuse guard. Failures are learnt from what passes through:
/// final statuses from [`status`](StkProvider::status), events from
/// [`parse_callback`](StkProvider::parse_callback), and pushes the provider rejected.
///
/// ```
/// use stk_core::{Guarded, GuardRules, StkProvider};
/// # fn wrap(provider: impl StkProvider) -> impl StkProvider {
/// let guarded = Guarded::new(provider, GuardRules::upesipay());
/// # guarded }
/// ```
#[derive(Debug)]
pub struct Guarded<P> {
    inner: P,
    rules: GuardRules,
    store: Arc<dyn GuardStore>,
    /// Which number each accepted payment went to, by payment id and by checkout request
    /// id, until its outcome is known.
    pending: Mutex<HashMap<String, Arc<PendingPush>>>,
    epoch: Instant,
    epoch_unix_ms: u64,
}

#[derive(Debug)]
struct PendingPush {
    phone: PhoneNumber,
    settled: AtomicBool,
}

impl<P: StkProvider> Guarded<P> {
    /// Wraps `inner` with `rules` and an in-memory store.
    pub fn new(inner: P, rules: GuardRules) -> Self {
        Self::with_store(inner, rules, Arc::new(MemoryGuardStore::default()))
    }

    /// Wraps `inner` with `rules` and a given store.
    pub fn with_store(inner: P, rules: GuardRules, store: Arc<dyn GuardStore>) -> Self {
        Self {
            inner,
            rules,
            store,
            pending: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
            epoch_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, ms),
        }
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// Unix time in milliseconds, advancing with tokio's clock (so a paused clock in tests
    /// moves it), comparable across instances sharing a store.
    fn now_ms(&self) -> u64 {
        self.epoch_unix_ms.saturating_add(ms(self.epoch.elapsed()))
    }

    /// Checks whether a push to `phone` would be refused now.
    pub fn check(&self, phone: &PhoneNumber) -> Result<(), Error> {
        let now = self.now_ms();
        let refuse = |scope, clears_at: u64, reason: String| Error::Guarded {
            provider: self.inner.name(),
            scope,
            clears_in: Duration::from_millis(clears_at.saturating_sub(now)),
            reason,
        };
        if let Some(rule) = self.rules.phone {
            let window = ms(rule.window);
            let run: Vec<u64> = self
                .store
                .successive_failures(phone)
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
        let failures = self.store.account_failures(since);
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
        let push = Arc::new(PendingPush {
            phone,
            settled: AtomicBool::new(false),
        });
        let mut pending = lock(&self.pending);
        pending.insert(accepted.payment_id.to_string(), push.clone());
        if let Some(checkout) = &accepted.checkout_request_id {
            pending.insert(checkout.clone(), push);
        }
    }

    /// Learns the outcome of a payment, once, by either of its ids.
    fn observe(&self, ids: &[Option<&str>], status: &PaymentStatus) {
        if !status.is_final() {
            return;
        }
        let push = {
            let mut pending = lock(&self.pending);
            ids.iter().flatten().find_map(|id| pending.remove(*id))
        };
        let Some(push) = push else { return };
        if push.settled.swap(true, Ordering::SeqCst) {
            return;
        }
        match status {
            PaymentStatus::Failed(_) => self.store.record_failure(&push.phone, self.now_ms()),
            _ => self.store.record_success(&push.phone),
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
        self.check(request.phone())?;
        match self.inner.initiate(request).await {
            Ok(accepted) => {
                self.remember(&accepted, *request.phone());
                self.observe(&[Some(accepted.payment_id.as_str())], &accepted.status);
                Ok(accepted)
            }
            Err(e) => {
                if matches!(e, Error::Rejected { .. }) {
                    self.store.record_failure(request.phone(), self.now_ms());
                }
                Err(e)
            }
        }
    }

    async fn status(&self, id: &PaymentId) -> Result<PaymentStatus, Error> {
        let status = self.inner.status(id).await?;
        self.observe(&[Some(id.as_str())], &status);
        Ok(status)
    }

    fn parse_callback(&self, callback: &CallbackRequest) -> Result<PaymentEvent, Error> {
        let event = self.inner.parse_callback(callback)?;
        let ids = [
            event.payment_id.as_ref().map(PaymentId::as_str),
            event.checkout_request_id.as_deref(),
        ];
        self.observe(&ids, &event.status);
        Ok(event)
    }

    fn callback_ack(&self) -> CallbackAck {
        self.inner.callback_ack()
    }
}
