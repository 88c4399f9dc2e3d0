//! Polling a payment until it is final, with backoff and a deadline.

use std::time::Duration;

use tokio::time::Instant;

use crate::{Error, Operation, PaymentId, PaymentStatus, StkProvider};

/// How [`wait_for_final`] polls: the first delay grows by `multiplier` up to `max_interval`,
/// until `deadline` has passed since the wait began.
///
/// The default (2 s, ×2, at most 10 s, deadline 120 s) fits M-Pesa, whose prompt expires after
/// about 60 s.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollPolicy {
    /// Delay before the second query (the first is immediate).
    pub first_delay: Duration,
    /// Factor applied to the delay after each query.
    pub multiplier: u32,
    /// Largest delay between queries.
    pub max_interval: Duration,
    /// Give up with [`Error::StillPending`] after this long.
    pub deadline: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(2),
            multiplier: 2,
            max_interval: Duration::from_secs(10),
            deadline: Duration::from_secs(120),
        }
    }
}

impl PollPolicy {
    /// The same policy with another deadline.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The same policy with other delays.
    pub fn intervals(mut self, first: Duration, max: Duration) -> Self {
        self.first_delay = first;
        self.max_interval = max.max(first);
        self
    }
}

/// Polls `provider` until the payment is final or the policy's deadline passes.
///
/// Transient errors (rate limiting, unavailability, a status query that timed out) are
/// retried until the deadline; any other error is returned at once. After the deadline it
/// returns [`Error::StillPending`]. Uses tokio's clock, so tests can run it under
/// `tokio::time::pause()` without waiting.
pub async fn wait_for_final<P: StkProvider + ?Sized>(
    provider: &P,
    id: &PaymentId,
    policy: &PollPolicy,
) -> Result<PaymentStatus, Error> {
    wait_for_final_with(provider, id, policy, |_| {}).await
}

/// [`wait_for_final`], calling `on_status` with every non-final status seen (for progress
/// display).
pub async fn wait_for_final_with<P: StkProvider + ?Sized>(
    provider: &P,
    id: &PaymentId,
    policy: &PollPolicy,
    mut on_status: impl FnMut(&PaymentStatus) + Send,
) -> Result<PaymentStatus, Error> {
    let start = Instant::now();
    let end = start + policy.deadline;
    let mut delay = policy.first_delay;
    let mut last_status = "pending";
    loop {
        let mut wait = delay;
        match provider.status(id).await {
            Ok(status) if status.is_final() => return Ok(status),
            Ok(status) => {
                last_status = status.as_str();
                on_status(&status);
            }
            Err(e) if is_transient(&e) => {
                tracing::debug!(provider = provider.name(), error = %e, "status query failed; will retry");
                wait = wait.max(e.retry_after().unwrap_or_default());
            }
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        if now >= end {
            return Err(Error::StillPending {
                provider: provider.name(),
                id: id.clone(),
                last_status,
                waited: now - start,
            });
        }
        tokio::time::sleep_until((now + wait).min(end)).await;
        delay = (delay * policy.multiplier.max(1)).min(policy.max_interval);
    }
}

fn is_transient(e: &Error) -> bool {
    e.is_retryable()
        || matches!(
            e,
            Error::OutcomeUnknown {
                operation: Operation::Status,
                ..
            }
        )
}
