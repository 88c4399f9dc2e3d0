//! The abuse guard around the fake provider, on tokio's paused clock.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use stk_core::{
    AccountRule, Error, GuardRules, GuardScope, Guarded, PhoneRule, PollPolicy, StkProvider,
    StkPushRequest, wait_for_final,
};
use stk_mock::MockProvider;

fn request(phone: &str) -> StkPushRequest {
    StkPushRequest::builder()
        .phone(phone)
        .amount(100)
        .reference("ORDER-1")
        .build()
        .unwrap()
}

/// Pushes and waits for the final status, as an application would.
async fn push_and_wait(p: &Guarded<MockProvider>, phone: &str) -> Result<(), Error> {
    let accepted = p.initiate(&request(phone)).await?;
    wait_for_final(p, &accepted.payment_id, &PollPolicy::default()).await?;
    Ok(())
}

const CANCELS: &str = "0700000001";

/// UpesiPay's documented rules (as `stk_upesipay::guard_rules()` ships them): more than 10
/// successive failures block a number for 24 h; more than 50 in 6 h restrict the account.
fn upesipay_rules() -> GuardRules {
    const HOUR: Duration = Duration::from_secs(3600);
    GuardRules::new(
        "upesipay",
        Some(PhoneRule::new(10, 24 * HOUR)),
        vec![AccountRule::new(50, 6 * HOUR)],
    )
}

#[tokio::test(start_paused = true)]
async fn eleventh_cancelled_push_is_refused_locally_then_clears() {
    let mock = MockProvider::new();
    let guarded = Guarded::new(mock.clone(), upesipay_rules());
    for _ in 0..10 {
        push_and_wait(&guarded, CANCELS).await.unwrap();
    }
    assert_eq!(mock.requests().len(), 10);

    let err = guarded.initiate(&request(CANCELS)).await.unwrap_err();
    let Error::Guarded {
        scope, clears_in, ..
    } = &err
    else {
        panic!("expected guarded, got {err}")
    };
    assert_eq!(*scope, GuardScope::Phone);
    assert!(
        *clears_in > Duration::from_secs(23 * 3600) && *clears_in <= Duration::from_secs(24 * 3600)
    );
    let clears_at = tokio::time::Instant::now() + *clears_in;
    assert_eq!(err.kind(), "guarded");
    assert!(!err.is_retryable());
    assert_eq!(
        mock.requests().len(),
        10,
        "the 11th push never reached the provider"
    );

    // Other numbers are unaffected.
    push_and_wait(&guarded, "0712345678").await.unwrap();
    assert_eq!(mock.requests().len(), 11);

    // Just before the window passes it is still refused; after, it clears.
    tokio::time::advance(clears_at - tokio::time::Instant::now() - Duration::from_secs(1)).await;
    assert_eq!(
        guarded
            .initiate(&request(CANCELS))
            .await
            .unwrap_err()
            .kind(),
        "guarded"
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    guarded.initiate(&request(CANCELS)).await.unwrap();
    assert_eq!(mock.requests().len(), 12);
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_run() {
    let phone = stk_core::PhoneNumber::parse("0722000001").unwrap();
    let mock = MockProvider::builder()
        .script(phone, stk_mock::Scenario::Cancel, Duration::from_secs(2))
        .build();
    let rules = GuardRules::new(
        "test",
        Some(PhoneRule::new(3, Duration::from_secs(3600))),
        vec![],
    );
    let guarded = Guarded::new(mock, rules);
    for _ in 0..2 {
        push_and_wait(&guarded, "0722000001").await.unwrap();
    }
    // A failure learnt from a callback counts too: the third cancel arrives by callback.
    let accepted = guarded.initiate(&request("0722000001")).await.unwrap();
    tokio::time::advance(Duration::from_secs(3)).await;
    let callback = guarded.inner().callback_for(&accepted.payment_id).unwrap();
    guarded.parse_callback(&callback).unwrap();
    guarded.parse_callback(&callback).unwrap(); // a duplicate does not count twice
    assert_eq!(
        guarded
            .initiate(&request("0722000001"))
            .await
            .unwrap_err()
            .kind(),
        "guarded"
    );
}

#[tokio::test(start_paused = true)]
async fn account_window_slides() {
    let rules = GuardRules::new(
        "test",
        None,
        vec![AccountRule::new(3, Duration::from_secs(600))],
    );
    let guarded = Guarded::new(MockProvider::new(), rules);
    for phone in ["0700000001", "0700000003", "0700000004"] {
        push_and_wait(&guarded, phone).await.unwrap();
        tokio::time::advance(Duration::from_secs(60)).await;
    }
    let err = guarded.initiate(&request("0712345678")).await.unwrap_err();
    let Error::Guarded {
        scope: GuardScope::Account,
        clears_in,
        ..
    } = err
    else {
        panic!("{err}")
    };
    tokio::time::advance(clears_in).await;
    push_and_wait(&guarded, "0712345678").await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_settled_push_is_forgotten_by_every_id() {
    let guarded = Guarded::new(MockProvider::new(), upesipay_rules());
    push_and_wait(&guarded, CANCELS).await.unwrap();
    push_and_wait(&guarded, "0700000000").await.unwrap();
    assert_eq!(guarded.pending_pushes(), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn pushes_that_never_settle_are_bounded() {
    let guarded = Guarded::new(MockProvider::new(), upesipay_rules()).pending_capacity(5);
    for _ in 0..50 {
        // 0700000007 never answers: nothing ever settles these pushes.
        guarded.initiate(&request("0700000007")).await.unwrap();
    }
    let (pushes, ids) = guarded.pending_pushes();
    assert_eq!(pushes, 5);
    assert!(ids <= 10, "{ids} ids kept for 5 pushes");
}

#[tokio::test]
async fn the_memory_store_forgets_failures_past_its_retention() {
    use stk_core::{GuardStore, MemoryGuardStore, PhoneNumber};
    const HOUR_MS: u64 = 3_600_000;
    let store = MemoryGuardStore::new(Duration::from_secs(24 * 3600));
    for n in 0..5_000u32 {
        let phone = PhoneNumber::parse(&format!("07{n:08}")).unwrap();
        store.record_failure(&phone, 0).await.unwrap();
    }
    assert_eq!(store.phones_remembered(), 5_000);
    // A day and an hour later, new failures push the old ones out (pruning is amortized:
    // it runs when the map has doubled since the last prune).
    for n in 0..8_300u32 {
        let phone = PhoneNumber::parse(&format!("011{n:07}")).unwrap();
        store.record_failure(&phone, 25 * HOUR_MS).await.unwrap();
    }
    assert_eq!(
        store.phones_remembered(),
        8_300,
        "only the recent numbers are kept"
    );
    assert_eq!(store.account_failures(0).await.unwrap().len(), 8_300);
}
