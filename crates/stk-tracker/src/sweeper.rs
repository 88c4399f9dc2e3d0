//! Reconciliation: query open attempts that are due (lost callbacks, outcome-unknown pushes,
//! pushes whose answer a crash lost), with backoff and `Retry-After`, and flag those past
//! their deadline for review. A deadline never makes a payment failed.

use serde_json::json;
use stk_core::{Error, PaymentId};

use crate::binding::{Tie, Verdict, judge};
use crate::budget::{Answer, Need};
use crate::error::TrackerError;
use crate::model::{Attempt, Source};
use crate::state::{AttemptState, Observed};
use crate::tracker::{Evidence, Tracker, ms};

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// Attempts looked at.
    pub attempts: usize,
    /// Status queries sent.
    pub queries: usize,
    /// Attempts that moved.
    pub moved: usize,
    /// Attempts flagged `expired` (needs review).
    pub expired: usize,
}

impl Tracker {
    /// Queries the open attempts that are due (up to the batch size) and flags those past
    /// their deadline.
    pub async fn sweep(&self) -> Result<SweepReport, TrackerError> {
        let config = &self.inner.config;
        let attempts = self
            .inner
            .store
            .claim_due_attempts(&self.provider_names(), &self.lease(), config.batch)
            .await?;
        let mut report = SweepReport {
            attempts: attempts.len(),
            ..SweepReport::default()
        };
        let mut tasks = tokio::task::JoinSet::new();
        for attempt in attempts {
            let tracker = self.clone();
            tasks.spawn(async move { tracker.reconcile(attempt, false).await });
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(Ok(step)) => {
                    report.queries += usize::from(step.queried);
                    report.moved += usize::from(step.moved);
                    report.expired += usize::from(step.expired);
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "an attempt could not be reconciled"),
                Err(e) => tracing::error!(error = %e, "a reconcile task panicked"),
            }
        }
        Ok(report)
    }

    /// Queries the latest `limit` open or expired (needs review) attempts of this tracker's
    /// providers now, whatever their schedule; returns them as they then stand (`stk
    /// payments reconcile`).
    pub async fn reconcile_open(&self, limit: i64) -> Result<Vec<Attempt>, TrackerError> {
        let mut query = crate::AttemptQuery::newest(limit);
        query.states = AttemptState::ALL
            .into_iter()
            .filter(|s| s.is_open() || *s == AttemptState::Expired)
            .collect();
        let mut out = Vec::new();
        for attempt in self.inner.store.search_attempts(&query).await? {
            if self.inner.providers.contains_key(attempt.provider.as_str()) {
                let id = attempt.id.clone();
                self.reconcile(attempt, true).await?;
                out.push(self.attempt(&id).await?);
            }
        }
        Ok(out)
    }

    /// Queries one attempt now, whatever its schedule (`stk payments reconcile`).
    pub async fn check(&self, attempt_id: &str) -> Result<Attempt, TrackerError> {
        let attempt = self.attempt(attempt_id).await?;
        self.reconcile(attempt, true).await?;
        self.attempt(attempt_id).await
    }

    /// One attempt: `manual` (on request) also queries an expired one, which may still be
    /// paid; the sweeper leaves those to review.
    async fn reconcile(&self, attempt: Attempt, manual: bool) -> Result<Step, TrackerError> {
        let mut step = Step::default();
        let before = (attempt.state, attempt.version);
        let mut attempt = attempt;
        let now = self.now();
        let sending = attempt.state == AttemptState::Created
            && attempt.next_check_at.is_some_and(|at| now < at);
        if sending {
            // The push may still be in flight: its answer will bring the ids.
            return Ok(step);
        }
        if attempt.state == AttemptState::Created {
            // The push was being sent when the answer was lost (a crash, or still in flight
            // past the grace period): it may have gone out.
            let evidence = Evidence::new(
                Observed::OutcomeUnknown,
                Source::Deadline,
                json!({ "reason": "no answer to the push was recorded within the send grace" }),
            );
            attempt = self.apply(attempt, evidence).await?;
        }
        let queryable = attempt.state.is_open()
            || (manual && attempt.state == AttemptState::Expired)
            || crate::tracker::in_claim_series(&attempt, now);
        if queryable {
            if let Some(id) = attempt.payment_id.clone() {
                step.queried = true;
                let answered;
                (attempt, answered) = self.query(attempt, &PaymentId::new(id)).await?;
                if !answered {
                    // No answer yet (the provider's query budget is spent): never expire an
                    // attempt without its last look.
                    step.moved = (attempt.state, attempt.version) != before;
                    return Ok(step);
                }
            } else {
                let next = self.next_check(&attempt, now);
                self.inner
                    .store
                    .schedule_check(
                        &attempt.id,
                        Some(next),
                        false,
                        Some("no payment id to query yet"),
                    )
                    .await?;
            }
        }
        if attempt.state.is_open() && self.now() >= attempt.deadline_at {
            let evidence = Evidence::new(
                Observed::DeadlinePassed,
                Source::Deadline,
                json!({ "deadline_at": attempt.deadline_at, "state": attempt.state }),
            );
            attempt = self.apply(attempt, evidence).await?;
            step.expired = attempt.state == AttemptState::Expired;
        }
        step.moved = (attempt.state, attempt.version) != before;
        Ok(step)
    }

    /// One status query, its answer applied, the next check scheduled; whether the provider
    /// was asked (not when its query budget was spent).
    async fn query(
        &self,
        attempt: Attempt,
        id: &PaymentId,
    ) -> Result<(Attempt, bool), TrackerError> {
        let provider = std::sync::Arc::clone(self.provider(&attempt.provider)?);
        let now = self.now();
        let seen = tokio::time::Instant::now();
        match self
            .status_report(provider.as_ref(), id, seen, Need::Now)
            .await
        {
            Ok(Answer::NotNow(wait)) => {
                // The provider's query budget is spent: look again in a moment (not counted
                // as a query, so the backoff does not grow).
                let next = now.saturating_add(ms(wait).max(1));
                self.inner
                    .store
                    .schedule_check(&attempt.id, Some(next), false, None)
                    .await?;
                Ok((attempt, false))
            }
            Ok(Answer::Given(report)) => {
                if let Verdict::Mismatch { field } = judge(&attempt, &report, Tie::Own) {
                    let detail = json!({ "field": field, "status": report, "queried": id });
                    self.anomaly(&attempt, crate::event::AnomalyKind::StatusMismatch, detail)
                        .await?;
                    self.schedule(&attempt, None).await?;
                    return Ok((attempt, true));
                }
                let evidence = Evidence::of_status(
                    Source::StatusQuery,
                    report.status.clone(),
                    json!({ "status": report }),
                );
                let attempt = self.apply(attempt, evidence).await?;
                self.schedule(&attempt, None).await?;
                Ok((attempt, true))
            }
            Err(e) => {
                let wait = match &e {
                    Error::RateLimited {
                        retry_after: Some(after),
                        ..
                    } => Some(ms(*after)),
                    _ => None,
                };
                tracing::debug!(attempt = %attempt.id, error = %e, "status query failed");
                let next = self
                    .next_check(&attempt, now)
                    .max(now.saturating_add(wait.unwrap_or(0)));
                self.inner
                    .store
                    .schedule_check(&attempt.id, Some(next), true, Some(&e.to_string()))
                    .await?;
                Ok((attempt, true))
            }
        }
    }

    /// Counts a query and schedules the next one (none once settled).
    async fn schedule(&self, attempt: &Attempt, error: Option<&str>) -> Result<(), TrackerError> {
        let now = self.now();
        let next = (attempt.state.is_open() || crate::tracker::in_claim_series(attempt, now))
            .then(|| self.next_check(attempt, now))
            .filter(|_| attempt.state != AttemptState::Completed);
        self.inner
            .store
            .schedule_check(&attempt.id, next, true, error)
            .await?;
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Step {
    queried: bool,
    moved: bool,
    expired: bool,
}
