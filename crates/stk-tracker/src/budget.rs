//! Status queries are a budget, not a reflex: at most one query in flight per payment; a
//! claim shares any answer whose query started after the claim was stored (it is as fresh as
//! one of its own), and a completion with every later claim (it never changes; a failure may:
//! M-Pesa reports some payments failed, then paid). Beyond that, final claims about a payment
//! ask at most [`PER_PAYMENT_PER_SECOND`] times a second (a claim that finds that spent shares
//! the last answer and is looked at again by the sweeper within seconds, `CLAIM_RECHECKS_MS`),
//! and claims that it is still pending never ask again. A flood of callbacks naming one live
//! payment thus costs about one query a second (claims and scheduled looks together), not
//! one per callback.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stk_core::{Error, PaymentId, StatusReport, StkProvider};
use tokio::time::Instant;

/// Payments remembered at most; idle ones are forgotten beyond it.
const MAX_SLOTS: usize = 4_096;

/// Status queries a second that final claims about one payment may cause, and the burst
/// allowed. The sweeper's scheduled looks (every 2.5 s at most, in the minute after a claim)
/// come on top: about one a second in all.
pub(crate) const PER_PAYMENT_PER_SECOND: f64 = 0.5;
pub(crate) const PER_PAYMENT_BURST: f64 = 1.0;

/// One payment's last answer (and when its query started) and its query budget.
#[derive(Default)]
struct Asked {
    last: Option<(Instant, StatusReport)>,
    /// Queries spent (counting down at the allowed rate), and when that was last counted.
    spent: Option<(f64, Instant)>,
}

impl Asked {
    /// Queries spent at `now`, counted down at the allowed rate.
    fn spent_at(&self, now: Instant) -> f64 {
        self.spent.map_or(0.0, |(spent, at)| {
            let elapsed = now.saturating_duration_since(at).as_secs_f64();
            (spent - elapsed * PER_PAYMENT_PER_SECOND).max(0.0)
        })
    }

    /// Spends a query from the payment's budget, if one is left.
    fn spend(&mut self) -> bool {
        let now = Instant::now();
        let spent = self.spent_at(now);
        let granted = spent + 1.0 <= PER_PAYMENT_BURST;
        self.spent = Some((if granted { spent + 1.0 } else { spent }, now));
        granted
    }

    /// Gives back a query spent but not made.
    fn refund(&mut self) {
        let now = Instant::now();
        self.spent = Some(((self.spent_at(now) - 1.0).max(0.0), now));
    }

    /// How long until the payment's budget allows a query.
    fn wait(&self) -> Duration {
        let over = self.spent_at(Instant::now()) + 1.0 - PER_PAYMENT_BURST;
        Duration::try_from_secs_f64(over.max(0.0) / PER_PAYMENT_PER_SECOND)
            .unwrap_or(Duration::from_secs(2))
    }
}

/// How much a caller needs a new answer about a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// A claim that the payment is not final yet: any answer already given will do.
    Any,
    /// A final claim: a new answer within the payment's budget, else the last one (the claim
    /// is then looked at again within a second, `CLAIM_RECHECKS_MS`).
    Budgeted,
    /// A scheduled look (the sweeper's, an operator's): a new answer; its schedule bounds it.
    Now,
}

/// A payment's slot: its lock is the query in flight.
type Slot = Arc<tokio::sync::Mutex<Asked>>;

/// Queries per second, per provider, for ids that only a callback supplied (anyone can invent
/// those), and the burst allowed.
pub(crate) const CLAIMED_PER_SECOND: f64 = 5.0;
const CLAIMED_BURST: f64 = 20.0;

/// The status queries a tracker made since it started, by reason, and the answers it shared
/// instead of asking ([`Tracker::status_query_counts`](crate::Tracker::status_query_counts)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct StatusQueryCounts {
    /// Asked to confirm a final claim (a callback saying paid or failed).
    pub final_claims: u64,
    /// Asked about a payment a claim said was still pending, never asked about before.
    pub pending_claims: u64,
    /// Asked on schedule: the sweeper's checks and quick looks, and operators' checks.
    pub scheduled: u64,
    /// Claims answered with an answer already given (in flight, fresh enough, a completion,
    /// or the payment's budget spent): no query.
    pub shared: u64,
    /// Claims naming an id only a callback supplied, deferred because the provider's budget
    /// for those was spent.
    pub deferred: u64,
    /// Claims processed with an earlier one saying the same thing about the same payment
    /// (receipts aside): no lookup or query of their own.
    pub coalesced: u64,
    /// Queries put off because the provider's budget
    /// ([`TrackerConfig::status_queries_per_second`](crate::TrackerConfig::status_queries_per_second))
    /// was spent and there was no answer to share.
    pub throttled: u64,
}

