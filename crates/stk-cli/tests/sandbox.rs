//! `stk` against each provider's emulator over real HTTP, as `stk sandbox` serves them.

#![allow(clippy::unwrap_used)]
#![cfg(all(feature = "kulmipay", feature = "upesipay", feature = "lipia"))]

use std::time::Duration;

use serde_json::Value;
use stk_emulator::{
    KulmiPayEmulator, KulmiPayEmulatorConfig, Ledger, LipiaEmulator, LipiaEmulatorConfig,
    UpesiPayEmulator, UpesiPayEmulatorConfig,
};

const DELAY: Duration = Duration::from_millis(200);

async fn stk(env: &[(&str, String)], args: &[&str]) -> (i32, Value) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_stk"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap();
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
    let env = [
        ("STK_PROVIDER", "upesipay".to_owned()),
        ("UPESIPAY_BASE_URL", emulator.base_url().to_owned()),
        ("UPESIPAY_API_TOKEN", emulator.token().to_owned()),
        ("UPESIPAY_CHANNEL_ID", emulator.channel_id().to_string()),
    ];
    push_wait_and_status("upesipay", &env, emulator.ledger()).await;
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lipia_through_the_cli() {
    let emulator = LipiaEmulator::start(LipiaEmulatorConfig::default().delay(DELAY))
        .await
        .unwrap();
    let env = [
        ("STK_PROVIDER", "lipia".to_owned()),
        ("LIPIA_BASE_URL", emulator.base_url().to_owned()),
        ("LIPIA_API_KEY", emulator.api_key().to_owned()),
    ];
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
async fn listen_verifies_deduplicates_and_confirms_callbacks() {
    use stk::{PollPolicy, StkProvider, StkPushRequest, wait_for_final};
    use tokio::io::AsyncBufReadExt;

    const CHALLENGE: &str = "listen-challenge";
    let emulator = KulmiPayEmulator::start(
        KulmiPayEmulatorConfig::default()
            .delay(DELAY)
            .webhook_challenge(CHALLENGE),
    )
    .await
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stk"))
        .args([
            "--json",
            "listen",
            "--bind",
            "127.0.0.1:0",
            "--confirm",
            "--max-events",
            "3",
        ])
        .env("STK_PROVIDER", "kulmipay")
        .env("KULMIPAY_BASE_URL", emulator.base_url())
        .env("KULMIPAY_SECRET_KEY", emulator.secret_key())
        .env("KULMIPAY_WEBHOOK_CHALLENGE", CHALLENGE)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let banner = stderr.next_line().await.unwrap().unwrap();
    let addr = banner
        .split("http://")
        .nth(1)
        .unwrap()
        .trim_end_matches("/ (any path)")
        .to_owned();

    let provider = stk::kulmipay::KulmiPay::new(
        stk::kulmipay::KulmiPayConfig::builder()
            .secret_key(emulator.secret_key())
            .base_url(emulator.base_url())
            .build()
            .unwrap(),
    )
    .unwrap();
    let request = StkPushRequest::builder()
        .phone("0712345678")
        .amount(100)
        .reference("LISTEN-1")
        .build()
        .unwrap();
    let accepted = provider.initiate(&request).await.unwrap();
    let policy = PollPolicy::default()
        .intervals(Duration::from_millis(10), Duration::from_millis(50))
        .deadline(Duration::from_secs(10));
    wait_for_final(&provider, &accepted.payment_id, &policy)
        .await
        .unwrap();
    let genuine = emulator.callback_for(accepted.payment_id.as_str()).unwrap();
    assert!(post(&addr, &genuine).await.contains("200"));
    assert!(
        post(&addr, &genuine).await.contains("200"),
        "a re-delivery is acknowledged too"
    );
    let mut body: Value = serde_json::from_slice(&genuine.body).unwrap();
    body["challenge"] = "guessed".into();
    let mut forged =
        stk::CallbackRequest::new(serde_json::to_vec(&body).unwrap()).path_and_query("/cb");
    forged.headers = vec![("content-type".into(), "application/json".into())];
    assert!(post(&addr, &forged).await.contains("400"));

    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["callback"]["status"], "completed");
    assert_eq!(lines[0]["callback"]["confirmed"], true);
    assert_eq!(lines[0]["callback"]["duplicate"], false);
    assert_eq!(lines[1]["callback"]["duplicate"], true);
    assert_eq!(lines[2]["error"]["kind"], "invalid_callback");
    emulator.shutdown().await;
}
