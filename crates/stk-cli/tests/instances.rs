//! Many instances on one PostgreSQL database: three `stk listen` processes share the tracker's
//! store; a flood of 10,000 callbacks (20% duplicates, 10% forged, shuffled) is spread across
//! them at random at 64 concurrent connections; one instance is killed (SIGKILL) mid-run and
//! its claimed work is finished by the others. Every genuine payment gets exactly one final
//! event id, the forged none. Runs where `STK_TEST_POSTGRES_URL` names a server (CI starts
//! one and never skips).
//!
//! `STK_FLOOD_CONFIGS` (default `pg3`) picks the runs: `sqlite1`, `pg1`, `pg3` (comma
//! separated), to compare callbacks/s from one run.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use stk::lipia::{Lipia, LipiaConfig};
use stk::{PaymentStatus, StkPushRequest};
use stk_emulator::{Endpoint, LipiaEmulator, LipiaEmulatorConfig};
use stk_tracker::{SqlStore, Tracker};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const CALLBACKS: usize = 10_000;
const CONCURRENCY: usize = 64;

struct Instance {
    child: Child,
    url: String,
    lines: Arc<Mutex<Vec<String>>>,
    alive: bool,
}

async fn start_instance(env: &[(String, String)]) -> Instance {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stk"))
        .args(["--json", "listen", "--bind", "127.0.0.1:0"])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let banner = stderr.next_line().await.unwrap().unwrap();
    let url = banner.split("on ").nth(1).unwrap().to_owned();
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stdout.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    Instance {
        child,
        url,
        lines,
        alive: true,
    }
}

fn signal(child: &Child, sig: &str) {
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap();
}

