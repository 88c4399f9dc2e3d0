//! A token bucket for `POST /v1/payments`: every push costs the merchant a prompt on a
//! customer's phone and counts against the provider's abuse limits, so a runaway client is
//! slowed down, never allowed to flood.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct RateLimit {
    per_second: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// `per_second` sustained, bursts of twice that.
    pub(crate) fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second.max(1));
        Self {
            per_second,
            burst: per_second * 2.0,
            state: Mutex::new((per_second * 2.0, Instant::now())),
        }
    }

    /// Takes a token, or says how long until one is free.
    pub(crate) fn take(&self) -> Result<(), Duration> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = *state;
        let now = Instant::now();
        let tokens =
            (tokens + now.duration_since(last).as_secs_f64() * self.per_second).min(self.burst);
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            Ok(())
        } else {
            *state = (tokens, now);
            Err(Duration::from_secs_f64((1.0 - tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_then_the_sustained_rate() {
        let limit = RateLimit::new(5);
        let allowed = (0..100).filter(|_| limit.take().is_ok()).count();
        assert_eq!(allowed, 10, "a burst of twice the rate");
        let wait = limit.take().unwrap_err();
        assert!(wait <= Duration::from_millis(200), "{wait:?}");
        tokio::time::advance(Duration::from_secs(1)).await;
        let allowed = (0..100).filter(|_| limit.take().is_ok()).count();
        assert_eq!(allowed, 5, "then five a second");
    }
}
