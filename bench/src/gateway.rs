//! A payments gateway under load: `stk serve` (in this process, the fake provider, SQLite or
//! PostgreSQL) or a peer at `--peer-url` (FastAPI). Creates payments over HTTP, then posts
//! each one's callback over HTTP and waits for its webhook: payments created/s, webhooks
//! delivered/s, callback→webhook latency. Prints one JSON line ([`Run`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use stk_mock::MockProvider;
use stk_serve::{Account, AccountConfig, WebhookTarget};
use stk_tracker::{SqlStore, Tracker, TrackerConfig};

use crate::load::in_parallel;
use crate::stats::{Run, percentile};

/// The API key and webhook secret of the benchmark's services.
pub(crate) const API_KEY: &str = "bench-key-0123456789";
pub(crate) const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// `stk-bench gateway`.
#[derive(clap::Args)]
pub(crate) struct Options {
    /// `sqlite` or `postgres`: run `stk serve` here on that store.
    #[arg(long)]
    store: Option<String>,
    /// The store: a SQLite file path, or a PostgreSQL URL.
    #[arg(long)]
    database: Option<String>,
    /// Drive the gateway at this URL instead (its webhooks must go to `--webhook-port`).
    #[arg(long)]
    peer_url: Option<String>,
    /// Where this process receives webhooks (0: any free port).
    #[arg(long, default_value_t = 0)]
    webhook_port: u16,
    /// Payments to create.
    #[arg(long, default_value_t = 2000)]
    payments: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// The tracker's status query budget (per provider; each callback is confirmed by one).
    #[arg(long, default_value_t = stk_tracker::TrackerConfig::default().status_queries_per_second)]
    status_queries_per_second: u32,
}

/// When each order's webhook arrived.
#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<HashMap<String, Instant>>>);

async fn webhook(State(arrivals): State<Arrivals>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    if event["type"] == "payment.completed"
        && let Some(reference) = event["data"]["reference"].as_str()
    {
        let mut seen = arrivals.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.entry(reference.to_owned()).or_insert(at);
    }
    StatusCode::NO_CONTENT
}

/// The gateway being measured: where to send, and how its callbacks look.
enum Target {
    Ours { base: String, mock: MockProvider },
    Peer { base: String },
}

pub(crate) fn run(options: Options) -> Result<(), String> {
    crate::runtime(2)?.block_on(measure(options))
}

