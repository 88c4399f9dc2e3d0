//! A flash sale's prompts: many pushes in flight at once through the SDK against a server
//! that takes 200 ms per answer. Wall time, peak memory, memory per in-flight push.

use std::time::Instant;

use crate::providers::{request, sdk};
use crate::stats::{Run, peak_rss_kb, rss_kb};

/// `stk-bench inflight`.
#[derive(clap::Args)]
pub(crate) struct Options {
    /// The provider whose wire format is used.
    #[arg(long, default_value = "lipia")]
    provider: String,
    /// The (slow) static server, `http://127.0.0.1:PORT`.
    #[arg(long)]
    base_url: String,
    /// Pushes started at once.
    #[arg(long, default_value_t = 10_000)]
    pushes: u64,
}

/// Starts every push at once and waits for all; prints the result.
pub(crate) fn run(options: Options) -> Result<(), String> {
    let runtime = crate::runtime(2)?;
    let provider = runtime.block_on(async { sdk(&options.provider, &options.base_url) })?;
    let provider: std::sync::Arc<dyn stk_core::StkProvider> = provider.into();
    let before = rss_kb();
    let started = Instant::now();
    let (latencies, errors) = runtime.block_on(async {
        let tasks: Vec<_> = (0..options.pushes)
            .map(|_| {
                let provider = std::sync::Arc::clone(&provider);
                tokio::spawn(async move {
                    let at = Instant::now();
                    let request = request().ok()?;
                    provider.initiate(&request).await.ok().map(|_| at.elapsed())
                })
            })
            .collect();
        let (mut latencies, mut errors) = (Vec::new(), 0u64);
        for task in tasks {
            match task.await {
                Ok(Some(latency)) => latencies.push(latency),
                _ => errors += 1,
            }
        }
        (latencies, errors)
    });
    let mut run = Run::from_latencies("stk", latencies, errors, started.elapsed());
    run.provider = options.provider;
    run.concurrency = options.pushes;
    let grown = peak_rss_kb().saturating_sub(before);
    run.extra.insert("rss_before_kb".into(), before.into());
    run.extra.insert(
        "bytes_per_inflight_push".into(),
        (grown * 1024 / options.pushes.max(1)).into(),
    );
    run.print();
    Ok(())
}