#[derive(Default)]
struct Counters {
    final_claims: AtomicU64,
    pending_claims: AtomicU64,
    scheduled: AtomicU64,
    shared: AtomicU64,
    deferred: AtomicU64,
    coalesced: AtomicU64,
    throttled: AtomicU64,
}

/// A token bucket per provider.
struct Buckets {
    per_second: f64,
    burst: f64,
    levels: Mutex<HashMap<&'static str, (Instant, f64)>>,
}

impl Buckets {
    fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst,
            levels: Mutex::default(),
        }
    }

    /// Takes a token for `provider`: `Ok`, or how long until one is there.
    fn take(&self, provider: &'static str) -> Result<(), Duration> {
        let mut levels = self
            .levels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let (last, tokens) = levels.entry(provider).or_insert((now, self.burst));
        let refill = now.saturating_duration_since(*last).as_secs_f64() * self.per_second;
        *tokens = (*tokens + refill).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - *tokens) / self.per_second.max(f64::MIN_POSITIVE);
            Err(Duration::try_from_secs_f64(wait).unwrap_or(Duration::from_secs(1)))
        }
    }
}

/// The shortest wait before asking again once a budget is spent (no busy loop on the store).
const MIN_WAIT: Duration = Duration::from_millis(250);

/// What [`QueryBudget::report`] gives.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The provider's answer (new or shared).
    Given(StatusReport),
    /// No answer to share, and the provider's budget is spent: ask again after this.
    NotNow(Duration),
}

