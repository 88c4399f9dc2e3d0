//! The contract every `stk` provider passes, written once against `&dyn StkProvider`.
//!
//! Like `object_store`'s integration module: each provider crate calls these functions from
//! its own tests, against the fake provider or against its loopback emulator over real HTTP.
//! Scenarios use the test numbers of [`stk_mock::TEST_NUMBERS`], which the fake provider and
//! every emulator script identically.
//!
//! ```text
//! #[tokio::test(start_paused = true)]
//! async fn contract() {
//!     let provider = stk_mock::MockProvider::new();
//!     stk_contract::run_all(&provider, &stk_contract::ContractConfig::virtual_time(), None).await;
//! }
//! ```
#![allow(clippy::unwrap_used, clippy::panic)]

#[cfg(feature = "emulator")]
pub mod faults;
#[cfg(feature = "emulator")]
pub mod receiver;
#[cfg(feature = "emulator")]
pub mod secrets;

use std::time::Duration;

use stk_core::{
    CallbackRequest, Error, FailureReason, PaymentId, PaymentStatus, PollPolicy, PushAccepted,
    StkProvider, StkPushRequest, async_trait, wait_for_final,
};
use stk_mock::Scenario;

/// How the suite waits: virtual time for in-memory providers, short real intervals for
/// emulators over HTTP.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ContractConfig {
    /// The policy for waiting on payments that do finish.
    pub poll: PollPolicy,
    /// The deadline used for the payment that never answers.
    pub pending_deadline: Duration,
    /// An amount the provider accepts.
    pub amount: u64,
    /// Whether a completed status query carries the M-Pesa receipt (default `true`). Daraja's
    /// query answer has only the result code: its receipt comes in the callback, which the
    /// callback scenario then checks instead.
    pub receipt_on_status: bool,
}

impl ContractConfig {
    /// For providers on tokio's clock, run under `tokio::time::pause()`.
    pub fn virtual_time() -> Self {
        Self {
            poll: PollPolicy::default(),
            pending_deadline: Duration::from_secs(120),
            amount: 100,
            receipt_on_status: true,
        }
    }

    /// For emulators on real time whose payments resolve within a few hundred milliseconds.
    pub fn real_time() -> Self {
        Self {
            poll: PollPolicy::default()
                .intervals(Duration::from_millis(10), Duration::from_millis(50))
                .deadline(Duration::from_secs(10)),
            pending_deadline: Duration::from_millis(300),
            amount: 100,
            receipt_on_status: true,
        }
    }

    /// For providers whose status answer has no receipt (Daraja): the callback scenario checks
    /// that the callback of a completed payment carries it.
    pub fn without_receipt_on_status(mut self) -> Self {
        self.receipt_on_status = false;
        self
    }
}

/// Where the suite gets callbacks, for providers that send them.
#[async_trait]
pub trait CallbackSource: Sync {
    /// The final callback for a payment, as the merchant's server would receive it.
    async fn final_callback(&self, id: &PaymentId) -> Option<CallbackRequest>;
    /// The same callback with its secret wrong or missing, as a forger would send it.
    fn forge(&self, genuine: &CallbackRequest) -> CallbackRequest;
}

/// The push for a scenario. Its reference, `CONTRACT-` and the test number's last two digits,
/// fits every provider (Daraja's `AccountReference` takes at most 12 characters).
fn request(scenario: Scenario, cfg: &ContractConfig) -> StkPushRequest {
    let local = scenario.phone().local();
    let suffix = local.get(local.len().saturating_sub(2)..).unwrap_or("00");
    StkPushRequest::builder()
        .phone(scenario.phone())
        .amount(cfg.amount)
        .reference(format!("CONTRACT-{suffix}"))
        .build()
        .unwrap()
}

