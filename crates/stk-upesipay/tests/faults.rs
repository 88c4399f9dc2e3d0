//! The fault matrix: every fault the emulator injects gives its documented error kind, nothing
//! panics, the adapter never re-sends a push, and the ledger never shows a duplicate charge.
#![allow(clippy::unwrap_used)]

mod common;

use stk_contract::faults;

use std::time::Duration;

use stk_core::{Error, PaymentId, StkProvider};
use stk_upesipay::{UpesiPay, UpesiPayConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    let h = common::Harness::start().await;
    let provider = UpesiPay::new(
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
    let h = common::Harness::start().await;
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
    let provider = UpesiPay::new(
        UpesiPayConfig::builder()
            .api_token("t")
            .channel_id(1)
            .base_url(format!("http://{addr}/api/v2"))
            .build()
            .unwrap(),
    )
    .unwrap();
    let err = provider
        .initiate(&common::request("0712345678", "REFUSED"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "unavailable", "{err}");
    assert!(err.is_retryable());
    let err = provider.status(&PaymentId::new("X")).await.unwrap_err();
    assert_eq!(err.kind(), "unavailable", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_and_channel() {
    let h = common::Harness::start().await;
    for token in ["wrong-token", "Basic wrong-token"] {
        let provider = UpesiPay::new(h.config().api_token(token).build().unwrap()).unwrap();
        let err = provider
            .initiate(&common::request("0712345678", "AUTH"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Unauthorized { message, .. } if message == "Invalid authentication token."),
            "{err}"
        );
        assert!(!err.to_string().contains("wrong-token"));
        let err = provider.status(&PaymentId::new("X")).await.unwrap_err();
        assert_eq!(err.kind(), "unauthorized");
    }
    // A preformatted `Basic <token>` works as well as the bare token.
    let provider = UpesiPay::new(
        h.config()
            .api_token(format!("Basic {}", h.emulator.token()))
            .build()
            .unwrap(),
    )
    .unwrap();
    provider
        .initiate(&common::request("0712345678", "PREFORMATTED"))
        .await
        .unwrap();
    // A wrong channel is the provider's 400: rejected, with its message.
    let provider = UpesiPay::new(h.config().channel_id(9999).build().unwrap()).unwrap();
    let err = provider
        .initiate(&common::request("0712345678", "CHANNEL"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { message, .. } if message == "The selected channel id is invalid."),
        "{err}"
    );
    assert_eq!(h.emulator.ledger().charges().len(), 1);
    // The ledger never keeps secrets.
    for r in h.emulator.ledger().requests() {
        assert_eq!(r.header("authorization"), Some("[redacted]"));
    }
    h.emulator.shutdown().await;
}
