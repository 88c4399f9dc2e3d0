//! The fault matrix: every fault the emulator injects gives its documented error kind, nothing
//! panics, the adapter never re-sends a push, and the ledger never shows a duplicate charge.
//!
//! Daraja answers a query about a pending payment with HTTP 500 and `500.001.1001`, so a fault
//! that garbles that answer (malformed, truncated, its code removed) reads as a bare HTTP 500:
//! `unavailable`, which polling rides over. The emulator's payments take a second here so the
//! status query right after a push always meets a pending payment.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use stk_contract::faults;
use stk_core::CallbackUrl;
use stk_daraja::{Daraja, DarajaConfig};
use stk_emulator::DarajaEmulatorConfig;

fn slow_payments() -> DarajaEmulatorConfig {
    DarajaEmulatorConfig::default().delay(Duration::from_secs(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    let h = common::Harness::start_with(slow_payments()).await;
    let provider = Daraja::new(h.config().timeout(faults::TIMEOUT).build().unwrap()).unwrap();
    let lines = faults::fault_matrix(&provider, &h.emulator).await;
    assert_eq!(h.token_requests(), 1, "one token for the whole matrix");
    h.emulator.shutdown().await;
    insta::assert_snapshot!(lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_push_resolves_by_status_with_exactly_one_charge() {
    let h = common::Harness::start().await;
    faults::ambiguous_push_resolves_by_status(&h.provider(), &h.emulator).await;
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_unavailable() {
    faults::connection_refused_is_unavailable(|root| {
        let config = DarajaConfig::builder()
            .consumer_key("k")
            .consumer_secret("s")
            .callback_url(CallbackUrl::parse("https://shop.example/daraja").unwrap())
            .base_url(root);
        Daraja::new(config.build().unwrap()).unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_consumer_secret_is_unauthorized_and_never_shown() {
    let h = common::Harness::start().await;
    let wrong = "wrong-daraja-consumer-secret";
    let provider = Daraja::new(h.config().consumer_secret(wrong).build().unwrap()).unwrap();
    faults::wrong_credentials_are_unauthorized(
        &provider,
        &h.emulator,
        wrong,
        "Invalid Authentication passed",
    )
    .await;
    h.emulator.shutdown().await;
}
