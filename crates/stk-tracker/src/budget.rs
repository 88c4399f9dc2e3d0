//! Status queries are a budget, not a reflex: at most one query in flight per payment; a
//! claim shares any answer whose query started after the claim was stored (it is as fresh as
//! one of its own), and a completion with every later claim (it never changes; a failure may:
//! M-Pesa reports some payments failed, then paid). Beyond that, a payment is asked at most
//! [`PER_PAYMENT_PER_SECOND`] times a second (bursts of [`PER_PAYMENT_BURST`]); a claim that
//! finds the payment's budget spent shares its last answer, and a final claim it does not
//! confirm is looked at again within seconds (`CLAIM_RECHECKS_MS`). A flood of callbacks
//! naming one live payment thus costs about one query a second, not one per callback.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use stk_core::{Error, PaymentId, StatusReport, StkProvider};
use tokio::time::Instant;

/// Payments remembered at most; idle ones are forgotten beyond it.
const MAX_SLOTS: usize = 4_096;

/// Status queries per second for one payment, and the burst allowed (a KulmiPay payment's
/// `PENDING`, `PROCESSING` and `COMPLETE` webhooks can arrive within a second: each is asked
/// about at once).
pub(crate) const PER_PAYMENT_PER_SECOND: f64 = 1.0;
pub(crate) const PER_PAYMENT_BURST: f64 = 3.0;

/// One payment's last answer (and when its query started) and its query budget.
#[derive(Default)]
struct Asked {
    last: Option<(Instant, StatusReport)>,
    /// Queries spent (counting down at the allowed rate), and when (the tracker's clock, ms)
    /// that was last counted.
    spent: Option<(f64, i64)>,
}

impl Asked {
    /// Takes a query from the payment's budget at `now` (the tracker's clock), if one is left.
    fn take(&mut self, now: i64) -> bool {
        let (spent, at) = self.spent.unwrap_or((0.0, now));
        let elapsed = now.saturating_sub(at).max(0) as f64 / 1_000.0;
        let spent = (spent - elapsed * PER_PAYMENT_PER_SECOND).max(0.0);
        let granted = spent + 1.0 <= PER_PAYMENT_BURST;
        self.spent = Some((if granted { spent + 1.0 } else { spent }, now));
        granted
    }
}

/// A payment's slot: its lock is the query in flight.
type Slot = Arc<tokio::sync::Mutex<Asked>>;

/// Queries per second, per provider, for ids that only a callback supplied (anyone can invent
/// those), and the burst allowed.
pub(crate) const CLAIMED_PER_SECOND: f64 = 5.0;
const CLAIMED_BURST: f64 = 20.0;

/// One slot per (provider, payment id): its lock is the query in flight. And a token bucket
/// per provider for the queries of ids only a callback supplied.
#[derive(Default)]
pub(crate) struct QueryBudget {
    slots: Mutex<HashMap<(&'static str, String), Slot>>,
    claimed: Mutex<HashMap<&'static str, (Instant, f64)>>,
}

impl QueryBudget {
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
        let mut buckets = self
            .claimed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let (last, tokens) = buckets.entry(provider).or_insert((now, CLAIMED_BURST));
        let refill = now.saturating_duration_since(*last).as_secs_f64() * CLAIMED_PER_SECOND;
        *tokens = (*tokens + refill).min(CLAIMED_BURST);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// The provider's answer about `id`: one asked after `seen` (when the claim was known to
    /// be stored), or a completion, else asked now (one query at a time per payment), unless
    /// the payment's budget is spent: then its last answer, at most about a second old.
    pub(crate) async fn report(
        &self,
        provider: &dyn StkProvider,
        id: &PaymentId,
        seen: Instant,
        now_ms: i64,
    ) -> Result<StatusReport, Error> {
        let arrived = seen;
        let slot = self.slot(provider.name(), id);
        let mut slot = slot.lock().await;
        if let Some((asked, report)) = slot.last.as_ref() {
            let completed = matches!(report.status, stk_core::PaymentStatus::Completed(_));
            if *asked >= arrived || completed {
                return Ok(report.clone());
            }
        }
        if !slot.take(now_ms) {
            if let Some((_, report)) = slot.last.as_ref() {
                return Ok(report.clone());
            }
        }
        let asked = Instant::now();
        let report = provider.status_report(id).await?;
        slot.last = Some((asked, report.clone()));
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use stk_core::{
        AmountLimits, CallbackRequest, PaymentEvent, PaymentStatus, PushAccepted, StkPushRequest,
        async_trait,
    };

    /// The tracker's clock (ms) on tokio's paused clock.
    fn clock(at: Instant) -> i64 {
        static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let origin = *ORIGIN
            .get_or_init(|| std::time::Instant::now() - std::time::Duration::from_secs(3_600));
        i64::try_from(at.into_std().saturating_duration_since(origin).as_millis())
            .unwrap_or(i64::MAX)
    }

    /// Answers "pending" slowly, counting the queries.
    #[derive(Debug, Default)]
    struct Slow {
        queries: AtomicUsize,
        final_answer: bool,
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
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Ok(if self.final_answer {
                PaymentStatus::Completed(stk_core::Completed::with_receipt("UAB1C2D3E4"))
            } else {
                PaymentStatus::Pending
            })
        }
        fn parse_callback(&self, _: &CallbackRequest) -> Result<PaymentEvent, Error> {
            unreachable!("no callbacks")
        }
    }

