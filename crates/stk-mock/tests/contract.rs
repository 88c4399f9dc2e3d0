//! The fake provider passes the shared contract suite, on tokio's paused clock.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use stk_contract::{CallbackSource, ContractConfig};
use stk_core::{
    CallbackRequest, PaymentId, PaymentStatus, PollPolicy, StkProvider, StkPushRequest,
    async_trait, wait_for_final,
};
use stk_mock::{CALLBACK_TOKEN_HEADER, MockProvider, Scenario};

struct MockCallbacks(MockProvider);

#[async_trait]
impl CallbackSource for MockCallbacks {
    async fn final_callback(&self, id: &PaymentId) -> Option<CallbackRequest> {
        self.0.callback_for(id)
    }
    fn forge(&self, genuine: &CallbackRequest) -> CallbackRequest {
        let mut forged = CallbackRequest::new(genuine.body.clone());
        forged.headers = genuine
            .headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(CALLBACK_TOKEN_HEADER))
            .cloned()
            .collect();
        forged.header(CALLBACK_TOKEN_HEADER, "guessed-token")
    }
}

#[tokio::test(start_paused = true)]
async fn fake_provider_passes_the_contract() {
    let provider = MockProvider::new();
    let source = MockCallbacks(provider.clone());
    stk_contract::run_all(&provider, &ContractConfig::virtual_time(), Some(&source)).await;
}

#[tokio::test(start_paused = true)]
async fn contract_holds_through_arc_dyn() {
    let provider: std::sync::Arc<dyn StkProvider> = std::sync::Arc::new(MockProvider::new());
    stk_contract::run_all(&provider, &ContractConfig::virtual_time(), None).await;
}

fn request(phone: &str) -> StkPushRequest {
    StkPushRequest::builder()
        .phone(phone)
        .amount(250)
        .reference("ORDER-9")
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn status_follows_virtual_time() {
    let provider = MockProvider::builder()
        .delay(Duration::from_secs(30))
        .build();
    let accepted = provider.initiate(&request("0712345678")).await.unwrap();
    let id = &accepted.payment_id;
    assert_eq!(provider.status(id).await.unwrap(), PaymentStatus::Pending);
    tokio::time::advance(Duration::from_secs(15)).await;
    assert_eq!(
        provider.status(id).await.unwrap(),
        PaymentStatus::Processing
    );
    tokio::time::advance(Duration::from_secs(15)).await;
    let PaymentStatus::Completed(done) = provider.status(id).await.unwrap() else {
        panic!("not completed")
    };
    assert_eq!(done.amount.map(|a| a.shillings()), Some(250));
}

#[tokio::test(start_paused = true)]
async fn events_are_emitted_on_processing_and_final() {
    let provider = MockProvider::builder()
        .delay(Duration::from_secs(4))
        .build();
    let mut events = provider.subscribe();
    let accepted = provider.initiate(&request("0700000003")).await.unwrap();
    let first = events.recv().await.unwrap();
    assert_eq!(first.status, PaymentStatus::Processing);
    let last = events.recv().await.unwrap();
    assert_eq!(last.payment_id.as_ref(), Some(&accepted.payment_id));
    assert_eq!(last.merchant_reference.as_deref(), Some("ORDER-9"));
    assert!(
        matches!(last.status, PaymentStatus::Failed(ref f) if f.reason == stk_core::FailureReason::InsufficientFunds)
    );
}

#[tokio::test(start_paused = true)]
async fn per_number_scripts_override_the_table() {
    let phone = stk_core::PhoneNumber::parse("0722000000").unwrap();
    let provider = MockProvider::builder()
        .script(phone, Scenario::WrongPin, Duration::from_secs(90))
        .build();
    let accepted = provider.initiate(&request("0722000000")).await.unwrap();
    let started = tokio::time::Instant::now();
    let status = wait_for_final(&provider, &accepted.payment_id, &PollPolicy::default())
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(90));
    assert!(
        matches!(status, PaymentStatus::Failed(ref f) if f.reason == stk_core::FailureReason::WrongPin)
    );
    assert_eq!(provider.requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn deadline_defaults_to_two_minutes() {
    let provider = MockProvider::new();
    let accepted = provider.initiate(&request("0700000007")).await.unwrap();
    let started = tokio::time::Instant::now();
    let err = wait_for_final(&provider, &accepted.payment_id, &PollPolicy::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "still_pending");
    assert_eq!(started.elapsed(), Duration::from_secs(120));
}

#[tokio::test(start_paused = true)]
async fn limits_are_enforced_before_anything_is_recorded() {
    let provider = MockProvider::builder()
        .limits(stk_core::AmountLimits::up_to_mpesa_cap("kulmipay", 10))
        .build();
    let req = StkPushRequest::builder()
        .phone("0712345678")
        .amount(9)
        .reference("R")
        .build()
        .unwrap();
    assert_eq!(
        provider.initiate(&req).await.unwrap_err().kind(),
        "invalid_request"
    );
    assert!(provider.requests().is_empty());
}
