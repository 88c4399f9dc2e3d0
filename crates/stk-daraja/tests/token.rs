//! The OAuth token against the emulator: one fetch for many concurrent pushes, refreshed
//! before it expires (tokio's paused clock), refreshed once when Daraja refuses it (the push
//! sent once more, one charge), and the sandbox defaults working out of the box.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use stk_core::{PaymentStatus, PollPolicy, StkProvider, StkPushRequest, wait_for_final};
use stk_daraja::{Daraja, DarajaConfig, SANDBOX_PASSKEY, SANDBOX_SHORTCODE};
use stk_emulator::{DarajaEmulatorConfig, Endpoint};

fn push(reference: &str) -> StkPushRequest {
    StkPushRequest::builder()
        .phone("0712345678")
        .amount(100)
        .reference(reference)
        .build()
        .unwrap()
}

fn poll() -> PollPolicy {
    PollPolicy::default()
        .intervals(Duration::from_millis(10), Duration::from_millis(50))
        .deadline(Duration::from_secs(10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_pushes_share_one_token_fetch() {
    let h = common::Harness::start().await;
    let provider = h.provider();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let provider = provider.clone();
            tokio::spawn(async move { provider.initiate(&push(&format!("CONC-{i}"))).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(h.token_requests(), 1, "one token fetch for 100 pushes");
    assert_eq!(h.emulator.ledger().charges().len(), 100);
    assert_eq!(
        h.emulator.ledger().requests_to(Endpoint::Initiate).len(),
        100
    );
    h.emulator.shutdown().await;
}

/// Moves tokio's clock (which the adapter's token cache and the emulator's token expiry both
/// use) forward by `by`, then lets it run again.
async fn jump(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}

#[tokio::test]
async fn the_token_is_refreshed_before_it_expires() {
    let h = common::Harness::start().await;
    let provider = h.provider();
    provider.initiate(&push("CLOCK-1")).await.unwrap();
    assert_eq!(h.token_requests(), 1);

    // 53 minutes on: the token (3599 s) is still fresh.
    jump(Duration::from_secs(3200)).await;
    provider.initiate(&push("CLOCK-2")).await.unwrap();
    assert_eq!(h.token_requests(), 1, "still cached");

    // 55 min 50 s on: under five minutes left, so a new token is fetched before the old one
    // expires (the emulator would still accept it), and no request is ever refused.
    jump(Duration::from_secs(150)).await;
    provider.initiate(&push("CLOCK-3")).await.unwrap();
    assert_eq!(h.token_requests(), 2, "refreshed before expiry");
    assert_eq!(
        h.emulator.ledger().requests_to(Endpoint::Initiate).len(),
        3,
        "no push was refused and re-sent"
    );
    h.emulator.shutdown().await;
}

#[tokio::test]
async fn a_short_lived_token_is_refreshed_by_its_expires_in() {
    let h = common::Harness::start_with(
        DarajaEmulatorConfig::default().token_lifetime(Duration::from_secs(60)),
    )
    .await;
    let provider = h.provider();
    provider.initiate(&push("SHORT-1")).await.unwrap();
    jump(Duration::from_secs(50)).await;
    provider.initiate(&push("SHORT-2")).await.unwrap();
    assert_eq!(h.token_requests(), 1);
    // A tenth of 60 s before expiry: refreshed.
    jump(Duration::from_secs(5)).await;
    provider.initiate(&push("SHORT-3")).await.unwrap();
    assert_eq!(h.token_requests(), 2);
    assert_eq!(h.emulator.ledger().requests_to(Endpoint::Initiate).len(), 3);
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_refreshed_once_and_the_request_sent_once_more() {
    let h = common::Harness::start().await;
    let provider = h.provider();
    provider.initiate(&push("REVOKE-0")).await.unwrap();
    assert_eq!(h.token_requests(), 1);

    // Daraja refuses the cached token (404.001.03) before processing the push: the adapter
    // fetches a new one and sends the push once more; exactly one charge.
    h.emulator.revoke_tokens();
    let accepted = provider.initiate(&push("REVOKE-1")).await.unwrap();
    assert_eq!(h.token_requests(), 2);
    let pushes = h.emulator.ledger().requests_to(Endpoint::Initiate);
    assert_eq!(pushes.len(), 3, "the refused push was sent once more");
    assert_eq!(
        h.emulator.ledger().charges_for_reference("REVOKE-1").len(),
        1
    );

    // The same for a status query.
    h.emulator.revoke_tokens();
    let status = wait_for_final(&provider, &accepted.payment_id, &poll())
        .await
        .unwrap();
    assert!(matches!(status, PaymentStatus::Completed(_)), "{status:?}");
    assert_eq!(h.token_requests(), 3);
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_defaults_work_against_the_emulator_out_of_the_box() {
    let h = common::Harness::start().await;
    assert_eq!(
        (h.emulator.shortcode(), h.emulator.passkey()),
        (SANDBOX_SHORTCODE, SANDBOX_PASSKEY)
    );
    // Only the keys, the emulator's URL and a callback URL: shortcode and passkey default.
    let env = [
        ("DARAJA_CONSUMER_KEY", h.emulator.consumer_key().to_owned()),
        (
            "DARAJA_CONSUMER_SECRET",
            h.emulator.consumer_secret().to_owned(),
        ),
        ("DARAJA_BASE_URL", h.emulator.base_url().to_owned()),
        ("DARAJA_CALLBACK_URL", h.callback_url.clone()),
    ];
    let config = DarajaConfig::from_lookup(|name| {
        env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    })
    .unwrap();
    assert_eq!(config.shortcode, SANDBOX_SHORTCODE);
    let provider = Daraja::new(config).unwrap();
    let accepted = provider.initiate(&push("SANDBOX-1")).await.unwrap();
    let status = wait_for_final(&provider, &accepted.payment_id, &poll())
        .await
        .unwrap();
    assert!(matches!(status, PaymentStatus::Completed(_)), "{status:?}");
    let callback = h.wait_callback(&accepted.payment_id).await.unwrap();
    let event = provider.parse_callback(&callback).unwrap();
    assert_eq!(event.status_id, Some(accepted.payment_id.clone()));
    let PaymentStatus::Completed(done) = event.status else {
        panic!("{event:?}")
    };
    assert_eq!(done.receipt.as_deref().map(str::len), Some(10));
    assert_eq!(done.amount.map(stk_core::Amount::shillings), Some(100));
    h.emulator.shutdown().await;
}
