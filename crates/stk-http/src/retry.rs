//! [`RetryPolicy`]: opt-in retries of what was certainly not accepted.

use std::future::Future;
use std::time::Duration;

use stk_core::Error;

/// Retries (off unless set on the client options) of answers that certainly mean "not
/// processed": [`Error::Unavailable`] (nothing sent, or HTTP 503) and [`Error::RateLimited`]
/// (honouring `Retry-After`). Never [`Error::OutcomeUnknown`]: a push that may have gone out is
/// never sent again. Exponential backoff with jitter, within a total deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Tries in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The first backoff; doubled on each retry.
    pub base_delay: Duration,
    /// The longest backoff.
    pub max_delay: Duration,
    /// No retry starts after this much time since the first try.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    /// 3 tries, 200 ms doubling up to 5 s, within 20 s.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            deadline: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// A policy of `max_attempts` tries with the default delays.
    pub fn attempts(max_attempts: u32) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (0 for the first retry): the backoff with full
    /// jitter in its upper half, or the provider's `Retry-After` if longer.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self
            .base_delay
            .saturating_mul(1_u32 << retry.min(16))
            .min(self.max_delay);
        let jittered = backoff.mul_f64(0.5 + fastrand::f64() * 0.5);
        retry_after.map_or(jittered, |after| after.max(jittered))
    }

    /// Runs `call`, retrying per the policy (no policy: once).
    pub async fn run<T, F, Fut>(policy: Option<&Self>, mut call: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let Some(policy) = policy else {
            return call().await;
        };
        let started = tokio::time::Instant::now();
        let mut retry = 0;
        loop {
            let result = call().await;
            let Err(error) = &result else {
                return result;
            };
            let certainly_not_processed =
                matches!(error, Error::Unavailable { .. } | Error::RateLimited { .. });
            if !certainly_not_processed || retry + 1 >= policy.max_attempts {
                return result;
            }
            let delay = policy.delay(retry, error.retry_after());
            if started.elapsed() + delay > policy.deadline {
                return result;
            }
            tracing::debug!(
                kind = error.kind().as_str(),
                retry = retry + 1,
                delay_ms = delay.as_millis() as u64,
                "retrying: not processed"
            );
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn delays_stay_within_bounds(retry in 0u32..40, after in proptest::option::of(0u64..100)) {
            let policy = RetryPolicy::default();
            let after = after.map(Duration::from_secs);
            let d = policy.delay(retry, after);
            prop_assert!(d <= policy.max_delay.max(after.unwrap_or_default()));
            if let Some(after) = after {
                prop_assert!(d >= after);
            }
        }
    }
}
