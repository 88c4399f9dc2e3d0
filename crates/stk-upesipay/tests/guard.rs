//! UpesiPay's STK abuse protection, end to end over HTTP: the emulator enforces the
//! documented rules, and `stk_core::Guarded` with `stk_upesipay::guard_rules()` keeps a client
//! below them without sending the push that could trip a block.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use stk_core::{
    AccountRule, Error, GuardRules, GuardScope, Guarded, PollPolicy, StkProvider, wait_for_final,
};
use stk_emulator::{Endpoint, UpesiPayAbuseRules, UpesiPayEmulatorConfig};
use stk_upesipay::ABUSE_CODE;

const CANCELS: &str = "0700000001";
const PAYS: &str = "0712345678";
const HOUR: Duration = Duration::from_secs(3600);

fn poll() -> PollPolicy {
    PollPolicy::default()
        .intervals(Duration::from_millis(10), Duration::from_millis(50))
        .deadline(Duration::from_secs(10))
}

/// Pushes and waits for the final status, as an application would (so a guard learns it).
async fn push_and_wait(p: &dyn StkProvider, phone: &str, n: usize) -> Result<String, Error> {
    let accepted = p
        .initiate(&common::request(phone, &format!("ABUSE-{n}")))
        .await?;
    let status = wait_for_final(p, &accepted.payment_id, &poll()).await?;
    Ok(status.as_str().to_owned())
}

