//! `initiate` in a loop at a fixed concurrency: through the SDK's trait, or plain reqwest
//! posting the same pre-built JSON (the floor of this client stack). One JSON line.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::providers::{RawPush, raw_push, request, sdk};
use crate::stats::Run;

/// `stk-bench client`.
#[derive(clap::Args)]
pub(crate) struct Options {
    /// `stk` (the SDK through `StkProvider::initiate`) or `reqwest` (pre-built JSON).
    #[arg(long)]
    variant: String,
    /// kulmipay, upesipay, lipia or daraja.
    #[arg(long)]
    provider: String,
    /// The static server, `http://127.0.0.1:PORT`.
    #[arg(long)]
    base_url: String,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 1)]
    concurrency: u64,
    /// Measured requests.
    #[arg(long, default_value_t = 2000)]
    requests: u64,
    /// Unmeasured requests first (connections, token, caches).
    #[arg(long, default_value_t = 200)]
    warmup: u64,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

/// One push, whichever way it is sent.
enum Client {
    Sdk(Box<dyn stk_core::StkProvider>),
    Raw(reqwest::Client, RawPush),
}

impl Client {
    async fn push(&self) -> bool {
        match self {
            Self::Sdk(provider) => match request() {
                Ok(request) => provider.initiate(&request).await.is_ok(),
                Err(_) => false,
            },
            Self::Raw(http, push) => {
                let sent = http
                    .post(&push.url)
                    .headers(push.headers.clone())
                    .body(push.body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().is_success() => {
                        response.bytes().await.is_ok()
                    }
                    _ => false,
                }
            }
        }
    }
}

/// Runs the loop and prints the result.
pub(crate) fn run(options: Options) -> Result<(), String> {
    let runtime = crate::runtime(options.workers)?;
    let mut run = runtime.block_on(measure(&options))?;
    run.provider = options.provider;
    run.concurrency = options.concurrency;
    run.print();
    Ok(())
}

async fn measure(options: &Options) -> Result<Run, String> {
    let client = Arc::new(match options.variant.as_str() {
        "stk" => Client::Sdk(sdk(&options.provider, &options.base_url)?),
        "reqwest" => Client::Raw(
            reqwest::Client::new(),
            raw_push(&options.provider, &options.base_url)?,
        ),
        other => return Err(format!("unknown --variant {other:?}: stk or reqwest")),
    });
    let (_, warm_errors, _) = drive(&client, options.concurrency, options.warmup).await;
    if warm_errors > 0 && warm_errors == options.warmup {
        return Err(format!(
            "{} {}: every warm-up push failed",
            options.variant, options.provider
        ));
    }
    let (latencies, errors, wall) = drive(&client, options.concurrency, options.requests).await;
    Ok(Run::from_latencies(
        &options.variant,
        latencies,
        errors,
        wall,
    ))
}

/// `total` pushes by `concurrency` workers: latencies of those that succeeded, failures, wall.
async fn drive(
    client: &Arc<Client>,
    concurrency: u64,
    total: u64,
) -> (Vec<Duration>, u64, Duration) {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (client, next) = (Arc::clone(client), Arc::clone(&next));
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0u64);
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let at = Instant::now();
                    if client.push().await {
                        latencies.push(at.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::with_capacity(total as usize), 0);
    for worker in workers {
        match worker.await {
            Ok((l, e)) => {
                latencies.extend(l);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    (latencies, errors, started.elapsed())
}
