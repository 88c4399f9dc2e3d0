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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::{
        AmountLimits, CallbackClaim, CallbackRequest, Completed, PushAccepted, StkPushRequest,
        async_trait,
    };

    /// Answers status queries from a script, one answer per query, repeating the last.
    #[derive(Debug)]
    struct Scripted(Mutex<Vec<Result<PaymentStatus, Error>>>);

    #[async_trait]
    impl StkProvider for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        fn limits(&self) -> AmountLimits {
            AmountLimits::MPESA
        }
        async fn initiate(&self, _: &StkPushRequest) -> Result<PushAccepted, Error> {
            unreachable!("not used")
        }
        async fn status(&self, _: &PaymentId) -> Result<PaymentStatus, Error> {
            let mut answers = self.0.lock().unwrap();
            if answers.len() > 1 {
                answers.remove(0)
            } else {
                answers[0].clone()
            }
        }
        fn parse_callback(&self, _: &CallbackRequest) -> Result<CallbackClaim, Error> {
            unreachable!("not used")
        }
    }

    fn unavailable() -> Error {
        Error::Unavailable {
            provider: "scripted",
            status: Some(502),
            message: "bad gateway".into(),
            cause: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_until_final() {
        let done = PaymentStatus::Completed(Completed::with_receipt("R"));
        let p = Scripted(Mutex::new(vec![
            Ok(PaymentStatus::Pending),
            Err(unavailable()),
            Err(Error::RateLimited {
                provider: "scripted",
                retry_after: Some(Duration::from_secs(30)),
            }),
            Err(Error::OutcomeUnknown {
                provider: "scripted",
                operation: Operation::Status,
                message: "timeout".into(),
                cause: None,
            }),
            Ok(PaymentStatus::Processing),
            Ok(done.clone()),
        ]));
        let start = Instant::now();
        let mut seen = Vec::new();
        let status = wait_for_final_with(&p, &"X".into(), &PollPolicy::default(), |s| {
            seen.push(s.as_str())
        })
        .await
        .unwrap();
        assert_eq!(status, done);
        assert_eq!(seen, ["pending", "processing"]);
        // 2 + 4 + max(8, 30 retry-after) + 10 + 10
        assert_eq!(start.elapsed(), Duration::from_secs(56));
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_stop_the_wait_at_once() {
        let p = Scripted(Mutex::new(vec![Err(Error::Unauthorized {
            provider: "scripted",
            message: "no".into(),
        })]));
        let start = Instant::now();
        let err = wait_for_final(&p, &"X".into(), &PollPolicy::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "unauthorized");
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_is_exact_and_reports_last_status() {
        let p = Scripted(Mutex::new(vec![Ok(PaymentStatus::Processing)]));
        let start = Instant::now();
        let policy = PollPolicy::default().deadline(Duration::from_secs(45));
        let err = wait_for_final(&p, &"X".into(), &policy).await.unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_secs(45));
        assert!(matches!(
            err,
            Error::StillPending {
                last_status: "processing",
                ..
            }
        ));
    }
}