/// A push to a normal number is accepted, pending, with a non-empty id.
pub async fn accepts_push(p: &dyn StkProvider, cfg: &ContractConfig) -> PushAccepted {
    let accepted = p
        .initiate(&request(Scenario::Complete, cfg))
        .await
        .unwrap_or_else(|e| panic!("{}: push should be accepted: {e}", p.name()));
    assert!(
        !accepted.payment_id.as_str().is_empty(),
        "{}: empty payment id",
        p.name()
    );
    assert_eq!(accepted.provider, p.name());
    assert!(
        !accepted.status.is_final(),
        "{}: fresh push already final",
        p.name()
    );
    let now = p.status(&accepted.payment_id).await.unwrap();
    assert!(!now.is_final() || matches!(now, PaymentStatus::Completed(_)));
    accepted
}

/// The completing number ends `Completed` with a receipt.
pub async fn completes(p: &dyn StkProvider, cfg: &ContractConfig) {
    let accepted = p.initiate(&request(Scenario::Complete, cfg)).await.unwrap();
    let status = wait_for_final(p, &accepted.payment_id, &cfg.poll)
        .await
        .unwrap();
    let PaymentStatus::Completed(done) = status else {
        panic!("{}: expected completed, got {status:?}", p.name())
    };
    if cfg.receipt_on_status {
        let receipt = done.receipt.unwrap_or_default();
        assert!(
            !receipt.is_empty(),
            "{}: completed without a receipt",
            p.name()
        );
    }
}

/// Each failing number ends `Failed` with the right reason and the M-Pesa code kept.
pub async fn fails_with(
    p: &dyn StkProvider,
    cfg: &ContractConfig,
    scenario: Scenario,
    reason: FailureReason,
) {
    let accepted = p.initiate(&request(scenario, cfg)).await.unwrap();
    let status = wait_for_final(p, &accepted.payment_id, &cfg.poll)
        .await
        .unwrap();
    let PaymentStatus::Failed(failure) = status else {
        panic!(
            "{}: {scenario:?}: expected failed, got {status:?}",
            p.name()
        )
    };
    assert_eq!(failure.reason, reason, "{}: {scenario:?}", p.name());
    let (code, _) = scenario.result().unwrap();
    assert_eq!(
        failure.code.as_ref(),
        Some(&code),
        "{}: {scenario:?} code",
        p.name()
    );
}

/// Cancelled, timed out, insufficient funds, wrong PIN, subscriber busy.
pub async fn failures(p: &dyn StkProvider, cfg: &ContractConfig) {
    for (scenario, reason) in [
        (Scenario::Cancel, FailureReason::Cancelled),
        (Scenario::Timeout, FailureReason::Timeout),
        (
            Scenario::InsufficientFunds,
            FailureReason::InsufficientFunds,
        ),
        (Scenario::WrongPin, FailureReason::WrongPin),
        (Scenario::SubscriberBusy, FailureReason::SubscriberBusy),
    ] {
        fails_with(p, cfg, scenario, reason).await;
    }
}

/// Amounts outside the provider's limits are refused before sending, as invalid requests.
pub async fn rejects_amounts_outside_limits(p: &dyn StkProvider, cfg: &ContractConfig) {
    let limits = p.limits();
    let mut amounts = vec![limits.max + 1];
    if limits.min > 1 {
        amounts.push(limits.min - 1);
    }
    for amount in amounts {
        let req = StkPushRequest::builder()
            .phone(Scenario::Complete.phone())
            .amount(amount)
            .reference("CONTRACT-LIM")
            .build()
            .unwrap();
        let err = p.initiate(&req).await.unwrap_err();
        assert_eq!(
            err.kind(),
            "invalid_request",
            "{}: amount {amount}: {err}",
            p.name()
        );
    }
    let _ = cfg;
}

/// The number scripted to be refused gives `rejected`; the one scripted to be down gives a
/// retryable `unavailable`.
pub async fn refusals_at_initiate(p: &dyn StkProvider, cfg: &ContractConfig) {
    let err = p
        .initiate(&request(Scenario::RejectAtInitiate, cfg))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "rejected", "{}: {err}", p.name());
    assert!(!err.is_retryable());
    let err = p
        .initiate(&request(Scenario::UnavailableAtInitiate, cfg))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "unavailable", "{}: {err}", p.name());
    assert!(err.is_retryable());
}

