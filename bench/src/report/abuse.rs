//! The tracker under abuse, lag and many instances (issue 18): forged callbacks naming live
//! payments, status endpoints that lag their callbacks, a garbage flood, and two and three
//! instances on one PostgreSQL database. One process on a runtime with two threads: the Lipia
//! emulator (real HTTP), the trackers (receiver and `Tracker::run` each, as `stk listen` runs
//! them) and the load generator share the machine's cores.
//!
//! "Result→event" is measured from the moment the emulator's payment became final (it sends
//! its callback then) to the moment the handler got the `completed` event: it includes the
//! callback's delivery, storage, the status query and the event's delivery.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use stk_core::{CallbackUrl, StkPushRequest};
use stk_emulator::{Endpoint, LipiaCallbackShape, LipiaEmulator, LipiaEmulatorConfig};
use stk_lipia::{Lipia, LipiaConfig};
use stk_tracker::{Attempt, Event, HandlerError, SqlStore, Store, Tracker};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Sizes;
use crate::providers::CALLBACK_SECRET;
use crate::stats::percentile;

/// How often an idle instance looks for work another instance recorded.
const TICK: Duration = Duration::from_millis(500);
/// A number the emulator never answers for (the flood's live payments).
const NEVER: &str = "0700000007";
/// Connections of the load generator.
const CONCURRENCY: usize = 64;

/// When each attempt's `completed` event first reached a handler, and how many times it did.
#[derive(Default)]
struct Seen(Mutex<HashMap<String, (Instant, usize)>>);

impl Seen {
    fn record(&self, event: &Event) {
        if event.kind.name() == "completed" {
            let mut seen = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            seen.entry(event.attempt_id.clone())
                .or_insert_with(|| (Instant::now(), 0))
                .1 += 1;
        }
    }

    fn at(&self, attempt_id: &str) -> Option<Instant> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(attempt_id)
            .map(|(at, _)| *at)
    }

    /// Deliveries beyond the first, over all attempts.
    fn repeats(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .map(|(_, n)| n.saturating_sub(1))
            .sum()
    }
}