/// One slot per (provider, payment id): its lock is the query in flight. A token bucket per
/// provider for all queries, and a smaller one for ids only a callback supplied.
pub(crate) struct QueryBudget {
    slots: Mutex<HashMap<(&'static str, String), Slot>>,
    provider: Buckets,
    claimed: Buckets,
    counters: Counters,
}

impl QueryBudget {
    /// A budget of `per_second` queries a second per provider (bursts of twice that).
    pub(crate) fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second.max(1));
        Self {
            slots: Mutex::default(),
            provider: Buckets::new(per_second, 2.0 * per_second),
            claimed: Buckets::new(CLAIMED_PER_SECOND, CLAIMED_BURST),
            counters: Counters::default(),
        }
    }

    /// What was asked and shared so far.
    pub(crate) fn counts(&self) -> StatusQueryCounts {
        let c = &self.counters;
        let read = |n: &AtomicU64| n.load(Ordering::Relaxed);
        StatusQueryCounts {
            final_claims: read(&c.final_claims),
            pending_claims: read(&c.pending_claims),
            scheduled: read(&c.scheduled),
            shared: read(&c.shared),
            deferred: read(&c.deferred),
            coalesced: read(&c.coalesced),
            throttled: read(&c.throttled),
        }
    }

    /// Counts claims processed with an earlier, identical one.
    pub(crate) fn count_coalesced(&self, claims: usize) {
        let claims = u64::try_from(claims).unwrap_or(u64::MAX);
        self.counters.coalesced.fetch_add(claims, Ordering::Relaxed);
    }

    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn slot(&self, provider: &'static str, id: &PaymentId) -> Slot {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slots.len() >= MAX_SLOTS {
            slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        Arc::clone(slots.entry((provider, id.as_str().to_owned())).or_default())
    }

    /// Takes a token for querying an id only a callback supplied; `false` when the provider's
    /// budget for those is spent for now (the claim waits and is tried again later).
    pub(crate) fn take_claimed(&self, provider: &'static str) -> bool {
        let taken = self.claimed.take(provider).is_ok();
        if !taken {
            Self::count(&self.counters.deferred);
        }
        taken
    }

    /// The provider's answer about `id`: one asked after `seen` (when the claim was known to
    /// be stored), or a completion; else asked now (one query at a time per payment) as far
    /// as `need` requires and the payment's budget allows, or the last answer.
    pub(crate) async fn report(
        &self,
        provider: &dyn StkProvider,
        id: &PaymentId,
        seen: Instant,
        need: Need,
    ) -> Result<Answer, Error> {
        let arrived = seen;
        let slot = self.slot(provider.name(), id);
        let mut slot = slot.lock().await;
        if let Some((asked, report)) = slot.last.as_ref() {
            let completed = matches!(report.status, stk_core::PaymentStatus::Completed(_));
            if *asked >= arrived || completed {
                Self::count(&self.counters.shared);
                return Ok(Answer::Given(report.clone()));
            }
        }
        let wanted = match need {
            Need::Any => slot.last.is_none(),
            Need::Budgeted => slot.spend(),
            Need::Now => true,
        };
        let wait = if wanted {
            match self.provider.take(provider.name()) {
                Ok(()) => None,
                Err(wait) => {
                    if need == Need::Budgeted {
                        slot.refund();
                    }
                    Some(wait)
                }
            }
        } else {
            Some(slot.wait())
        };
        if let Some(wait) = wait {
            // Claims share what there is; scheduled looks wait for a new answer, as does a
            // claim with nothing to share.
            if need != Need::Now {
                if let Some((_, report)) = slot.last.as_ref() {
                    Self::count(&self.counters.shared);
                    return Ok(Answer::Given(report.clone()));
                }
            }
            Self::count(&self.counters.throttled);
            return Ok(Answer::NotNow(wait.max(MIN_WAIT)));
        }
        Self::count(match need {
            Need::Any => &self.counters.pending_claims,
            Need::Budgeted => &self.counters.final_claims,
            Need::Now => &self.counters.scheduled,
        });
        let asked = Instant::now();
        let report = match provider.status_report(id).await {
            Ok(report) => report,
            Err(e) => {
                // No answer: the payment's allowance was not used (the provider's was).
                if need == Need::Budgeted {
                    slot.refund();
                }
                return Err(e);
            }
        };
        slot.last = Some((asked, report.clone()));
        Ok(Answer::Given(report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use stk_core::{
        AmountLimits, CallbackClaim, CallbackRequest, PaymentStatus, PushAccepted, StkPushRequest,
        async_trait,
    };

    /// Answers "pending" slowly (unless `quick`), counting the queries.
    #[derive(Debug, Default)]
    struct Slow {
        queries: AtomicUsize,
        final_answer: bool,
        quick: bool,
    }

    fn given(answer: Answer) -> StatusReport {
        match answer {
            Answer::Given(report) => report,
            Answer::NotNow(wait) => panic!("no answer: wait {wait:?}"),
        }
    }

    #[async_trait]
    impl StkProvider for Slow {
        fn name(&self) -> &'static str {
            "slow"
        }
        fn limits(&self) -> AmountLimits {
            AmountLimits::new("slow", 1, 150_000).unwrap_or_else(|_| unreachable!())
        }
        async fn initiate(&self, _: &StkPushRequest) -> Result<PushAccepted, Error> {
            unreachable!("not pushed")
        }
        async fn status(&self, _: &PaymentId) -> Result<PaymentStatus, Error> {
            self.queries.fetch_add(1, Ordering::SeqCst);
            if !self.quick {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Ok(if self.final_answer {
                PaymentStatus::Completed(stk_core::Completed::with_receipt("UAB1C2D3E4"))
            } else {
                PaymentStatus::Pending
            })
        }
        fn parse_callback(&self, _: &CallbackRequest) -> Result<CallbackClaim, Error> {
            unreachable!("no callbacks")
        }
    }

    #[tokio::test(start_paused = true)]
    async fn claims_in_flight_share_one_query_and_later_ones_ask_again() {
        let budget = Arc::new(QueryBudget::new(20));
        let provider = Arc::new(Slow::default());
        let id = PaymentId::new("P-1");
        let mut claims = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let (budget, provider, id) = (Arc::clone(&budget), Arc::clone(&provider), id.clone());
            let seen = Instant::now();
            claims.spawn(async move {
                budget
                    .report(provider.as_ref(), &id, seen, Need::Budgeted)
                    .await
                    .unwrap()
            });
        }
        while let Some(answer) = claims.join_next().await {
            assert_eq!(given(answer.unwrap()).status, PaymentStatus::Pending);
        }
        // The first claim's query, shared by all: each was stored before it started.
        assert_eq!(provider.queries.load(Ordering::SeqCst), 1);
        // A claim after those answers asks again once the payment's budget allows (two
        // seconds later; a pending answer may be stale)...
        tokio::time::advance(std::time::Duration::from_secs(2)).await;
        budget
            .report(provider.as_ref(), &id, Instant::now(), Need::Budgeted)
            .await
            .unwrap();
        assert_eq!(provider.queries.load(Ordering::SeqCst), 2);
        let asked = provider.queries.load(Ordering::SeqCst);
        // ...but a completion is shared for good (asked once the budget has refilled).
        let done = Slow {
            final_answer: true,
            ..Slow::default()
        };
        tokio::time::advance(std::time::Duration::from_secs(2)).await;
        for _ in 0..5 {
            tokio::time::advance(std::time::Duration::from_millis(1)).await;
            budget
                .report(&done, &id, Instant::now(), Need::Budgeted)
                .await
                .unwrap();
        }
        assert_eq!(done.queries.load(Ordering::SeqCst), 1);
        assert_eq!(provider.queries.load(Ordering::SeqCst), asked);
    }

    #[tokio::test(start_paused = true)]
    async fn a_payment_is_asked_about_once_a_second_whatever_the_claims() {
        let budget = QueryBudget::new(20);
        let provider = Slow::default();
        let id = PaymentId::new("P-2");
        // A final claim every 10 ms for 10 s, each stored after the last answer: one query
        // every two seconds; the others share the last answer.
        for _ in 0..1_000 {
            tokio::time::advance(std::time::Duration::from_millis(10)).await;
            let answer = budget
                .report(&provider, &id, Instant::now(), Need::Budgeted)
                .await
                .unwrap();
            assert_eq!(given(answer).status, PaymentStatus::Pending);
        }
        let asked = provider.queries.load(Ordering::SeqCst);
        assert!((5..=6).contains(&asked), "{asked} queries in 10 s");
        // A claim that the payment is still pending shares the last answer, however old.
        tokio::time::advance(std::time::Duration::from_secs(60)).await;
        budget
            .report(&provider, &id, Instant::now(), Need::Any)
            .await
            .unwrap();
        assert_eq!(provider.queries.load(Ordering::SeqCst), asked);
        // Another payment has its own budget.
        budget
            .report(
                &provider,
                &PaymentId::new("P-3"),
                Instant::now(),
                Need::Budgeted,
            )
            .await
            .unwrap();
        assert_eq!(provider.queries.load(Ordering::SeqCst), asked + 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_provider_is_asked_within_its_budget_across_payments() {
        let budget = QueryBudget::new(10);
        let provider = Slow {
            quick: true,
            ..Slow::default()
        };
        let ask = |n: usize, need: Need| {
            let id = PaymentId::new(format!("P-{n}"));
            let budget = &budget;
            let provider = &provider;
            async move {
                budget
                    .report(provider, &id, Instant::now(), need)
                    .await
                    .unwrap()
            }
        };
        // 100 payments at once: the burst (twice the rate) is asked, the others wait a moment.
        let mut waits = Vec::new();
        for n in 0..100 {
            if let Answer::NotNow(wait) = ask(n, Need::Budgeted).await {
                waits.push(wait);
            }
        }
        assert_eq!(provider.queries.load(Ordering::SeqCst), 20);
        assert_eq!(waits.len(), 80);
        assert!(
            waits.iter().all(|w| *w == MIN_WAIT),
            "a moment, not a busy loop: {waits:?}"
        );
        // With the budget spent, a claim about a payment asked before shares its answer; the
        // sweeper's look waits for a new one.
        tokio::time::advance(std::time::Duration::from_secs(2)).await;
        for n in 100..130 {
            ask(n, Need::Budgeted).await;
        }
        let asked = provider.queries.load(Ordering::SeqCst);
        assert!(matches!(ask(0, Need::Budgeted).await, Answer::Given(_)));
        assert!(matches!(ask(0, Need::Now).await, Answer::NotNow(_)));
        assert_eq!(provider.queries.load(Ordering::SeqCst), asked);
        // Then ten a second.
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        for n in 200..300 {
            ask(n, Need::Budgeted).await;
        }
        assert_eq!(provider.queries.load(Ordering::SeqCst), asked + 10);
        assert!(budget.counts().throttled >= 80 + 90);
    }

    #[tokio::test(start_paused = true)]
    async fn callback_supplied_ids_have_a_budget_per_provider() {
        let budget = QueryBudget::new(20);
        let granted = (0..100).filter(|_| budget.take_claimed("a")).count();
        assert_eq!(granted, 20, "the burst");
        assert!(budget.take_claimed("b"), "another provider has its own");
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let granted = (0..100).filter(|_| budget.take_claimed("a")).count();
        assert_eq!(granted, 5, "then five a second");
    }
}
