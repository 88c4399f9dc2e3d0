//! The fake provider at scale: N payments pushed, the paused clock moved past their result,
//! every status read. Wall time and memory per payment.

use std::time::{Duration, Instant};

use stk_core::{PaymentId, StkProvider, StkPushRequest};
use stk_mock::MockProvider;

use crate::stats::{self, Run};

/// The fake provider's default time from push to result.
const DELAY: Duration = Duration::from_secs(2);

/// `stk-bench fake`.
#[derive(clap::Args)]
pub(crate) struct Options {
    /// Payments to push and settle.
    #[arg(long, default_value_t = 1_000_000)]
    payments: u64,
}

/// Pushes, settles and reads every payment; prints one JSON line.
pub(crate) fn run(options: Options) -> Result<(), String> {
    let runtime = crate::paused_runtime()?;
    let rss_at_start = stats::rss_kb();
    let n = options.payments;
    let started = Instant::now();
    let (finals, phases) = runtime.block_on(settle(n))?;
    let wall = started.elapsed();

    let peak = stats::peak_rss_kb();
    let mut run = Run {
        tool: "stk-mock".to_owned(),
        provider: stk_mock::NAME.to_owned(),
        concurrency: n,
        requests: n,
        ok: finals,
        errors: n - finals,
        seconds: wall.as_secs_f64(),
        rps: finals as f64 / wall.as_secs_f64().max(f64::EPSILON),
        peak_rss_kb: peak,
        ..Run::default()
    };
    let bytes = peak.saturating_sub(rss_at_start) as f64 * 1024.0 / n.max(1) as f64;
    run.extra.insert("bytes_per_payment".into(), bytes.into());
    for (name, took) in ["initiate_s", "advance_s", "status_s"]
        .into_iter()
        .zip(phases)
    {
        run.extra.insert(name.into(), took.as_secs_f64().into());
    }
    run.print();
    Ok(())
}

/// Returns how many payments were final, and the wall time of each phase.
async fn settle(n: u64) -> Result<(u64, [Duration; 3]), String> {
    let provider = MockProvider::builder().delay(DELAY).build();
    let phase = Instant::now();
    let mut ids: Vec<PaymentId> = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    for i in 0..n {
        let request = StkPushRequest::builder()
            .phone("0712345678")
            .amount(100)
            .reference(format!("ORDER-{i}"))
            .build()
            .map_err(|e| e.to_string())?;
        let accepted = provider
            .initiate(&request)
            .await
            .map_err(|e| e.to_string())?;
        ids.push(accepted.payment_id);
    }
    let initiate = phase.elapsed();

    // Auto-advance through the fake provider's own timers (its events) to past the result.
    let phase = Instant::now();
    tokio::time::sleep(DELAY + Duration::from_millis(1)).await;
    let advance = phase.elapsed();

    let phase = Instant::now();
    let mut finals = 0;
    for id in &ids {
        if provider
            .status(id)
            .await
            .map_err(|e| e.to_string())?
            .is_final()
        {
            finals += 1;
        }
    }
    Ok((finals, [initiate, advance, phase.elapsed()]))
}
