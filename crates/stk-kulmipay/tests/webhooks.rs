//! Webhooks delivered by the emulator: one per state change, verified by the adapter.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use stk_core::{PaymentStatus, StkProvider, StkPushRequest};
use stk_kulmipay::ApiGeneration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_change_is_delivered_and_verifies() {
    for (sign, api) in [
        (false, ApiGeneration::Express),
        (true, ApiGeneration::Collection),
    ] {
        let h = common::Harness::start(sign).await;
        let provider = h.provider(api);
        let request = StkPushRequest::builder()
            .phone("0700000001")
            .amount(250)
            .reference("ORDER-HOOK")
            .build()
            .unwrap();
        let accepted = provider.initiate(&request).await.unwrap();
        let id = accepted.payment_id.as_str().to_owned();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while h.webhooks.for_invoice(&id).len() < 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "webhooks not delivered"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let hooks = h.webhooks.for_invoice(&id);
        let states: Vec<&str> = hooks.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(states, ["PENDING", "PROCESSING", "FAILED"]);
        for (_, cb) in &hooks {
            assert_eq!(cb.header_value("x-kulmipay-signature").is_some(), sign);
            let event = provider.parse_callback(cb).unwrap();
            assert_eq!(event.payment_id.as_ref(), Some(&accepted.payment_id));
            assert_eq!(event.merchant_reference.as_deref(), Some("ORDER-HOOK"));
        }
        let last = provider.parse_callback(&hooks[2].1).unwrap();
        assert!(
            matches!(last.status, PaymentStatus::Failed(ref f) if f.reason == stk_core::FailureReason::Cancelled)
        );
        // The emulator's own rendering matches what was delivered.
        let rendered = h.emulator.callback_for(&id).unwrap();
        assert_eq!(
            provider.parse_callback(&rendered).unwrap().status,
            last.status
        );
        let deliveries = h.emulator.ledger().webhooks();
        assert!(
            deliveries
                .iter()
                .all(|d| d.status == Some(200) && d.attempt == 1)
        );
        h.emulator.shutdown().await;
    }
}
