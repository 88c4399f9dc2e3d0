//! What the tracker counts for metrics: callbacks by outcome, and how long a stored callback
//! waited until it was decided.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of [`LatencyHistogram`]'s buckets.
pub const LATENCY_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

/// A latency histogram with fixed buckets ([`LATENCY_BUCKETS`]), shared between threads.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Per bucket, and one more for "slower than the last bound".
    counts: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl LatencyHistogram {
    /// Counts one observation.
    pub fn observe(&self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// `(upper bound in seconds, observations at or below it)`, cumulative, ending with
    /// `f64::INFINITY` (every observation); and the sum of all observations.
    pub fn cumulative(&self) -> (Vec<(f64, u64)>, Duration) {
        let mut total = 0;
        let buckets = LATENCY_BUCKETS
            .iter()
            .chain(std::iter::once(&f64::INFINITY))
            .zip(&self.counts)
            .map(|(bound, count)| {
                total += count.load(Ordering::Relaxed);
                (*bound, total)
            })
            .collect();
        let sum = Duration::from_micros(self.sum_micros.load(Ordering::Relaxed));
        (buckets, sum)
    }
}

/// Callbacks decided since the tracker started.
#[derive(Debug, Default)]
pub(crate) struct CallbackStats {
    by_outcome: Mutex<BTreeMap<&'static str, u64>>,
    /// From a callback being stored to its being decided (applied, refused, …).
    pub(crate) latency: LatencyHistogram,
}

impl CallbackStats {
    pub(crate) fn decided(&self, outcome: &'static str, waited: Duration) {
        *self
            .by_outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(outcome)
            .or_default() += 1;
        self.latency.observe(waited);
    }

    pub(crate) fn by_outcome(&self) -> Vec<(&'static str, u64)> {
        let counts = self.by_outcome.lock().unwrap_or_else(|e| e.into_inner());
        counts.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Cumulative counts never fall, end at the total, and the sum adds up.
        #[test]
        fn a_histogram_counts_every_observation_once(ms in proptest::collection::vec(0u64..120_000, 0..50)) {
            let h = LatencyHistogram::default();
            for m in &ms {
                h.observe(Duration::from_millis(*m));
            }
            let (buckets, sum) = h.cumulative();
            prop_assert_eq!(buckets.len(), LATENCY_BUCKETS.len() + 1);
            prop_assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1));
            prop_assert_eq!(buckets.last().map(|b| b.1), Some(ms.len() as u64));
            prop_assert_eq!(sum, Duration::from_millis(ms.iter().sum()));
            for (bound, count) in &buckets {
                let expected = ms.iter().filter(|m| (**m as f64) / 1000.0 <= *bound).count();
                prop_assert_eq!(*count, expected as u64);
            }
        }
    }
}
