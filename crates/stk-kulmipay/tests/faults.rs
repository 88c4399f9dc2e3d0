//! The fault matrix: every fault the emulator injects gives its documented error kind, nothing
//! panics, the adapter never re-sends a push, and the ledger never shows a duplicate charge.
#![allow(clippy::unwrap_used)]

mod common;

use stk_contract::faults;

use stk_kulmipay::{ApiGeneration, KulmiPay, KulmiPayConfig};

async fn matrix(api: ApiGeneration) -> String {
    let h = common::Harness::start(false).await;
    let provider = KulmiPay::new(h.config(api).timeout(faults::TIMEOUT).build().unwrap()).unwrap();
    let lines = faults::fault_matrix(&provider, &h.emulator).await;
    h.emulator.shutdown().await;
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_express() {
    insta::assert_snapshot!(matrix(ApiGeneration::Express).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_collection() {
    insta::assert_snapshot!(matrix(ApiGeneration::Collection).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_push_resolves_by_status_with_exactly_one_charge() {
    let h = common::Harness::start(false).await;
    for api in [ApiGeneration::Express, ApiGeneration::Collection] {
        h.emulator.ledger().clear();
        faults::ambiguous_push_resolves_by_status(&h.provider(api), &h.emulator).await;
    }
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_unavailable() {
    faults::connection_refused_is_unavailable(|root| {
        let config = KulmiPayConfig::builder()
            .secret_key("ISSecretKey_test_x")
            .base_url(format!("{root}/api/v1"));
        KulmiPay::new(config.build().unwrap()).unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_unauthorized() {
    let h = common::Harness::start(false).await;
    for api in [ApiGeneration::Express, ApiGeneration::Collection] {
        let wrong = "ISSecretKey_test_wrong";
        let provider = KulmiPay::new(h.config(api).secret_key(wrong).build().unwrap()).unwrap();
        faults::wrong_credentials_are_unauthorized(
            &provider,
            &h.emulator,
            wrong,
            "Invalid api token",
        )
        .await;
    }
    h.emulator.shutdown().await;
}
