//! The shared contract suite, over real HTTP against the Daraja emulator (OAuth token,
//! push, query), with callbacks delivered by the emulator to a local receiver.
#![allow(clippy::unwrap_used)]

mod common;

use stk_contract::ContractConfig;
use stk_emulator::Endpoint;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract() {
    let h = common::Harness::start().await;
    let provider = h.provider();
    // Daraja's query answer has no receipt; the callback has it.
    let cfg = ContractConfig::real_time().without_receipt_on_status();
    stk_contract::run_all(&provider, &cfg, Some(&h)).await;
    assert!(!h.emulator.ledger().charges().is_empty());
    let attempts = h.emulator.callback_attempts();
    assert!(!attempts.is_empty());
    assert!(attempts.iter().all(|a| a.acknowledged), "{attempts:?}");
    // One token served the whole suite.
    assert_eq!(h.token_requests(), 1);
    assert!(
        h.emulator
            .ledger()
            .requests_to(Endpoint::Initiate)
            .iter()
            .all(|r| r.header("authorization") == Some("[redacted]"))
    );
    h.emulator.shutdown().await;
}