async fn measure(options: Options) -> Result<(), String> {
    let arrivals = Arrivals::default();
    let hooks = tokio::net::TcpListener::bind(("127.0.0.1", options.webhook_port))
        .await
        .map_err(|e| e.to_string())?;
    let hook_url = format!(
        "http://{}/hooks",
        hooks.local_addr().map_err(|e| e.to_string())?
    );
    let app = axum::Router::new()
        .route("/hooks", axum::routing::post(webhook))
        .with_state(arrivals.clone());
    tokio::spawn(async move { axum::serve(hooks, app).await });

    let (target, tool) = match (&options.peer_url, options.store.as_deref()) {
        (Some(url), _) => (Target::Peer { base: url.clone() }, "peer"),
        (None, Some(store)) => (start_ours(&options, store, &hook_url).await?, "stk serve"),
        (None, None) => return Err("--store or --peer-url".to_owned()),
    };
    let http = reqwest::Client::new();
    let base = match &target {
        Target::Ours { base, .. } | Target::Peer { base } => base.clone(),
    };

    // Phase 1: create the payments.
    // References unique to this run: a database kept from an earlier run has its orders.
    let run_id = fastrand::u32(..);
    let references: Vec<String> = (0..options.payments)
        .map(|i| format!("B{run_id:x}-{i}"))
        .collect();
    let created = Arc::new(Mutex::new(HashMap::<String, String>::new()));
    let started = Instant::now();
    let (h, b, c) = (http.clone(), base.clone(), Arc::clone(&created));
    let (latencies, errors) = in_parallel(options.concurrency, &references, move |reference| {
        let (http, base, created) = (h.clone(), b.clone(), Arc::clone(&c));
        async move {
            let answer = http
                .post(format!("{base}/v1/payments"))
                .bearer_auth(API_KEY)
                .json(&json!({"phone": "0712345678", "amount": 100, "reference": reference}))
                .send()
                .await
                .ok()?;
            if answer.status().as_u16() != 201 {
                return None;
            }
            let body: Value = answer.json().await.ok()?;
            let id = body["payment_id"].as_str().unwrap_or_default().to_owned();
            created
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(reference, id);
            Some(())
        }
    })
    .await;
    let mut run = Run::from_latencies(tool, latencies, errors, started.elapsed());
    run.concurrency = options.concurrency as u64;

    // Phase 2: each payment's callback, then its webhook.
    let created = created.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let sent_at = Arc::new(Mutex::new(HashMap::<String, Instant>::new()));
    let callbacks: Vec<(String, String)> = created.into_iter().collect();
    let target = Arc::new(target);
    let first_callback = Instant::now();
    let (h, t, s) = (http.clone(), Arc::clone(&target), Arc::clone(&sent_at));
    let (_, callback_errors) = in_parallel(options.concurrency, &callbacks, move |(reference, id)| {
        let (http, target, sent_at) = (h.clone(), Arc::clone(&t), Arc::clone(&s));
        async move {
            let request = match &*target {
                Target::Ours { base, mock } => {
                    let callback = mock.callback_for(&stk_core::PaymentId::new(id))?;
                    let mut request = http
                        .post(format!("{base}/v1/callbacks/mock"))
                        .body(callback.body);
                    for (name, value) in callback.headers {
                        request = request.header(name, value);
                    }
                    request
                }
                Target::Peer { base } => http.post(format!("{base}/v1/callbacks")).json(
                    &json!({"reference": reference, "receipt": "SKQ96C7K7H", "result": "completed"}),
                ),
            };
            sent_at
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(reference, Instant::now());
            let answer = request.send().await.ok()?;
            answer.status().is_success().then_some(())
        }
    })
    .await;
    let sent = sent_at.lock().unwrap_or_else(|e| e.into_inner()).len();
    let deadline = Instant::now() + Duration::from_secs(120);
    while arrivals.0.lock().unwrap_or_else(|e| e.into_inner()).len() < sent
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrived = arrivals.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let sent_at = sent_at.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut waits: Vec<Duration> = sent_at
        .iter()
        .filter_map(|(r, t0)| arrived.get(r).map(|t1| t1.saturating_duration_since(*t0)))
        .collect();
    waits.sort_unstable();
    let last = arrived.values().max().copied().unwrap_or(first_callback);
    let span = last.saturating_duration_since(first_callback).as_secs_f64();
    let extra = &mut run.extra;
    extra.insert("callbacks_failed".into(), json!(callback_errors));
    extra.insert("webhooks".into(), json!(arrived.len()));
    extra.insert(
        "webhooks_per_s".into(),
        json!(if span > 0.0 {
            arrived.len() as f64 / span
        } else {
            0.0
        }),
    );
    extra.insert(
        "callback_to_webhook_p50_ms".into(),
        json!(percentile(&waits, 0.5)),
    );
    extra.insert(
        "callback_to_webhook_p99_ms".into(),
        json!(percentile(&waits, 0.99)),
    );
    run.peak_rss_kb = crate::stats::peak_rss_kb();
    run.print();
    Ok(())
}

/// `stk serve` in this process on the fake provider (results final at once; their callbacks
/// are posted over HTTP by the load, not forwarded in process).
async fn start_ours(options: &Options, store: &str, hook_url: &str) -> Result<Target, String> {
    let url = match (store, &options.database) {
        ("sqlite", Some(path)) => format!("sqlite://{path}?mode=rwc"),
        ("postgres", Some(url)) => url.clone(),
        _ => return Err(format!("--store {store} needs --database")),
    };
    let store = SqlStore::connect(&url).await.map_err(|e| e.to_string())?;
    // Final a moment after the push is accepted (at once, the push answer itself would say
    // so and the callbacks would come after the webhooks).
    let mock = MockProvider::builder()
        .delay(Duration::from_millis(1))
        .build();
    let mut config = TrackerConfig::default();
    config.status_queries_per_second = options.status_queries_per_second;
    let tracker = Tracker::builder(Arc::new(store))
        .provider(Arc::new(mock.clone()))
        .config(config)
        .build();
    let mut config = AccountConfig::new(API_KEY).map_err(|e| e.to_string())?;
    config.payments_per_second = 10_000;
    config.webhook = Some(WebhookTarget::new(hook_url, WEBHOOK_SECRET).map_err(|e| e.to_string())?);
    let account = Account::new("bench", tracker, config).map_err(|e| e.to_string())?;
    let listener = crate::receiver::listen().await?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    tokio::spawn(stk_serve::serve(
        listener,
        vec![account],
        std::future::pending(),
    ));
    Ok(Target::Ours { base, mock })
}