    #[tokio::test(start_paused = true)]
    async fn claims_in_flight_share_one_query_and_later_ones_ask_again() {
        let budget = Arc::new(QueryBudget::default());
        let provider = Arc::new(Slow::default());
        let id = PaymentId::new("P-1");
        let mut claims = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let (budget, provider, id) = (Arc::clone(&budget), Arc::clone(&provider), id.clone());
            let seen = Instant::now();
            claims.spawn(async move {
                budget
                    .report(provider.as_ref(), &id, seen, clock(seen))
                    .await
                    .unwrap()
            });
        }
        while let Some(answer) = claims.join_next().await {
            assert_eq!(answer.unwrap().status, PaymentStatus::Pending);
        }
        // The first claim's query, shared by all: each was stored before it started.
        assert_eq!(provider.queries.load(Ordering::SeqCst), 1);
        // A claim after those answers asks again (a pending answer may be stale)...
        tokio::time::advance(std::time::Duration::from_millis(1)).await;
        budget
            .report(
                provider.as_ref(),
                &id,
                Instant::now(),
                clock(Instant::now()),
            )
            .await
            .unwrap();
        assert_eq!(provider.queries.load(Ordering::SeqCst), 2);
        let asked = provider.queries.load(Ordering::SeqCst);
        // ...but a completion is shared for good (asked once the budget has refilled).
        let done = Slow {
            final_answer: true,
            ..Slow::default()
        };
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        for _ in 0..5 {
            tokio::time::advance(std::time::Duration::from_millis(1)).await;
            budget
                .report(&done, &id, Instant::now(), clock(Instant::now()))
                .await
                .unwrap();
        }
        assert_eq!(done.queries.load(Ordering::SeqCst), 1);
        assert_eq!(provider.queries.load(Ordering::SeqCst), asked);
    }

    #[tokio::test(start_paused = true)]
    async fn a_payment_is_asked_about_once_a_second_whatever_the_claims() {
        let budget = QueryBudget::default();
        let provider = Slow::default();
        let id = PaymentId::new("P-2");
        // A claim every 10 ms for 10 s, each stored after the last answer: three at once (the
        // burst), then one a second; the others share the last answer.
        for _ in 0..1_000 {
            tokio::time::advance(std::time::Duration::from_millis(10)).await;
            let answer = budget
                .report(&provider, &id, Instant::now(), clock(Instant::now()))
                .await
                .unwrap();
            assert_eq!(answer.status, PaymentStatus::Pending);
        }
        let asked = provider.queries.load(Ordering::SeqCst);
        assert!((12..=14).contains(&asked), "{asked} queries in 10 s");
        // Another payment has its own budget.
        budget
            .report(
                &provider,
                &PaymentId::new("P-3"),
                Instant::now(),
                clock(Instant::now()),
            )
            .await
            .unwrap();
        assert_eq!(provider.queries.load(Ordering::SeqCst), asked + 1);
    }

    #[tokio::test(start_paused = true)]
    async fn callback_supplied_ids_have_a_budget_per_provider() {
        let budget = QueryBudget::default();
        let granted = (0..100).filter(|_| budget.take_claimed("a")).count();
        assert_eq!(granted, 20, "the burst");
        assert!(budget.take_claimed("b"), "another provider has its own");
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let granted = (0..100).filter(|_| budget.take_claimed("a")).count();
        assert_eq!(granted, 5, "then five a second");
    }
}
