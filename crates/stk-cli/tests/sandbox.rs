//! `stk` against the KulmiPay emulator over real HTTP, as `stk sandbox` serves it.

#![allow(clippy::unwrap_used)]
#![cfg(feature = "kulmipay")]

use std::time::Duration;

use serde_json::Value;
use stk_mock::emulator::{KulmiPayEmulator, KulmiPayEmulatorConfig};

async fn stk(emulator: &KulmiPayEmulator, args: &[&str]) -> (i32, Value) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_stk"))
        .args(args)
        .env("STK_PROVIDER", "kulmipay")
        .env("KULMIPAY_BASE_URL", emulator.base_url())
        .env("KULMIPAY_SECRET_KEY", emulator.secret_key())
        .output()
        .await
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap();
    (out.status.code().unwrap(), json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_wait_and_status_against_the_emulator() {
    let emulator = KulmiPayEmulator::start(
        KulmiPayEmulatorConfig::default().delay(Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let (code, done) = stk(
        &emulator,
        &[
            "--json",
            "push",
            "--phone",
            "0712345678",
            "--amount",
            "100",
            "--reference",
            "CLI-1",
            "--wait",
        ],
    )
    .await;
    assert_eq!(code, 0, "{done}");
    assert_eq!(done["provider"], "kulmipay");
    assert_eq!(done["status"], "completed");
    assert!(done["receipt"].as_str().unwrap().len() == 10);

    let id = done["payment_id"].as_str().unwrap();
    let (code, status) = stk(&emulator, &["--json", "status", id]).await;
    assert_eq!(code, 0);
    assert_eq!(status["receipt"], done["receipt"]);

    let (code, failed) = stk(
        &emulator,
        &[
            "--json",
            "push",
            "--phone",
            "0700000001",
            "--amount",
            "100",
            "--reference",
            "CLI-2",
            "--wait",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(failed["reason"], "cancelled");
    assert_eq!(emulator.ledger().charges().len(), 2, "one charge per push");
    emulator.shutdown().await;
}