/// One app instance: a tracker with its own receiver and work loop.
struct Instance {
    tracker: Tracker,
    /// The receiver, `http://127.0.0.1:PORT`.
    base: String,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Instance {
    async fn start(
        store: Arc<dyn Store>,
        emulator: &LipiaEmulator,
        seen: &Arc<Seen>,
    ) -> Result<Self, String> {
        let listener = crate::receiver::listen().await?;
        let base = format!(
            "http://{}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        let callback = CallbackUrl::parse(&format!("{base}/lipia")).map_err(|e| e.to_string())?;
        let config = LipiaConfig::builder()
            .api_key(emulator.api_key())
            .base_url(emulator.base_url())
            .callback_url(callback)
            .callback_token(CALLBACK_SECRET)
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        let provider = Lipia::new(config).map_err(|e| e.to_string())?;
        let tracker = Tracker::builder(store).provider(Arc::new(provider)).build();
        let (stop_serving, serving) = oneshot::channel::<()>();
        let (stop_running, running) = oneshot::channel::<()>();
        let app = stk_tracker::receiver::router(tracker.clone());
        let serve = tokio::spawn(stk_tracker::receiver::serve(listener, app, async {
            let _ = serving.await;
        }));
        let (worker, seen) = (tracker.clone(), Arc::clone(seen));
        let run = tokio::spawn(async move {
            let handler = move |event: Event| {
                let seen = Arc::clone(&seen);
                async move {
                    seen.record(&event);
                    Ok::<(), HandlerError>(())
                }
            };
            worker
                .run(&handler, TICK, async {
                    let _ = running.await;
                })
                .await;
        });
        Ok(Self {
            tracker,
            base,
            stops: vec![stop_serving, stop_running],
            tasks: vec![serve, run],
        })
    }

    async fn stop(self) {
        for stop in self.stops {
            let _ = stop.send(());
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

async fn emulator(delay: Duration, lag: Duration) -> Result<LipiaEmulator, String> {
    LipiaEmulator::start(
        LipiaEmulatorConfig::default()
            .delay(delay)
            .status_lag(lag)
            .callback_shape(LipiaCallbackShape::Flat),
    )
    .await
    .map_err(|e| e.to_string())
}

async fn sqlite(dir: &std::path::Path, name: &str) -> Result<Arc<dyn Store>, String> {
    let store = SqlStore::open_sqlite(&dir.join(name))
        .await
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(store))
}

async fn postgres(url: &str) -> Result<Arc<dyn Store>, String> {
    let store = SqlStore::connect(url).await.map_err(|e| e.to_string())?;
    Ok(Arc::new(store))
}

fn request(phone: &str, reference: &str) -> Result<StkPushRequest, String> {
    StkPushRequest::builder()
        .phone(phone)
        .amount(100)
        .reference(reference)
        .build()
        .map_err(|e| e.to_string())
}

/// A payment whose result comes `delay` after `pushed`.
struct Genuine {
    attempt: Attempt,
    result_at: Instant,
}

async fn push_genuine(
    tracker: &Tracker,
    reference: &str,
    delay: Duration,
) -> Result<Genuine, String> {
    let pushed = Instant::now();
    let attempt = tracker
        .push(&request("0712000001", reference)?)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Genuine {
        attempt,
        result_at: pushed + delay,
    })
}

/// Result→event latencies of `payments`, sorted, and how many have no event yet.
fn latencies(payments: &[Genuine], seen: &Seen) -> (Vec<Duration>, usize) {
    let mut got = Vec::new();
    let mut missing = 0;
    for p in payments {
        match seen.at(&p.attempt.id) {
            Some(at) => got.push(at.saturating_duration_since(p.result_at)),
            None => missing += 1,
        }
    }
    got.sort_unstable();
    (got, missing)
}

/// Waits (bounded) until every payment has its event.
async fn until_seen(payments: &[Genuine], seen: &Seen, limit: Duration) {
    let started = Instant::now();
    while started.elapsed() < limit && payments.iter().any(|p| seen.at(&p.attempt.id).is_none()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (bounded) until no stored callback waits for processing.
async fn until_drained(store: &Arc<dyn Store>, limit: Duration) {
    let started = Instant::now();
    while started.elapsed() < limit {
        match store.unprocessed("lipia", i64::MAX).await {
            Ok(0) => return,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// POSTs `bodies` to `urls` (round robin) at [`CONCURRENCY`], at most `per_second` a second
/// if given; (acknowledged, other answers).
async fn post_all(
    urls: &[String],
    bodies: Vec<Vec<u8>>,
    per_second: Option<u64>,
) -> (usize, usize) {
    let started = tokio::time::Instant::now();
    let http = reqwest::Client::new();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let (ok, other) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (http, bodies, next) = (http.clone(), Arc::clone(&bodies), Arc::clone(&next));
            let (ok, other, urls) = (Arc::clone(&ok), Arc::clone(&other), urls.to_vec());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    if let Some(rate) = per_second.filter(|r| *r > 0) {
                        let due = Duration::from_secs_f64(i as f64 / rate as f64);
                        tokio::time::sleep_until(started + due).await;
                    }
                    let sent = http
                        .post(&urls[i % urls.len()])
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    let counter = match sent {
                        Ok(r) if r.status().is_success() => &ok,
                        _ => &other,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    (ok.load(Ordering::Relaxed), other.load(Ordering::Relaxed))
}

/// A forged Lipia (flat) success naming `attempt`'s payment, with its own receipt.
fn forged(emulator: &LipiaEmulator, attempt: &Attempt, n: usize) -> Vec<u8> {
    let id = attempt.payment_id.clone().unwrap_or_default();
    json!({
        "TransactionReference": id,
        "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "Amount": 100,
        "MpesaReceiptNumber": format!("FRG{n:07}"),
        "PhoneNumber": "254700000007",
        "ExternalReference": attempt.reference,
        "CheckoutRequestID": emulator.checkout_request_id(&id).unwrap_or_default(),
    })
    .to_string()
    .into_bytes()
}

fn status_queries_for(emulator: &LipiaEmulator, ids: &[String]) -> HashMap<String, usize> {
    let mut counts: HashMap<String, usize> = ids.iter().map(|id| (id.clone(), 0)).collect();
    for request in emulator.ledger().requests_to(Endpoint::Status) {
        if let Some(count) = request
            .path
            .rsplit_once("reference=")
            .and_then(|(_, id)| counts.get_mut(id))
        {
            *count += 1;
        }
    }
    counts
}

/// p50 / p99 / max in ms.
fn spread(sorted: &[Duration]) -> String {
    if sorted.is_empty() {
        return "n/a".into();
    }
    format!(
        "{:.0} / {:.0} / {:.0}",
        percentile(sorted, 0.5),
        percentile(sorted, 0.99),
        percentile(sorted, 1.0)
    )
}

/// Forged successes naming live payments, while genuine payments complete.
async fn forged_flood(
    out: &mut String,
    sizes: &Sizes,
    dir: &std::path::Path,
) -> Result<(), String> {
    let delay = Duration::from_secs(1);
    let emulator = emulator(delay, Duration::ZERO).await?;
    let seen = Arc::new(Seen::default());
    let store = sqlite(dir, "flood.db").await?;
    let shop = Instance::start(Arc::clone(&store), &emulator, &seen).await?;
    let mut live = Vec::new();
    for n in 0..sizes.flood_live {
        let attempt = shop
            .tracker
            .push(&request(NEVER, &format!("LIVE-{n}"))?)
            .await
            .map_err(|e| e.to_string())?;
        live.push(attempt);
    }
    let live_ids: Vec<String> = live.iter().filter_map(|a| a.payment_id.clone()).collect();
    let bodies: Vec<Vec<u8>> = (0..sizes.flood)
        .map(|n| forged(&emulator, &live[n % live.len()], n))
        .collect();
    let url = format!("{}/lipia?token={CALLBACK_SECRET}", shop.base);
    let before = status_queries_for(&emulator, &live_ids);

    // Genuine payments pushed every 100 ms while the flood lasts.
    let flooding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let pusher = {
        let (tracker, flooding) = (shop.tracker.clone(), Arc::clone(&flooding));
        tokio::spawn(async move {
            let mut genuine = Vec::new();
            let mut n = 0;
            while flooding.load(Ordering::Relaxed) || n < 5 {
                if let Ok(p) = push_genuine(&tracker, &format!("GENUINE-{n}"), delay).await {
                    genuine.push(p);
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            genuine
        })
    };
    let started = Instant::now();
    let (acknowledged, refused) = post_all(&[url], bodies, Some(sizes.flood_rate)).await;
    let flood_s = started.elapsed().as_secs_f64();
    flooding.store(false, Ordering::Relaxed);
    let genuine = pusher.await.map_err(|e| e.to_string())?;
    until_drained(&store, Duration::from_secs(120)).await;
    let drained_s = started.elapsed().as_secs_f64();
    until_seen(&genuine, &seen, Duration::from_secs(60)).await;
    let (latency, missing) = latencies(&genuine, &seen);
    let after = status_queries_for(&emulator, &live_ids);
    let queries: Vec<usize> = live_ids
        .iter()
        .map(|id| after[id] - before.get(id).copied().unwrap_or(0))
        .collect();
    let total: usize = queries.iter().sum();
    let max = queries.iter().copied().max().unwrap_or(0);
    let paid_live = live.iter().filter(|a| seen.at(&a.id).is_some()).count();
    let counts = shop.tracker.status_query_counts();
    shop.stop().await;
    let _ = writeln!(
        out,
        "### Forged successes naming live payments\n\n\
         {} distinct forged successes (a leaked callback token: they pass verification) naming {} live payments that never complete, posted at {CONCURRENCY} connections, {}, \
         while a genuine payment is pushed every 100 ms (each completes 1 s later). SQLite. Status queries are counted at the emulator, per live payment, from the flood's start until every stored callback was processed. \
         Targets: status queries ≤ 1 per payment per second of flood; genuine result→event p99 ≤ 2 s.\n\n\
         | forged | acknowledged | refused | flood (s) | processed by (s) | status queries (all live payments) | per payment per second | max per payment | live paid | genuine | result→event p50 / p99 / max (ms) | genuine without event |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n\
         | {} | {acknowledged} | {refused} | {flood_s:.1} | {drained_s:.1} | {total} | {:.2} | {max} | {paid_live} | {} | {} | {missing} |\n",
        sizes.flood,
        live.len(),
        if sizes.flood_rate == 0 {
            "as fast as they are answered".to_owned()
        } else {
            format!("{} a second", sizes.flood_rate)
        },
        sizes.flood,
        total as f64 / live.len().max(1) as f64 / drained_s.max(1e-9),
        genuine.len(),
        spread(&latency),
    );
    let _ = writeln!(
        out,
        "The tracker's own counts (`Tracker::status_query_counts`, all payments): {} queries for final claims, {} for pending claims, {} scheduled; {} claims answered with an answer already given, {} processed together with an identical claim.\n",
        counts.final_claims,
        counts.pending_claims,
        counts.scheduled,
        counts.shared,
        counts.coalesced
    );
    Ok(())
}

/// Status answers lagging the callbacks by L.
async fn status_lag(out: &mut String, sizes: &Sizes, dir: &std::path::Path) -> Result<(), String> {
    let delay = Duration::from_millis(500);
    let _ = writeln!(
        out,
        "### Status lagging the callbacks\n\n\
         The emulator's status answers describe payments as they were L ago, so every genuine callback arrives before the status can confirm it; {} payments per L, pushed 50 ms apart, all L at once (one emulator and one SQLite tracker each). Target: result→event ≤ L + 3 s (p99).\n\n\
         | L (s) | payments | result→event p50 / p99 / max (ms) | p99 − L (ms) | without event |\n|---|---|---|---|---|",
        sizes.lag_payments
    );
    // On this thread (the trackers' own tasks run on the runtime's threads), all L at once.
    let local = tokio::task::LocalSet::new();
    let runs: Vec<_> = sizes
        .lags
        .iter()
        .map(|&lag| {
            let dir = dir.to_path_buf();
            let payments = sizes.lag_payments;
            local.spawn_local(async move {
                let emulator = emulator(delay, Duration::from_secs(lag)).await?;
                let seen = Arc::new(Seen::default());
                let store = sqlite(&dir, &format!("lag-{lag}.db")).await?;
                let shop = Instance::start(store, &emulator, &seen).await?;
                let mut genuine = Vec::new();
                for n in 0..payments {
                    genuine.push(push_genuine(&shop.tracker, &format!("LAG-{n}"), delay).await?);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                until_seen(&genuine, &seen, Duration::from_secs(lag + 30)).await;
                let result = latencies(&genuine, &seen);
                shop.stop().await;
                Ok::<_, String>((lag, genuine.len(), result))
            })
        })
        .collect();
    let results = local
        .run_until(async {
            let mut results = Vec::new();
            for run in runs {
                results.push(run.await.map_err(|e| e.to_string())??);
            }
            Ok::<_, String>(results)
        })
        .await?;
    for (lag, count, (latency, missing)) in results {
        let over = if latency.is_empty() {
            "n/a".into()
        } else {
            format!("{:.0}", percentile(&latency, 0.99) - lag as f64 * 1e3)
        };
        let _ = writeln!(
            out,
            "| {lag} | {count} | {} | {over} | {missing} |",
            spread(&latency)
        );
    }
    out.push('\n');
    Ok(())
}

/// The store's files on disk after SQLite folded its write-ahead log in.
async fn sqlite_bytes(path: &std::path::Path) -> Result<u64, String> {
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", path.display()))
        .await
        .map_err(|e| e.to_string())?;
    sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .map_err(|e| e.to_string())?;
    pool.close().await;
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| e.to_string())
}

/// Garbage and wrongly signed callbacks.
async fn garbage(out: &mut String, sizes: &Sizes, dir: &std::path::Path) -> Result<(), String> {
    sqlx::any::install_default_drivers();
    let emulator = emulator(Duration::from_secs(1), Duration::ZERO).await?;
    let seen = Arc::new(Seen::default());
    let store = sqlite(dir, "garbage.db").await?;
    let shop = Instance::start(Arc::clone(&store), &emulator, &seen).await?;
    let attempt = shop
        .tracker
        .push(&request(NEVER, "GARBAGE-1")?)
        .await
        .map_err(|e| e.to_string())?;
    let before = sqlite_bytes(&dir.join("garbage.db")).await?;
    // Alternately: non-JSON to the right URL, a well-formed forgery with a guessed token.
    let junk = vec![b'x'; 60 * 1024];
    let bodies: Vec<Vec<u8>> = (0..sizes.garbage)
        .map(|n| {
            if n % 2 == 0 {
                junk.clone()
            } else {
                forged(&emulator, &attempt, n)
            }
        })
        .collect();
    let urls = [
        format!("{}/lipia?token={CALLBACK_SECRET}", shop.base),
        format!("{}/lipia?token=guessed", shop.base),
    ];
    let started = Instant::now();
    let (acknowledged, refused) = post_all(&urls, bodies, None).await;
    let seconds = started.elapsed().as_secs_f64();
    shop.stop().await;
    let growth = sqlite_bytes(&dir.join("garbage.db"))
        .await?
        .saturating_sub(before);
    let requests = acknowledged + refused;
    let _ = writeln!(
        out,
        "### Garbage\n\n\
         {} requests: half 60 KB bodies that are not JSON (with the right token), half well-formed successes with a guessed token; at {CONCURRENCY} connections. SQLite; store size after a WAL checkpoint. Target: store growth ≤ 1 KB per refused request.\n\n\
         | requests | refused (4xx) | acknowledged | requests/s | store growth (bytes) | per request (bytes) |\n|---|---|---|---|---|---|\n\
         | {requests} | {refused} | {acknowledged} | {:.0} | {growth} | {:.1} |\n",
        sizes.garbage,
        requests as f64 / seconds.max(1e-9),
        growth as f64 / requests.max(1) as f64,
    );
    Ok(())
}

/// One, two and three instances on one PostgreSQL database.
async fn instances(out: &mut String, sizes: &Sizes, url: Option<&str>) -> Result<(), String> {
    let Some(url) = url else {
        let _ = writeln!(
            out,
            "### Instances on PostgreSQL\n\nSkipped: no `STK_BENCH_POSTGRES_URL`.\n"
        );
        return Ok(());
    };
    let _ = writeln!(
        out,
        "### Instances on PostgreSQL\n\n\
         k instances (each its own pool, receiver and `Tracker::run`, waking every {} ms when idle) on one fresh PostgreSQL database; {} payments pushed 20 ms apart through the instances in turn, each completing 500 ms later, its callback reaching the instance that pushed it (any instance may process it and deliver the event). \
         Then {} documented callbacks of unknown payments posted to the instances in turn: ingest callbacks/s. Targets: result→event p99 ≤ 2 s; callbacks/s next to one instance.\n\n\
         | instances | payments | result→event p50 / p99 / max (ms) | without event | events delivered twice | callbacks/s |\n|---|---|---|---|---|---|",
        TICK.as_millis(),
        sizes.instance_payments,
        sizes.callbacks,
    );
    let delay = Duration::from_millis(500);
    for k in 1..=3 {
        let database = stk_tracker::conformance::fresh_postgres_database(url).await;
        let emulator = emulator(delay, Duration::ZERO).await?;
        let seen = Arc::new(Seen::default());
        let mut shops = Vec::new();
        for _ in 0..k {
            shops.push(Instance::start(postgres(&database).await?, &emulator, &seen).await?);
        }
        let mut genuine = Vec::new();
        for n in 0..sizes.instance_payments {
            let shop = &shops[n % k];
            genuine.push(push_genuine(&shop.tracker, &format!("MANY-{n}"), delay).await?);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        until_seen(&genuine, &seen, Duration::from_secs(60)).await;
        let (latency, missing) = latencies(&genuine, &seen);
        let urls: Vec<String> = shops
            .iter()
            .map(|s| format!("{}/lipia?token={CALLBACK_SECRET}", s.base))
            .collect();
        let bodies: Vec<Vec<u8>> = (0..sizes.callbacks)
            .map(|i| {
                crate::providers::callback("lipia", i)
                    .map(|(_, body)| body)
                    .unwrap_or_default()
            })
            .collect();
        let started = Instant::now();
        let (acknowledged, _) = post_all(&urls, bodies, None).await;
        let rate = acknowledged as f64 / started.elapsed().as_secs_f64().max(1e-9);
        for shop in shops {
            shop.stop().await;
        }
        let _ = writeln!(
            out,
            "| {k} | {} | {} | {missing} | {} | {rate:.0} |",
            genuine.len(),
            spread(&latency),
            seen.repeats(),
        );
    }
    out.push('\n');
    Ok(())
}

/// The section: every scenario, in one runtime.
pub(crate) fn abuse(
    out: &mut String,
    sizes: &Sizes,
    postgres: Option<String>,
) -> Result<(), String> {
    let runtime = crate::runtime(2)?;
    let dir = std::env::temp_dir().join(format!("stk-bench-abuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let _ = writeln!(
        out,
        "## Tracker under abuse, lag and many instances\n\n\
         One process (two runtime threads) holds the Lipia emulator, the tracker instances (receiver and work loop each) and the load generator, all on 127.0.0.1. Result→event: from the emulator's result (it sends the callback then) to the handler receiving the `completed` event.\n"
    );
    let result = runtime.block_on(async {
        sqlx::any::install_default_drivers();
        forged_flood(out, sizes, &dir).await?;
        status_lag(out, sizes, &dir).await?;
        garbage(out, sizes, &dir).await?;
        instances(out, sizes, postgres.as_deref()).await
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}