/// Runs on the current-thread runtime (so the clock can be paused later): the HTTP part in
/// real time, then the clock is paused and moved 24 h.
#[tokio::test]
async fn guard_refuses_the_eleventh_cancelled_push_locally_then_clears() {
    let h = common::Harness::start().await;
    let guarded = Guarded::new(h.provider(), stk_upesipay::guard_rules());
    for n in 0..10 {
        assert_eq!(push_and_wait(&guarded, CANCELS, n).await.unwrap(), "failed");
    }
    let sent = h.emulator.ledger().requests_to(Endpoint::Initiate).len();
    assert_eq!(sent, 10);

    let err = guarded
        .initiate(&common::request(CANCELS, "ABUSE-10"))
        .await
        .unwrap_err();
    let Error::Guarded {
        scope, clears_in, ..
    } = &err
    else {
        panic!("expected guarded, got {err}")
    };
    assert_eq!(*scope, GuardScope::Phone);
    assert!(
        *clears_in > 23 * HOUR && *clears_in <= 24 * HOUR,
        "{clears_in:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(
        h.emulator.ledger().requests_to(Endpoint::Initiate).len(),
        sent,
        "the refused push never reached the emulator"
    );

    // Other numbers are unaffected.
    assert_eq!(
        push_and_wait(&guarded, PAYS, 11).await.unwrap(),
        "completed"
    );

    // After the window the number is allowed again. Pause the clock only now (real HTTP
    // under a paused clock would fire client timeouts at once), jump past the window, and
    // resume for the real push.
    tokio::time::pause();
    tokio::time::advance(*clears_in - Duration::from_secs(1)).await;
    assert_eq!(
        guarded
            .check(&stk_core::PhoneNumber::parse(CANCELS).unwrap())
            .await
            .unwrap_err()
            .kind(),
        "guarded"
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    tokio::time::resume();
    let before = h.emulator.ledger().requests_to(Endpoint::Initiate).len();
    assert_eq!(
        push_and_wait(&guarded, CANCELS, 12).await.unwrap(),
        "failed"
    );
    assert_eq!(
        h.emulator.ledger().requests_to(Endpoint::Initiate).len(),
        before + 1
    );
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_guard_the_emulator_blocks_the_number_as_documented() {
    let h = common::Harness::start().await;
    let provider = h.provider();
    // "More than 10 successive failed or cancelled": pushes 1 to 11 reach M-Pesa and fail.
    for n in 0..11 {
        assert_eq!(
            push_and_wait(&provider, CANCELS, n).await.unwrap(),
            "failed"
        );
    }
    let err = provider
        .initiate(&common::request(CANCELS, "ABUSE-BLOCKED"))
        .await
        .unwrap_err();
    let Error::Rejected { code, message, .. } = &err else {
        panic!("expected rejected, got {err}")
    };
    assert_eq!(code.as_deref(), Some(ABUSE_CODE));
    assert!(message.contains("STK Abuse Protection"), "{message}");
    assert!(!err.is_retryable());
    assert!(
        h.emulator
            .ledger()
            .charges_for_reference("ABUSE-BLOCKED")
            .is_empty()
    );
    let last = h.emulator.ledger().requests().pop().unwrap();
    assert_eq!(last.endpoint, Endpoint::Initiate);

    // Other numbers are unaffected.
    assert_eq!(
        push_and_wait(&provider, PAYS, 20).await.unwrap(),
        "completed"
    );
    // Still blocked just before 24 h; allowed after.
    h.emulator.advance_clock(23 * HOUR);
    assert_eq!(
        provider
            .initiate(&common::request(CANCELS, "ABUSE-23H"))
            .await
            .unwrap_err()
            .kind(),
        "rejected"
    );
    h.emulator.advance_clock(HOUR);
    provider
        .initiate(&common::request(CANCELS, "ABUSE-24H"))
        .await
        .unwrap();
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_per_number_and_blocks_restart_after_the_clock_moves() {
    let h = common::Harness::start_with(UpesiPayEmulatorConfig::default().abuse_rules(
        UpesiPayAbuseRules::new(Some(2), 24 * HOUR, 6 * HOUR, vec![]),
    ))
    .await;
    let provider = h.provider();
    // Completions on another number in between do not end the cancelling number's run.
    for n in 0..3 {
        assert_eq!(
            push_and_wait(&provider, CANCELS, n).await.unwrap(),
            "failed"
        );
        assert_eq!(
            push_and_wait(&provider, PAYS, 10 + n).await.unwrap(),
            "completed"
        );
    }
    let blocked = |r: Result<stk_core::PushAccepted, Error>| matches!(r, Err(Error::Rejected { code: Some(ref c), .. }) if c == ABUSE_CODE);
    assert!(blocked(
        provider.initiate(&common::request(CANCELS, "RUN-1")).await
    ));
    // After the block, a new run starts from zero and a new block lasts the full 24 h,
    // dated on the moved clock.
    h.emulator.advance_clock(24 * HOUR);
    for n in 0..3 {
        assert_eq!(
            push_and_wait(&provider, CANCELS, 20 + n).await.unwrap(),
            "failed"
        );
    }
    assert!(blocked(
        provider.initiate(&common::request(CANCELS, "RUN-2")).await
    ));
    h.emulator.advance_clock(23 * HOUR);
    assert!(blocked(
        provider.initiate(&common::request(CANCELS, "RUN-3")).await
    ));
    h.emulator.advance_clock(HOUR);
    provider
        .initiate(&common::request(CANCELS, "RUN-4"))
        .await
        .unwrap();
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_restriction_with_a_small_configured_window() {
    let h = common::Harness::start_with(UpesiPayEmulatorConfig::default().abuse_rules(
        UpesiPayAbuseRules::new(None, Duration::ZERO, HOUR, vec![(3, 4 * HOUR)]),
    ))
    .await;
    let provider = h.provider();
    // Four failures (more than 3) on four numbers within the window.
    for (n, phone) in ["0700000001", "0700000002", "0700000003", "0700000004"]
        .into_iter()
        .enumerate()
    {
        assert_eq!(push_and_wait(&provider, phone, n).await.unwrap(), "failed");
    }
    let err = provider
        .initiate(&common::request(PAYS, "ACCOUNT"))
        .await
        .unwrap_err();
    let Error::Rejected { code, message, .. } = &err else {
        panic!("expected rejected, got {err}")
    };
    assert_eq!(code.as_deref(), Some(ABUSE_CODE));
    assert!(message.contains("General Abuse Protection"), "{message}");
    h.emulator.advance_clock(4 * HOUR);
    assert_eq!(
        push_and_wait(&provider, PAYS, 9).await.unwrap(),
        "completed"
    );

    // The guard's account rule keeps the client below it: after 3 failures it refuses.
    h.emulator.advance_clock(2 * HOUR);
    let guarded = Guarded::new(
        h.provider(),
        GuardRules::new("upesipay", None, vec![AccountRule::new(3, HOUR)]),
    );
    for (n, phone) in ["0700000001", "0700000002", "0700000003"]
        .into_iter()
        .enumerate()
    {
        push_and_wait(&guarded, phone, 30 + n).await.unwrap();
    }
    let before = h.emulator.ledger().requests_to(Endpoint::Initiate).len();
    let err = guarded
        .initiate(&common::request(PAYS, "GUARDED-ACCOUNT"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Guarded {
                scope: GuardScope::Account,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        h.emulator.ledger().requests_to(Endpoint::Initiate).len(),
        before
    );
    h.emulator.shutdown().await;
}
