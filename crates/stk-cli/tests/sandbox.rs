//! `stk` against each provider's emulator over real HTTP, as `stk sandbox` serves them.

#![allow(clippy::unwrap_used)]
#![cfg(all(feature = "kulmipay", feature = "upesipay", feature = "lipia"))]

use std::time::Duration;

use serde_json::Value;

/// A database file of its own for each run.
fn fresh_database() -> String {
    std::env::temp_dir()
        .join(format!(
            "stk-cli-sandbox-{}-{}.db",
            std::process::id(),
            fastrand::u64(..)
        ))
        .display()
        .to_string()
}
use stk_emulator::{
    KulmiPayEmulator, KulmiPayEmulatorConfig, Ledger, LipiaEmulator, LipiaEmulatorConfig,
    UpesiPayEmulator, UpesiPayEmulatorConfig,
};

const DELAY: Duration = Duration::from_millis(200);

/// The variables that point `stk` at the UpesiPay emulator.
fn upesipay_env(emulator: &UpesiPayEmulator) -> Vec<(&'static str, String)> {
    vec![
        ("STK_PROVIDER", "upesipay".to_owned()),
        ("UPESIPAY_BASE_URL", emulator.base_url().to_owned()),
        ("UPESIPAY_API_TOKEN", emulator.token().to_owned()),
        ("UPESIPAY_CHANNEL_ID", emulator.channel_id().to_string()),
    ]
}

/// The variables that point `stk` at the Daraja emulator (sandbox shortcode and passkey).
#[cfg(feature = "daraja")]
fn daraja_env(emulator: &stk_emulator::DarajaEmulator) -> Vec<(&'static str, String)> {
    vec![
        ("STK_PROVIDER", "daraja".to_owned()),
        ("DARAJA_BASE_URL", emulator.base_url().to_owned()),
        ("DARAJA_CONSUMER_KEY", emulator.consumer_key().to_owned()),
        (
            "DARAJA_CONSUMER_SECRET",
            emulator.consumer_secret().to_owned(),
        ),
    ]
}

/// The variables that point `stk` at the Lipia emulator.
fn lipia_env(emulator: &LipiaEmulator) -> Vec<(&'static str, String)> {
    vec![
        ("STK_PROVIDER", "lipia".to_owned()),
        ("LIPIA_BASE_URL", emulator.base_url().to_owned()),
        ("LIPIA_API_KEY", emulator.api_key().to_owned()),
    ]
}

/// Runs `stk` with `env`, on a database of its own unless `env` names one.
async fn stk(env: &[(&str, String)], args: &[&str]) -> (i32, Value) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_stk"))
        .env("STK_DATABASE_URL", fresh_database())
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} / {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), json)
}

