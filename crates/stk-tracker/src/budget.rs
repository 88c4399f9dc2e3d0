//! Status queries are a budget, not a reflex: at most one query in flight per payment; a
//! claim shares any answer whose query started after the claim was stored (it is as fresh as
//! one of its own), and a completion with every later claim (it never changes; a failure may:
//! M-Pesa reports some payments failed, then paid). A flood of
//! callbacks naming one live payment costs one query per round of processing (the claims
//! stored before the round began), not one per callback.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use stk_core::{Error, PaymentId, StatusReport, StkProvider};
use tokio::time::Instant;

/// Payments remembered at most; idle ones are forgotten beyond it.
const MAX_SLOTS: usize = 4_096;

/// The last answer about a payment and when its query started.
type Slot = Arc<tokio::sync::Mutex<Option<(Instant, StatusReport)>>>;

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
    /// be stored), or a completion, else asked now, one query at a time per payment.
    pub(crate) async fn report(
        &self,
        provider: &dyn StkProvider,
        id: &PaymentId,
        seen: Instant,
    ) -> Result<StatusReport, Error> {
        let arrived = seen;
        let slot = self.slot(provider.name(), id);
        let mut last = slot.lock().await;
        if let Some((asked, report)) = last.as_ref() {
            let completed = matches!(report.status, stk_core::PaymentStatus::Completed(_));
            if *asked >= arrived || completed {
                return Ok(report.clone());
            }
        }
        let asked = Instant::now();
        let report = provider.status_report(id).await?;
        *last = Some((asked, report.clone()));
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
            claims.spawn(async move { budget.report(provider.as_ref(), &id, seen).await.unwrap() });
        }
        while let Some(answer) = claims.join_next().await {
            assert_eq!(answer.unwrap().status, PaymentStatus::Pending);
        }
        // The first claim's query, shared by all: each was stored before it started.
        assert_eq!(provider.queries.load(Ordering::SeqCst), 1);
        // A claim after those answers asks again (a pending answer may be stale)...
        tokio::time::advance(std::time::Duration::from_millis(1)).await;
        budget
            .report(provider.as_ref(), &id, Instant::now())
            .await
            .unwrap();
        assert_eq!(provider.queries.load(Ordering::SeqCst), 2);
        let asked = provider.queries.load(Ordering::SeqCst);
        // ...but a completion is shared for good.
        let done = Slow {
            final_answer: true,
            ..Slow::default()
        };
        for _ in 0..5 {
            tokio::time::advance(std::time::Duration::from_millis(1)).await;
            budget.report(&done, &id, Instant::now()).await.unwrap();
        }
        assert_eq!(done.queries.load(Ordering::SeqCst), 1);
        assert_eq!(provider.queries.load(Ordering::SeqCst), asked);
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
