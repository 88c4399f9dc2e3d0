//! `stk` against each provider's emulator over real HTTP, as `stk sandbox` serves them.

#![allow(clippy::unwrap_used)]
#![cfg(all(feature = "kulmipay", feature = "upesipay", feature = "lipia"))]

use std::time::Duration;

use serde_json::Value;
use stk_mock::emulator::{
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
