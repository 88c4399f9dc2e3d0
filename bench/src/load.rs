//! Load generation shared by the sections: a list of jobs run at a fixed concurrency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Runs `job` for every item, `concurrency` at a time: the latencies of those that
/// succeeded, and how many failed.
pub(crate) async fn in_parallel<T, F, Fut>(
    concurrency: usize,
    items: &[T],
    job: F,
) -> (Vec<Duration>, u64)
where
    T: Clone + Send + Sync + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = Option<()>> + Send,
{
    let items = Arc::new(items.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (items, next, job) = (Arc::clone(&items), Arc::clone(&next), job.clone());
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0u64);
                while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let at = Instant::now();
                    match job(item.clone()).await {
                        Some(()) => latencies.push(at.elapsed()),
                        None => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for w in workers {
        if let Ok((l, e)) = w.await {
            latencies.extend(l);
            errors += e;
        }
    }
    (latencies, errors)
}