/// One flood run; returns (callbacks/s received, status queries).
async fn flood(database: String, instances: usize, kill_one: bool) -> (f64, usize) {
    let emulator =
        LipiaEmulator::start(LipiaEmulatorConfig::default().delay(Duration::from_millis(20)))
            .await
            .unwrap();
    let provider = Lipia::new(
        LipiaConfig::builder()
            .api_key(emulator.api_key())
            .base_url(emulator.base_url())
            .build()
            .unwrap(),
    )
    .unwrap();
    let store = SqlStore::connect(&database).await.unwrap();
    let tracker = Tracker::builder(Arc::new(store))
        .provider(Arc::new(provider))
        .build();

    // 70% of the callbacks are the first delivery of a genuine payment: that many pushes,
    // one in ten cancelled.
    let payments = CALLBACKS * 7 / 10;
    let mut pushes = tokio::task::JoinSet::new();
    let references: Vec<String> = (0..payments).map(|n| format!("FLOOD-{n}")).collect();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(32));
    for (n, reference) in references.iter().enumerate() {
        let tracker = tracker.clone();
        let permit = Arc::clone(&semaphore).acquire_owned().await.unwrap();
        let phone = if n % 10 == 0 {
            "0700000001"
        } else {
            "0712345678"
        };
        let request = StkPushRequest::builder()
            .phone(phone)
            .amount(100)
            .reference(reference.as_str())
            .build()
            .unwrap();
        pushes.spawn(async move {
            let attempt = tracker.push(&request).await.unwrap();
            drop(permit);
            attempt
        });
    }
    let mut attempts = HashMap::new();
    while let Some(attempt) = pushes.join_next().await {
        let attempt = attempt.unwrap();
        attempts.insert(attempt.reference.clone(), attempt);
    }
    // Every payment settles at the provider; its genuine callback is then known.
    let mut genuine = Vec::new();
    for reference in &references {
        let id = attempts[reference].payment_id.clone().unwrap();
        tokio::time::timeout(Duration::from_secs(30), async {
            while !emulator.payment_status(&id).is_some_and(|s| s.is_final()) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
        genuine.push((reference.clone(), emulator.callback_for(&id).unwrap().body));
    }
    let cancelled: HashSet<&str> = references.iter().step_by(10).map(String::as_str).collect();

    // The flood: genuine, 20% re-deliveries, 10% forged (unknown orders, and successes
    // claimed for cancelled payments), shuffled.
    let mut bodies: Vec<Vec<u8>> = genuine.iter().map(|(_, b)| b.clone()).collect();
    for n in 0..CALLBACKS * 2 / 10 {
        bodies.push(genuine[n % genuine.len()].1.clone());
    }
    let cancelled_bodies: Vec<&Vec<u8>> = genuine
        .iter()
        .filter(|(r, _)| cancelled.contains(r.as_str()))
        .map(|(_, b)| b)
        .collect();
    for n in 0..CALLBACKS / 10 {
        let mut body: Value =
            serde_json::from_slice(cancelled_bodies[n % cancelled_bodies.len()]).unwrap();
        if n % 2 == 0 {
            body["response"]["ExternalReference"] = format!("NO-SUCH-ORDER-{n}").into();
            body["response"]["CheckoutRequestID"] = format!("ws_CO_forged_{n}").into();
        }
        body["response"]["Status"] = "Success".into();
        body["response"]["ResultCode"] = 0.into();
        body["response"]["ResultDesc"] = "The service request is processed successfully.".into();
        body["response"]["MpesaReceiptNumber"] = format!("FRG{n:07}").into();
        bodies.push(serde_json::to_vec(&body).unwrap());
    }
    fastrand::shuffle(&mut bodies);
    assert_eq!(bodies.len(), CALLBACKS);

    let env: Vec<(String, String)> = [
        ("STK_PROVIDER", "lipia".to_owned()),
        ("LIPIA_BASE_URL", emulator.base_url().to_owned()),
        ("LIPIA_API_KEY", emulator.api_key().to_owned()),
        ("STK_DATABASE_URL", database.clone()),
        ("STK_TRACKER_LEASE_MS", "1500".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut fleet = Vec::new();
    for _ in 0..instances {
        fleet.push(start_instance(&env).await);
    }
    let urls: Arc<Mutex<Vec<String>>> =
        Arc::new(Mutex::new(fleet.iter().map(|i| i.url.clone()).collect()));
    let client = reqwest::Client::new();
    let queue = Arc::new(Mutex::new(bodies));
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut posters = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (queue, urls, client, sent) = (
            Arc::clone(&queue),
            Arc::clone(&urls),
            client.clone(),
            Arc::clone(&sent),
        );
        posters.spawn(async move {
            loop {
                let Some(body) = queue.lock().unwrap().pop() else {
                    break;
                };
                // Like a provider: re-deliver until some instance acknowledges.
                loop {
                    let url = {
                        let urls = urls.lock().unwrap();
                        urls[fastrand::usize(..urls.len())].clone()
                    };
                    match client.post(&url).body(body.clone()).send().await {
                        Ok(r) if r.status().is_success() => break,
                        _ => continue,
                    }
                }
                sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }
    if kill_one {
        // Kill an instance (SIGKILL) once 40% of the callbacks are in.
        let (sent, urls) = (Arc::clone(&sent), Arc::clone(&urls));
        let victim_url = fleet[1].url.clone();
        let victim = fleet[1].child.id().unwrap();
        tokio::spawn(async move {
            while sent.load(std::sync::atomic::Ordering::SeqCst) < CALLBACKS * 4 / 10 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            urls.lock().unwrap().retain(|u| *u != victim_url);
            std::process::Command::new("kill")
                .args(["-9", &victim.to_string()])
                .status()
                .unwrap();
        });
    }
    while posters.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    let rate = CALLBACKS as f64 / elapsed;
    if kill_one {
        fleet[1].alive = false;
    }

    // Every attempt settles; every event reaches some instance's output.
    let expected: usize = payments;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let printed: HashSet<String> = fleet
            .iter()
            .flat_map(|i| i.lines.lock().unwrap().clone())
            .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
            .filter_map(|v| v["event"]["event_id"].as_str().map(str::to_owned))
            .collect();
        if printed.len() >= expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {expected} events after 180 s",
            printed.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for instance in fleet.iter().filter(|i| i.alive) {
        signal(&instance.child, "-INT");
    }
    for instance in &mut fleet {
        let _ = tokio::time::timeout(Duration::from_secs(10), instance.child.wait()).await;
    }

    // Exactly one final event id per genuine payment, of the right kind; none for forgeries.
    let mut per_attempt: HashMap<String, HashSet<(String, String)>> = HashMap::new();
    let mut deliveries = 0;
    for line in fleet.iter().flat_map(|i| i.lines.lock().unwrap().clone()) {
        let v: Value = serde_json::from_str(&line).unwrap();
        let event = &v["event"];
        deliveries += 1;
        per_attempt
            .entry(event["payload"]["reference"].as_str().unwrap().to_owned())
            .or_default()
            .insert((
                event["event_id"].as_str().unwrap().to_owned(),
                event["kind"].as_str().unwrap().to_owned(),
            ));
    }
    assert_eq!(
        per_attempt.len(),
        payments,
        "an event for every genuine payment, none for unknown orders"
    );
    for (reference, events) in &per_attempt {
        assert_eq!(events.len(), 1, "{reference}: {events:?}");
        let kind = &events.iter().next().unwrap().1;
        let want = if cancelled.contains(reference.as_str()) {
            "failed"
        } else {
            "completed"
        };
        assert_eq!(kind, want, "{reference}");
    }
    let queries = emulator
        .ledger()
        .requests()
        .iter()
        .filter(|r| r.endpoint == Endpoint::Status)
        .count();
    assert!(
        emulator.ledger().charges().len() == payments,
        "one charge per payment"
    );
    eprintln!(
        "flood: {instances} instance(s), {CALLBACKS} callbacks in {elapsed:.2} s = {rate:.0} callbacks/s; \
         {payments} payments, {queries} status queries ({:.2} per payment); {deliveries} event deliveries \
         for {payments} events{}",
        queries as f64 / payments as f64,
        if kill_one {
            "; one instance killed mid-run"
        } else {
            ""
        },
    );
    let _ = PaymentStatus::Pending;
    emulator.shutdown().await;
    (rate, queries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_on_postgres_survive_a_flood_and_a_killed_instance() {
    let configs = std::env::var("STK_FLOOD_CONFIGS").unwrap_or_else(|_| "pg3".to_owned());
    for config in configs.split(',').map(str::trim) {
        match config {
            "sqlite1" => {
                let path = std::env::temp_dir().join(format!(
                    "stk-flood-{}-{}.db",
                    std::process::id(),
                    fastrand::u64(..)
                ));
                flood(format!("sqlite://{}?mode=rwc", path.display()), 1, false).await;
            }
            "pg1" | "pg3" => {
                let Some(url) = stk_tracker::conformance::test_postgres_url() else {
                    return;
                };
                let database = stk_tracker::conformance::fresh_postgres_database(&url).await;
                if config == "pg1" {
                    flood(database, 1, false).await;
                } else {
                    flood(database, 3, true).await;
                }
            }
            other => panic!("unknown STK_FLOOD_CONFIGS entry {other:?}"),
        }
    }
}
