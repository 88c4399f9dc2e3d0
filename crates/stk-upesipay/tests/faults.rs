//! The fault matrix: every fault the emulator injects gives its documented error kind, nothing
//! panics, the adapter never re-sends a push, and the ledger never shows a duplicate charge.
#![allow(clippy::unwrap_used)]

mod common;

use stk_contract::faults;

use stk_core::{Error, StkProvider};
use stk_upesipay::{UpesiPay, UpesiPayConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    let h = common::Harness::start().await;
    let provider = UpesiPay::new(h.config().timeout(faults::TIMEOUT).build().unwrap()).unwrap();
    let lines = faults::fault_matrix(&provider, &h.emulator).await;
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
        let config = UpesiPayConfig::builder()
            .api_token("t")
            .channel_id(1)
            .base_url(format!("{root}/api/v2"));
        UpesiPay::new(config.build().unwrap()).unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_and_channel() {
    let h = common::Harness::start().await;
    for token in ["wrong-token", "Basic wrong-token"] {
        let provider = UpesiPay::new(h.config().api_token(token).build().unwrap()).unwrap();
        faults::wrong_credentials_are_unauthorized(
            &provider,
            &h.emulator,
            "wrong-token",
            "Invalid authentication token.",
        )
        .await;
    }
    // A preformatted `Basic <token>` works as well as the bare token.
    let preformatted = format!("Basic {}", h.emulator.token());
    let provider = UpesiPay::new(h.config().api_token(preformatted).build().unwrap()).unwrap();
    provider
        .initiate(&faults::request("PREFORMATTED"))
        .await
        .unwrap();
    // A wrong channel is the provider's 400: rejected, with its message.
    let provider = UpesiPay::new(h.config().channel_id(9999).build().unwrap()).unwrap();
    let err = provider
        .initiate(&faults::request("CHANNEL"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { message, .. } if message == "The selected channel id is invalid."),
        "{err}"
    );
    assert_eq!(h.emulator.ledger().charges().len(), 1);
    faults::assert_credentials_redacted(h.emulator.ledger());
    h.emulator.shutdown().await;
}
