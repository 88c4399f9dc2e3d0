//! The shared contract suite, over real HTTP against the UpesiPay emulator, with callbacks
//! delivered by the emulator to a local receiver.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;
use stk_contract::ContractConfig;
use stk_core::{PaymentStatus, PollPolicy, StkProvider, wait_for_final};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_over_http() {
    let h = common::Harness::start().await;
    let provider = h.provider();
    stk_contract::run_all(
        &provider,
        &ContractConfig::real_time(),
        Some(&common::Source(&h)),
    )
    .await;
    assert!(!h.emulator.ledger().charges().is_empty());
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_through_arc_dyn() {
    let h = common::Harness::start().await;
    let provider: std::sync::Arc<dyn StkProvider> =
        std::sync::Arc::new(stk_upesipay::UpesiPay::new(h.config().build().unwrap()).unwrap());
    stk_contract::run_all(&provider, &ContractConfig::real_time(), None).await;
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_accepts_reference_checkout_id_and_receipt() {
    let h = common::Harness::start().await;
    let provider = h.provider();
    let accepted = provider
        .initiate(&common::request("0712345678", "ORDER-IDS"))
        .await
        .unwrap();
    let checkout = accepted.checkout_request_id.clone().unwrap();
    assert!(checkout.starts_with("ws_CO_"), "{checkout}");
    assert_eq!(accepted.payment_id.as_str().len(), 10);
    let policy = PollPolicy::default()
        .intervals(Duration::from_millis(10), Duration::from_millis(50))
        .deadline(Duration::from_secs(10));
    let PaymentStatus::Completed(done) = wait_for_final(&provider, &accepted.payment_id, &policy)
        .await
        .unwrap()
    else {
        panic!("not completed")
    };
    let receipt = done.receipt.clone().unwrap();
    for id in [checkout.as_str(), receipt.as_str()] {
        let status = provider.status(&id.into()).await.unwrap();
        assert_eq!(status, PaymentStatus::Completed(done.clone()), "{id}");
    }
    // The callback carries the token query parameter the adapter added.
    let cb = common::Source(&h);
    let delivered = stk_contract::CallbackSource::final_callback(&cb, &accepted.payment_id)
        .await
        .unwrap();
    assert_eq!(
        delivered.query_param("token").as_deref(),
        Some(common::CALLBACK_TOKEN)
    );
    let event = provider.parse_callback(&delivered).unwrap();
    assert_eq!(
        event.checkout_request_id.as_deref(),
        Some(checkout.as_str())
    );
    assert_eq!(event.merchant_reference.as_deref(), Some("ORDER-IDS"));
    h.emulator.shutdown().await;
}