/// A status query for an id the provider never issued is `unknown_payment`.
pub async fn unknown_payment(p: &dyn StkProvider) {
    let err = p
        .status(&PaymentId::new("NO-SUCH-PAYMENT"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UnknownPayment { .. }),
        "{}: {err}",
        p.name()
    );
}

/// A payment that never answers makes `wait_for_final` give up with `still_pending`.
pub async fn wait_deadline(p: &dyn StkProvider, cfg: &ContractConfig) {
    let accepted = p
        .initiate(&request(Scenario::NeverAnswers, cfg))
        .await
        .unwrap();
    let policy = cfg.poll.clone().deadline(cfg.pending_deadline);
    let err = wait_for_final(p, &accepted.payment_id, &policy)
        .await
        .unwrap_err();
    let Error::StillPending { waited, .. } = err else {
        panic!("{}: expected still_pending, got {err}", p.name())
    };
    assert!(
        waited >= cfg.pending_deadline,
        "{}: gave up early",
        p.name()
    );
}

/// Genuine callbacks parse to the final status; repeats de-duplicate; forged and malformed
/// ones are refused as `invalid_callback`.
pub async fn callbacks(p: &dyn StkProvider, cfg: &ContractConfig, source: &dyn CallbackSource) {
    for scenario in [Scenario::Complete, Scenario::Cancel] {
        let accepted = p.initiate(&request(scenario, cfg)).await.unwrap();
        let status = wait_for_final(p, &accepted.payment_id, &cfg.poll)
            .await
            .unwrap();
        let genuine = source
            .final_callback(&accepted.payment_id)
            .await
            .unwrap_or_else(|| panic!("{}: no callback for {scenario:?}", p.name()));
        let event = p.parse_callback(&genuine).unwrap();
        assert_eq!(
            event.status.as_str(),
            status.as_str(),
            "{}: {scenario:?}",
            p.name()
        );
        assert_eq!(event.provider, p.name());
        if !cfg.receipt_on_status {
            if let PaymentStatus::Completed(done) = &event.status {
                assert!(
                    done.receipt.as_deref().is_some_and(|r| !r.is_empty()),
                    "{}: completed callback without a receipt",
                    p.name()
                );
            }
        }
        let again = p.parse_callback(&genuine).unwrap();
        let mut seen = stk_core::SeenEvents::new(16);
        assert!(seen.first_time(&event));
        assert!(
            !seen.first_time(&again),
            "{}: duplicate not detected",
            p.name()
        );

        let forged = source.forge(&genuine);
        let err = p.parse_callback(&forged).unwrap_err();
        assert_eq!(
            err.kind(),
            "invalid_callback",
            "{}: forged callback accepted",
            p.name()
        );
    }
    let mut malformed = source.forge(&CallbackRequest::new(b"{}".to_vec()));
    malformed.body = b"{\"truncated\": ".to_vec();
    assert!(p.parse_callback(&malformed).is_err());
    let garbage = CallbackRequest::new(vec![0xff, 0xfe, 0x00]);
    assert_eq!(
        p.parse_callback(&garbage).unwrap_err().kind(),
        "invalid_callback"
    );
}

/// Every scenario above, except [`callbacks`], which needs a [`CallbackSource`] (pass it).
pub async fn run_all(
    p: &dyn StkProvider,
    cfg: &ContractConfig,
    source: Option<&dyn CallbackSource>,
) {
    accepts_push(p, cfg).await;
    completes(p, cfg).await;
    failures(p, cfg).await;
    rejects_amounts_outside_limits(p, cfg).await;
    refusals_at_initiate(p, cfg).await;
    unknown_payment(p).await;
    wait_deadline(p, cfg).await;
    if let Some(source) = source {
        callbacks(p, cfg, source).await;
    }
}
