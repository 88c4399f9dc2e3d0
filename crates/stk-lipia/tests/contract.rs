//! The shared contract suite, over real HTTP against the Lipia emulator, with callbacks
//! delivered by the emulator to a local receiver (nested and flat shapes).
#![allow(clippy::unwrap_used)]

mod common;

use stk_contract::ContractConfig;
use stk_emulator::LipiaCallbackShape;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_nested_callbacks() {
    let h = common::Harness::start(LipiaCallbackShape::Nested).await;
    let provider = h.provider();
    stk_contract::run_all(&provider, &ContractConfig::real_time(), Some(&h)).await;
    assert!(!h.emulator.ledger().charges().is_empty());
    let attempts = h.emulator.callback_attempts();
    assert!(!attempts.is_empty());
    assert!(attempts.iter().all(|a| a.acknowledged), "{attempts:?}");
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_flat_callbacks() {
    let h = common::Harness::start(LipiaCallbackShape::Flat).await;
    let provider = h.provider();
    stk_contract::run_all(&provider, &ContractConfig::real_time(), Some(&h)).await;
    h.emulator.shutdown().await;
}
