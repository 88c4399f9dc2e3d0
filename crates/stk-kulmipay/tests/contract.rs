//! The shared contract suite, over real HTTP against the KulmiPay emulator, for both API
//! generations, with webhooks delivered by the emulator to a local receiver.
#![allow(clippy::unwrap_used)]

mod common;

use stk_contract::ContractConfig;
use stk_kulmipay::ApiGeneration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_express() {
    let h = common::Harness::start(false).await;
    let provider = h.provider(ApiGeneration::Express);
    stk_contract::run_all(&provider, &ContractConfig::real_time(), Some(&h.webhooks)).await;
    assert!(!h.emulator.ledger().charges().is_empty());
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_collection_with_signed_webhooks() {
    let h = common::Harness::start(true).await;
    let provider = h.provider(ApiGeneration::Collection);
    stk_contract::run_all(&provider, &ContractConfig::real_time(), Some(&h.webhooks)).await;
    let charges = h.emulator.ledger().charges();
    assert!(charges.iter().all(|c| c.api == "collection"));
    assert!(charges.iter().all(|c| c.id.starts_with("INV-")));
    h.emulator.shutdown().await;
}
