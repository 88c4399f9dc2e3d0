//! Status calls per payment: `wait_for_final` and the tracker's sweeper, on tokio's paused
//! clock, for payments finishing at random times within 60 s on the fake provider. Fewer
//! calls is better (providers rate-limit and ban); the lag is how late each final status
//! was seen after the payment really became final.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use stk_core::{
    AmountLimits, CallbackClaim, CallbackRequest, Error, PaymentId, PaymentStatus, PhoneNumber,
    PollPolicy, PushAccepted, StkProvider, StkPushRequest, async_trait, wait_for_final,
};
use stk_mock::{MockProvider, Scenario};
use stk_tracker::{AttemptState, SqlStore, Tracker};
use tokio::time::Instant;

use crate::stats::{self, Run};

/// How often the sweeper runs: `stk listen`'s tick.
const SWEEP_TICK: Duration = Duration::from_millis(500);
/// Give up sweeping after this much virtual time (the tracker's deadline is 10 min).
const SWEEP_HORIZON: Duration = Duration::from_secs(900);

/// `stk-bench polling`.
#[derive(clap::Args)]
pub(crate) struct Options {
    /// Payments, each finishing at a random time within 60 s.
    #[arg(long, default_value_t = 1000)]
    payments: usize,
    /// Seed for the finishing times.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Runs both measurements; prints one JSON line.
pub(crate) fn run(options: Options) -> Result<(), String> {
    let runtime = crate::paused_runtime()?;
    let started = std::time::Instant::now();
    let n = options.payments;
    let delays: Vec<Duration> = {
        let mut rng = fastrand::Rng::with_seed(options.seed);
        (0..n)
            .map(|_| Duration::from_millis(rng.u64(0..60_000)))
            .collect()
    };
    let polled = runtime.block_on(wait_for_final_all(&delays))?;
    let swept = runtime.block_on(sweep_all(&delays))?;
    let wall = started.elapsed();

    let ok = polled.finals.min(swept.finals) as u64;
    let mut run = Run {
        tool: "polling".to_owned(),
        provider: stk_mock::NAME.to_owned(),
        concurrency: n as u64,
        requests: n as u64,
        ok,
        errors: n as u64 - ok,
        seconds: wall.as_secs_f64(),
        rps: ok as f64 / wall.as_secs_f64().max(f64::EPSILON),
        peak_rss_kb: stats::peak_rss_kb(),
        ..Run::default()
    };
    polled.report("wait_for_final", &mut run.extra);
    swept.report("sweeper", &mut run.extra);
    run.extra
        .insert("sweep_tick_s".into(), SWEEP_TICK.as_secs_f64().into());
    run.print();
    Ok(())
}

/// The scripted payments: distinct phones, each completing after its delay.
fn scripted(delays: &[Duration]) -> Result<(MockProvider, Vec<StkPushRequest>), String> {
    let mut builder = MockProvider::builder();
    let mut requests = Vec::with_capacity(delays.len());
    for (i, delay) in delays.iter().enumerate() {
        let phone =
            PhoneNumber::parse(&format!("07{:08}", 12_000_000 + i)).map_err(|e| e.to_string())?;
        builder = builder.script(phone, Scenario::Complete, *delay);
        let request = StkPushRequest::builder()
            .phone(phone)
            .amount(100)
            .reference(format!("ORDER-{i}"))
            .build()
            .map_err(|e| e.to_string())?;
        requests.push(request);
    }
    Ok((builder.build(), requests))
}

/// (a) `wait_for_final` with the default policy, every payment at once.
async fn wait_for_final_all(delays: &[Duration]) -> Result<Outcome, String> {
    let (mock, requests) = scripted(delays)?;
    let provider = Arc::new(Counting::new(mock));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (request, delay) in requests.iter().zip(delays) {
        let accepted = provider
            .initiate(request)
            .await
            .map_err(|e| e.to_string())?;
        provider.expect(&accepted.payment_id, start + *delay);
        let provider = Arc::clone(&provider);
        tasks.spawn(async move {
            wait_for_final(&*provider, &accepted.payment_id, &PollPolicy::default()).await
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done.map_err(|e| e.to_string())? {
            eprintln!("wait_for_final: {e}");
        }
    }
    Ok(provider.outcome())
}

/// (b) The tracker's sweeper over a SQLite file: every push recorded through the tracker, no
/// callback delivered, the clock moved one tick at a time and due attempts swept.
async fn sweep_all(delays: &[Duration]) -> Result<Outcome, String> {
    // SQLite runs on sqlx's worker threads; while the runtime waits for them, a paused clock
    // would jump to the next timer. A blocking task inhibits that, so time moves only by
    // `tokio::time::advance` below.
    let (hold, held) = std::sync::mpsc::channel::<()>();
    let inhibitor = tokio::task::spawn_blocking(move || held.recv().is_ok());
    let result = sweep_inhibited(delays).await;
    drop(hold);
    inhibitor.await.map_err(|e| e.to_string())?;
    result
}

async fn sweep_inhibited(delays: &[Duration]) -> Result<Outcome, String> {
    let dir = std::env::temp_dir().join(format!(
        "stk-bench-polling-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let result = sweep_in(&dir, delays).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn sweep_in(dir: &std::path::Path, delays: &[Duration]) -> Result<Outcome, String> {
    let store = SqlStore::open_sqlite(&dir.join("payments.db"))
        .await
        .map_err(|e| e.to_string())?;
    let (mock, requests) = scripted(delays)?;
    let provider = Arc::new(Counting::new(mock));
    // The system clock follows tokio's paused clock, as the provider does.
    let tracker = Tracker::builder(Arc::new(store))
        .provider(Arc::clone(&provider) as Arc<dyn StkProvider>)
        .build();
    let start = Instant::now();
    let mut attempts = Vec::with_capacity(delays.len());
    for (request, delay) in requests.iter().zip(delays) {
        let attempt = tracker.push(request).await.map_err(|e| e.to_string())?;
        let id = attempt
            .payment_id
            .ok_or_else(|| format!("attempt {} has no payment id", attempt.id))?;
        provider.expect(&PaymentId::new(id), start + *delay);
        attempts.push(attempt.id);
    }
    while start.elapsed() < SWEEP_HORIZON && provider.outcome().finals < delays.len() {
        // Drain everything due now (a sweep claims one batch).
        while tracker.sweep().await.map_err(|e| e.to_string())?.attempts > 0 {}
        tokio::time::advance(SWEEP_TICK).await;
    }
    // Final as the tracker recorded it, not only as the provider answered.
    let mut outcome = provider.outcome();
    outcome.finals = 0;
    for id in &attempts {
        let attempt = tracker.attempt(id).await.map_err(|e| e.to_string())?;
        outcome.finals += usize::from(attempt.state == AttemptState::Completed);
    }
    Ok(outcome)
}

/// The fake provider, counting status calls and when each payment was first seen final.
#[derive(Debug)]
struct Counting {
    inner: MockProvider,
    seen: Mutex<HashMap<PaymentId, Seen>>,
}

#[derive(Debug)]
struct Seen {
    final_at: Instant,
    calls: u64,
    seen_final: Option<Instant>,
}

impl Counting {
    fn new(inner: MockProvider) -> Self {
        Self {
            inner,
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<PaymentId, Seen>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records when payment `id` really becomes final.
    fn expect(&self, id: &PaymentId, final_at: Instant) {
        self.seen().insert(
            id.clone(),
            Seen {
                final_at,
                calls: 0,
                seen_final: None,
            },
        );
    }

    fn outcome(&self) -> Outcome {
        let seen = self.seen();
        let mut lags: Vec<Duration> = seen
            .values()
            .filter_map(|s| s.seen_final.map(|at| at - s.final_at))
            .collect();
        lags.sort_unstable();
        let calls: Vec<u64> = seen.values().map(|s| s.calls).collect();
        Outcome {
            payments: seen.len(),
            finals: lags.len(),
            calls_total: calls.iter().sum(),
            calls_max: calls.iter().copied().max().unwrap_or(0),
            lags,
        }
    }
}

#[async_trait]
impl StkProvider for Counting {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn limits(&self) -> AmountLimits {
        self.inner.limits()
    }

    async fn initiate(&self, request: &StkPushRequest) -> Result<PushAccepted, Error> {
        self.inner.initiate(request).await
    }

    async fn status(&self, id: &PaymentId) -> Result<PaymentStatus, Error> {
        let status = self.inner.status(id).await;
        if let Some(seen) = self.seen().get_mut(id) {
            seen.calls += 1;
            if seen.seen_final.is_none() && status.as_ref().is_ok_and(PaymentStatus::is_final) {
                seen.seen_final = Some(Instant::now());
            }
        }
        status
    }

    fn parse_callback(&self, callback: &CallbackRequest) -> Result<CallbackClaim, Error> {
        self.inner.parse_callback(callback)
    }
}

/// What one method cost.
struct Outcome {
    payments: usize,
    /// Payments seen final (the sweeper: recorded `completed` by the tracker).
    finals: usize,
    calls_total: u64,
    calls_max: u64,
    /// Sorted.
    lags: Vec<Duration>,
}

impl Outcome {
    fn report(&self, name: &str, extra: &mut serde_json::Map<String, serde_json::Value>) {
        let per_payment = self.calls_total as f64 / self.payments.max(1) as f64;
        let mean_lag = self.lags.iter().map(Duration::as_secs_f64).sum::<f64>()
            / self.lags.len().max(1) as f64;
        let seconds = |q| stats::percentile(&self.lags, q) / 1000.0;
        let mut put = |key: &str, value: serde_json::Value| {
            extra.insert(format!("{name}_{key}"), value);
        };
        put("calls_per_payment", per_payment.into());
        put("max_calls", self.calls_max.into());
        put("final", self.finals.into());
        put("lag_mean_s", mean_lag.into());
        put("lag_p50_s", seconds(0.50).into());
        put("lag_p99_s", seconds(0.99).into());
        put("lag_max_s", seconds(1.0).into());
    }
}
