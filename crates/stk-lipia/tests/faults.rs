//! The fault matrix: every fault the emulator injects gives its documented error kind, nothing
//! panics, the adapter never re-sends a push, and the ledger never shows a duplicate charge.
#![allow(clippy::unwrap_used)]

mod common;

use stk_contract::faults;

use stk_emulator::LipiaCallbackShape;
use stk_lipia::{Lipia, LipiaConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    let h = common::Harness::start(LipiaCallbackShape::Nested).await;
    let provider = Lipia::new(h.config().timeout(faults::TIMEOUT).build().unwrap()).unwrap();
    let lines = faults::fault_matrix(&provider, &h.emulator).await;
    h.emulator.shutdown().await;
    insta::assert_snapshot!(lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_push_resolves_by_status_with_exactly_one_charge() {
    let h = common::Harness::start(LipiaCallbackShape::Nested).await;
    faults::ambiguous_push_resolves_by_status(&h.provider(), &h.emulator).await;
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_unavailable() {
    faults::connection_refused_is_unavailable(|root| {
        let config = LipiaConfig::builder()
            .api_key("k")
            .base_url(format!("{root}/api/v2"));
        Lipia::new(config.build().unwrap()).unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_api_key_is_unauthorized_and_never_shown() {
    let h = common::Harness::start(LipiaCallbackShape::Nested).await;
    let wrong = "wrong-lipia-key";
    let provider = Lipia::new(h.config().api_key(wrong).build().unwrap()).unwrap();
    faults::wrong_credentials_are_unauthorized(&provider, &h.emulator, wrong, "Invalid API key")
        .await;
    h.emulator.shutdown().await;
}