/// Push (completes), status of it, push (cancels): exit codes, JSON, one charge per push.
async fn push_wait_and_status(provider: &str, env: &[(&str, String)], ledger: &Ledger) {
    let push = |phone: &'static str, reference: &'static str| {
        [
            "--json",
            "push",
            "--phone",
            phone,
            "--amount",
            "100",
            "--reference",
            reference,
            "--wait",
        ]
    };
    let (code, done) = stk(env, &push("0712345678", "CLI-1")).await;
    assert_eq!(code, 0, "{provider}: {done}");
    assert_eq!(done["provider"], provider);
    assert_eq!(done["status"], "completed");
    assert_eq!(
        done["receipt"].as_str().unwrap().len(),
        10,
        "{provider}: {done}"
    );

    let id = done["payment_id"].as_str().unwrap();
    let (code, status) = stk(env, &["--json", "status", id]).await;
    assert_eq!(code, 0, "{provider}: {status}");
    assert_eq!(status["receipt"], done["receipt"], "{provider}");

    let (code, failed) = stk(env, &push("0700000001", "CLI-2")).await;
    assert_eq!(code, 1, "{provider}: {failed}");
    assert_eq!(failed["reason"], "cancelled");
    assert_eq!(failed["code"], "1032");
    assert_eq!(ledger.charges().len(), 2, "{provider}: one charge per push");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kulmipay_through_the_cli() {
    let emulator = KulmiPayEmulator::start(KulmiPayEmulatorConfig::default().delay(DELAY))
        .await
        .unwrap();
    let env = [
        ("STK_PROVIDER", "kulmipay".to_owned()),
        ("KULMIPAY_BASE_URL", emulator.base_url().to_owned()),
        ("KULMIPAY_SECRET_KEY", emulator.secret_key().to_owned()),
    ];
    push_wait_and_status("kulmipay", &env, emulator.ledger()).await;
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upesipay_through_the_cli() {
    let emulator = UpesiPayEmulator::start(UpesiPayEmulatorConfig::default().delay(DELAY))
        .await
        .unwrap();
    let env = upesipay_env(&emulator);
    push_wait_and_status("upesipay", &env, emulator.ledger()).await;
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lipia_through_the_cli() {
    let emulator = LipiaEmulator::start(LipiaEmulatorConfig::default().delay(DELAY))
        .await
        .unwrap();
    let env = lipia_env(&emulator);
    push_wait_and_status("lipia", &env, emulator.ledger()).await;
    // Lipia's Safaricom-only rule, surfaced as a provider refusal (exit 3).
    let (code, refused) = stk(
        &env,
        &["--json", "push", "--phone", "0733000000", "--amount", "100"],
    )
    .await;
    assert_eq!(code, 3, "{refused}");
    assert_eq!(refused["error"]["code"], "VALIDATION_ERROR");
    emulator.shutdown().await;
}

/// Daraja: push and wait (completed; Daraja's query carries no receipt), status, a cancelled
/// push, and a push without `--reference` (the generated one fits Daraja's 12 characters).
#[cfg(feature = "daraja")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daraja_through_the_cli() {
    use stk_emulator::{DarajaEmulator, DarajaEmulatorConfig};
    let emulator = DarajaEmulator::start(DarajaEmulatorConfig::default().delay(DELAY))
        .await
        .unwrap();
    // Sandbox defaults: no shortcode or passkey needed against the emulator.
    let mut env = daraja_env(&emulator);
    env.push((
        "DARAJA_CALLBACK_URL",
        "http://127.0.0.1:9/daraja".to_owned(),
    ));
    let push = |phone: &'static str, reference: &'static str| {
        [
            "--json",
            "push",
            "--phone",
            phone,
            "--amount",
            "100",
            "--reference",
            reference,
            "--wait",
        ]
    };
    let (code, done) = stk(&env, &push("0712345678", "CLI-1")).await;
    assert_eq!(code, 0, "{done}");
    assert_eq!(done["provider"], "daraja");
    assert_eq!(done["status"], "completed");
    let id = done["payment_id"].as_str().unwrap();
    assert!(id.starts_with("ws_CO_"), "{done}");
    let (code, status) = stk(&env, &["--json", "status", id]).await;
    assert_eq!(code, 0, "{status}");
    assert_eq!(status["status"], "completed");

    let (code, failed) = stk(&env, &push("0700000001", "CLI-2")).await;
    assert_eq!(code, 1, "{failed}");
    assert_eq!(failed["reason"], "cancelled");
    assert_eq!(failed["code"], "1032");

    let (code, accepted) = stk(
        &env,
        &["--json", "push", "--phone", "0712345678", "--amount", "10"],
    )
    .await;
    assert_eq!(code, 0, "{accepted}");
    let charges = emulator.ledger().charges();
    assert_eq!(charges.len(), 3, "one charge per push");
    let generated = charges[2].reference.clone().unwrap();
    assert!(
        generated.starts_with("STK-") && generated.len() == 12,
        "{generated}"
    );
    emulator.shutdown().await;
}

/// Daraja's callback, received by `stk listen`, confirmed by query and printed once.
#[cfg(feature = "daraja")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daraja_callbacks_through_listen() {
    use stk_emulator::{DarajaEmulator, DarajaEmulatorConfig};
    use tokio::io::AsyncBufReadExt;

    let emulator = DarajaEmulator::start(DarajaEmulatorConfig::default().delay(DELAY))
        .await
        .unwrap();
    let mut env = daraja_env(&emulator);
    env.push(("STK_DATABASE_URL", fresh_database()));
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stk"))
        .args([
            "--json",
            "listen",
            "--bind",
            "127.0.0.1:0",
            "--max-events",
            "1",
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut child = child;
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let banner = stderr.next_line().await.unwrap().unwrap();
    let url = banner.split("on ").nth(1).unwrap().to_owned();
    assert!(url.ends_with("/daraja"), "{banner}");
    let (code, pushed) = stk(
        &env,
        &[
            "--json",
            "push",
            "--phone",
            "0712345678",
            "--amount",
            "100",
            "--reference",
            "LISTEN-D",
            "--callback-url",
            &url,
        ],
    )
    .await;
    assert_eq!(code, 0, "{pushed}");
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success());
    let line: Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["event"]["kind"], "completed", "{line}");
    assert_eq!(line["event"]["payload"]["reference"], "LISTEN-D", "{line}");
    let attempts = emulator.callback_attempts();
    assert!(attempts.iter().any(|a| a.acknowledged), "{attempts:?}");
    emulator.shutdown().await;
}

/// POSTs a callback to `addr` over a raw HTTP/1.1 connection; returns the status line.
async fn post(addr: &str, cb: &stk::CallbackRequest) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        cb.path_and_query.as_deref().unwrap_or("/"),
        cb.body.len()
    );
    for (name, value) in &cb.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&cb.body).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_records_confirms_and_prints_each_payment_once() {
    use tokio::io::AsyncBufReadExt;

    let emulator = LipiaEmulator::start(LipiaEmulatorConfig::default().delay(DELAY))
        .await
        .unwrap();
    let database = fresh_database();
    let env = [
        ("STK_PROVIDER", "lipia".to_owned()),
        ("LIPIA_BASE_URL", emulator.base_url().to_owned()),
        ("LIPIA_API_KEY", emulator.api_key().to_owned()),
        ("STK_DATABASE_URL", database.clone()),
    ];
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stk"))
        .args(["--json", "listen", "--bind", "127.0.0.1:0"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let banner = stderr.next_line().await.unwrap().unwrap();
    let url = banner.split("on ").nth(1).unwrap().to_owned();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/lipia")
        .to_owned();

    // Two pushes recorded in the same store, their callbacks sent to the listener.
    let push = |phone: &str, reference: &str| {
        let args: Vec<String> = [
            "--json",
            "push",
            "--phone",
            phone,
            "--amount",
            "100",
            "--reference",
            reference,
            "--callback-url",
            &url,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args
    };
    let run = |args: Vec<String>| {
        let env = env.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            stk(&env, &args).await
        }
    };
    let (code, paid) = run(push("0712345678", "LISTEN-1")).await;
    assert_eq!(code, 0, "{paid}");
    let (code, cancelled) = run(push("0700000001", "LISTEN-2")).await;
    assert_eq!(code, 0, "{cancelled}");
    // A second push for a live order is refused and sends nothing.
    let (code, again) = run(push("0712345678", "LISTEN-1")).await;
    assert_eq!(code, 2, "{again}");
    assert_eq!(again["error"]["kind"], "already_live");

    // Re-deliveries and a forged success for the cancelled payment change nothing.
    let paid_id = paid["payment_id"].as_str().unwrap().to_owned();
    let cancelled_id = cancelled["payment_id"].as_str().unwrap().to_owned();
    let until_final = |id: String| {
        let emulator = &emulator;
        async move {
            tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    if emulator.payment_status(&id).is_some_and(|s| s.is_final()) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
            .unwrap();
        }
    };
    until_final(paid_id.clone()).await;
    until_final(cancelled_id.clone()).await;
    // Wait (bounded) until the listener has recorded both outcomes.
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let (_, list) = stk(&env, &["--json", "payments", "list"]).await;
            let settled = list["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["state"] == "completed" || a["state"] == "failed")
                .count();
            if settled == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    let mut genuine = emulator.callback_for(&paid_id).unwrap();
    genuine.path_and_query = Some("/lipia".into());
    assert!(post(&addr, &genuine).await.contains("200"));
    let mut forged = emulator.callback_for(&cancelled_id).unwrap();
    let mut body: Value = serde_json::from_slice(&forged.body).unwrap();
    body["response"]["Status"] = "Success".into();
    body["response"]["ResultCode"] = 0.into();
    body["response"]["MpesaReceiptNumber"] = "FORGED1234".into();
    forged.body = serde_json::to_vec(&body).unwrap();
    forged.path_and_query = Some("/lipia".into());
    assert!(
        post(&addr, &forged).await.contains("200"),
        "stored, then found false"
    );
    assert!(post(&addr, &genuine).await.contains("200"));

    // Ctrl-C: the listener stops cleanly.
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut kinds: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["event"]["payload"]["reference"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                l["event"]["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("LISTEN-1".to_owned(), "completed".to_owned()),
            ("LISTEN-2".to_owned(), "failed".to_owned())
        ]
    );

    // The store shows both, with their timelines.
    let (code, list) = stk(&env, &["--json", "payments", "list"]).await;
    assert_eq!(code, 0);
    let attempts = list["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{list}");
    let id = attempts
        .iter()
        .find(|a| a["reference"] == "LISTEN-2")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, shown) = stk(&env, &["--json", "payments", "show", &id]).await;
    assert_eq!(code, 0);
    assert_eq!(shown["attempt"]["state"], "failed");
    assert!(shown["timeline"].as_array().unwrap().len() >= 2, "{shown}");
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_exits_zero_only_when_paid() {
    let emulator = LipiaEmulator::start(LipiaEmulatorConfig::default().delay(DELAY))
        .await
        .unwrap();
    let env = lipia_env(&emulator);
    // 0700000007 never answers: accepted (push exits 0), never paid (status exits 5).
    let (code, pushed) = stk(
        &env,
        &["--json", "push", "--phone", "0700000007", "--amount", "100"],
    )
    .await;
    assert_eq!(code, 0, "{pushed}");
    let id = pushed["payment_id"].as_str().unwrap();
    let (code, status) = stk(&env, &["--json", "status", id]).await;
    assert_eq!(code, 5, "{status}");
    assert_eq!(status["status"], "pending");
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_keeps_below_upesipays_abuse_limit_by_default() {
    let emulator = UpesiPayEmulator::start(UpesiPayEmulatorConfig::default().delay(DELAY))
        .await
        .unwrap();
    let mut env = upesipay_env(&emulator);
    env.push(("STK_DATABASE_URL", fresh_database()));
    // Ten cancelled pushes to one number, each waited for (the guard learns the outcome).
    for n in 0..10 {
        let reference = format!("ABUSE-{n}");
        let (code, json) = stk(
            &env,
            &[
                "--json",
                "push",
                "--phone",
                "0700000001",
                "--amount",
                "10",
                "--reference",
                &reference,
                "--wait",
            ],
        )
        .await;
        assert_eq!(code, 1, "{json}");
    }
    // The 11th is refused locally: nothing reaches UpesiPay, the number is not blocked.
    let (code, json) = stk(
        &env,
        &[
            "--json",
            "push",
            "--phone",
            "0700000001",
            "--amount",
            "10",
            "--reference",
            "ABUSE-10",
        ],
    )
    .await;
    assert_eq!(code, 3, "{json}");
    assert_eq!(json["error"]["kind"], "guarded", "{json}");
    assert_eq!(emulator.ledger().charges().len(), 10);
    emulator.shutdown().await;
}

/// Four consecutive free ports on 127.0.0.1 (bound, then released), for `stk sandbox`.
fn free_port_base() -> u16 {
    loop {
        let base = fastrand::u16(20_000..60_000);
        let bound: Vec<_> = (0..4)
            .filter_map(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if bound.len() == 4 {
            return base;
        }
    }
}

/// Runs `stk sandbox` (with `--seed` if given), pushes once to its KulmiPay emulator without
/// recording, and returns (the printed seed, the payment id).
async fn sandbox_push(seed: Option<&str>) -> (String, String) {
    use tokio::io::AsyncBufReadExt;
    let port = free_port_base().to_string();
    let mut args = vec!["sandbox", "--port", port.as_str(), "--duration", "60"];
    if let Some(seed) = seed {
        args.extend(["--seed", seed]);
    }
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stk"))
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut env: Vec<(&'static str, String)> = vec![("STK_PROVIDER", "kulmipay".to_owned())];
    let printed_seed = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("the sandbox prints its seed");
        for (name, key) in [
            ("KULMIPAY_BASE_URL", "  export KULMIPAY_BASE_URL="),
            ("KULMIPAY_SECRET_KEY", "  export KULMIPAY_SECRET_KEY="),
        ] {
            if let Some(value) = line.strip_prefix(key) {
                env.push((name, value.to_owned()));
            }
        }
        if let Some(rest) = line.strip_prefix("Seed ") {
            break rest.split(':').next().unwrap().to_owned();
        }
    };
    let (code, pushed) = stk(
        &env,
        &[
            "--json",
            "push",
            "--phone",
            "0712345678",
            "--amount",
            "100",
            "--no-record",
        ],
    )
    .await;
    assert_eq!(code, 0, "{pushed}");
    (
        printed_seed,
        pushed["payment_id"].as_str().unwrap().to_owned(),
    )
}

/// `stk sandbox` seeds its ids from the clock (a store kept across restarts never sees one
/// id twice) and prints the seed; `--seed` replays a run's ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_ids_differ_per_run_and_replay_with_the_printed_seed() {
    let (first_seed, first_id) = sandbox_push(None).await;
    let (second_seed, second_id) = sandbox_push(None).await;
    assert_ne!(first_seed, second_seed);
    assert_ne!(first_id, second_id, "a restarted sandbox reused an id");
    let (replayed_seed, replayed_id) = sandbox_push(Some(&first_seed)).await;
    assert_eq!(replayed_seed, first_seed);
    assert_eq!(replayed_id, first_id, "--seed replays the run");
}

/// A pipe whose buffer holds only 4 KiB (about six events): (read end, write end).
fn tiny_pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    let (read, write) = rustix::pipe::pipe().unwrap();
    assert!(rustix::pipe::fcntl_setpipe_size(&write, 4096).unwrap() >= 4096);
    (read, write)
}

/// `stk listen` whose stdout nobody reads (a full pipe): callbacks are still answered and
/// payments still recorded; the events wait, and are all printed once someone reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_keeps_receiving_while_nobody_reads_its_events() {
    use std::io::Read as _;
    use tokio::io::AsyncBufReadExt;

    let emulator = LipiaEmulator::start(LipiaEmulatorConfig::default().delay(DELAY))
        .await
        .unwrap();
    let mut env = lipia_env(&emulator);
    env.push(("STK_DATABASE_URL", fresh_database()));
    let (read, write) = tiny_pipe();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stk"))
        .args(["--json", "listen", "--bind", "127.0.0.1:0"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::from(write))
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let banner = stderr.next_line().await.unwrap().unwrap();
    let url = banner.split("on ").nth(1).unwrap().to_owned();

    const PAYMENTS: usize = 20;
    for n in 0..PAYMENTS {
        let reference = format!("BLOCKED-{n}");
        let (code, pushed) = stk(
            &env,
            &[
                "--json",
                "push",
                "--phone",
                "0712345678",
                "--amount",
                "100",
                "--reference",
                &reference,
                "--callback-url",
                &url,
            ],
        )
        .await;
        assert_eq!(code, 0, "{pushed}");
    }
    // Every payment is recorded completed although the events cannot be printed.
    let all_completed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (_, listed) = stk(&env, &["--json", "payments", "list", "--limit", "100"]).await;
            let done = listed["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["state"] == "completed")
                .count();
            if done == PAYMENTS {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        all_completed.is_ok(),
        "payments were not processed while stdout was full"
    );
    // The receiver still answers at once.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        http.post(&url).body("not a callback").send(),
    )
    .await
    .expect("the receiver answers while stdout is full")
    .unwrap();
    assert_eq!(answer.status(), 400);

    // Someone reads: every event comes out, once.
    let reader = std::thread::spawn(move || {
        let mut file = std::fs::File::from(read);
        let mut out = String::new();
        let mut buf = [0_u8; 4096];
        while out.lines().count() < PAYMENTS {
            let n = file.read(&mut buf).unwrap();
            assert!(n > 0, "stdout closed early");
            out.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        out
    });
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || reader.join().unwrap()),
    )
    .await
    .expect("every event printed once read")
    .unwrap();
    let references: std::collections::HashSet<String> = out
        .lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).unwrap();
            event["event"]["payload"]["reference"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(references.len(), PAYMENTS);
    child.kill().await.unwrap();
    emulator.shutdown().await;
}
