//! The fault matrix: every fault the emulator injects gives its documented error kind, nothing
//! panics, the adapter never re-sends a push, and the ledger never shows a duplicate charge.
#![allow(clippy::unwrap_used)]

mod common;

use stk_contract::faults;

use std::time::Duration;

use stk_core::{Error, PaymentId, StkProvider, StkPushRequest};
use stk_emulator::LipiaCallbackShape;
use stk_lipia::{Lipia, LipiaConfig};

fn request(reference: &str) -> StkPushRequest {
    StkPushRequest::builder()
        .phone("0712345678")
        .amount(100)
        .reference(reference)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    let h = common::Harness::start(LipiaCallbackShape::Nested).await;
    let provider = Lipia::new(
        h.config()
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap(),
    )
    .unwrap();
    let lines = faults::fault_matrix(&provider, h.emulator.faults(), h.emulator.ledger()).await;
    h.emulator.shutdown().await;
    insta::assert_snapshot!(lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_push_resolves_by_status_with_exactly_one_charge() {
    let h = common::Harness::start(LipiaCallbackShape::Nested).await;
    faults::ambiguous_push_resolves_by_status(
        &h.provider(),
        h.emulator.faults(),
        h.emulator.ledger(),
    )
    .await;
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let provider = Lipia::new(
        LipiaConfig::builder()
            .api_key("k")
            .base_url(format!("http://{addr}/api/v2"))
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
async fn wrong_api_key_is_unauthorized_and_never_shown() {
    let h = common::Harness::start(LipiaCallbackShape::Nested).await;
    let provider = Lipia::new(h.config().api_key("wrong-lipia-key").build().unwrap()).unwrap();
    let err = provider.initiate(&request("AUTH")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Unauthorized { message, .. } if message == "Invalid API key"),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong-lipia-key"));
    let err = provider.status(&PaymentId::new("X")).await.unwrap_err();
    assert_eq!(err.kind(), "unauthorized", "{err}");
    assert!(h.emulator.ledger().charges().is_empty());
    // The ledger never keeps secrets.
    for r in h.emulator.ledger().requests() {
        assert_eq!(r.header("authorization"), Some("[redacted]"));
    }
    h.emulator.shutdown().await;
}
