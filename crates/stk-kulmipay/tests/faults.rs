//! The fault matrix: every fault the emulator injects gives its documented error kind, nothing
//! panics, the adapter never re-sends a push, and the ledger never shows a duplicate charge.
#![allow(clippy::unwrap_used)]

mod common;

use stk_contract::faults;

use std::time::Duration;

use stk_core::{Error, PaymentId, StkProvider, StkPushRequest};
use stk_kulmipay::{ApiGeneration, KulmiPay, KulmiPayConfig};

fn request(reference: &str) -> StkPushRequest {
    StkPushRequest::builder()
        .phone("0712345678")
        .amount(100)
        .reference(reference)
        .build()
        .unwrap()
}

async fn matrix(api: ApiGeneration) -> String {
    let h = common::Harness::start(false).await;
    let provider = KulmiPay::new(
        h.config(api)
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap(),
    )
    .unwrap();
    let lines = faults::fault_matrix(&provider, h.emulator.faults(), h.emulator.ledger()).await;
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
        let provider = h.provider(api);
        faults::ambiguous_push_resolves_by_status(
            &provider,
            h.emulator.faults(),
            h.emulator.ledger(),
        )
        .await;
    }
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let provider = KulmiPay::new(
        KulmiPayConfig::builder()
            .secret_key("ISSecretKey_test_x")
            .base_url(format!("http://{addr}/api/v1"))
            .build()
            .unwrap(),
    )
    .unwrap();
    let err = provider.initiate(&request("REFUSED")).await.unwrap_err();
    assert_eq!(err.kind(), "unavailable", "{err}");
    assert!(err.is_retryable());
    let err = provider.status(&PaymentId::new("X")).await.unwrap_err();
    assert_eq!(err.kind(), "unavailable", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_unauthorized() {
    let h = common::Harness::start(false).await;
    for api in [ApiGeneration::Express, ApiGeneration::Collection] {
        let provider = KulmiPay::new(
            h.config(api)
                .secret_key("ISSecretKey_test_wrong")
                .build()
                .unwrap(),
        )
        .unwrap();
        let err = provider.initiate(&request("AUTH")).await.unwrap_err();
        assert!(
            matches!(&err, Error::Unauthorized { message, .. } if message == "Invalid api token"),
            "{err}"
        );
        assert!(!err.to_string().contains("ISSecretKey_test_wrong"));
    }
    assert!(h.emulator.ledger().charges().is_empty());
    // The ledger never keeps secrets.
    for r in h.emulator.ledger().requests() {
        assert_eq!(r.header("authorization"), Some("[redacted]"));
    }
    h.emulator.shutdown().await;
}
