//! The fault matrix: every fault the emulator injects gives its documented error kind, nothing
//! panics, the adapter never re-sends a push, and the ledger never shows a duplicate charge.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use stk_core::{
    Error, Operation, PaymentId, PaymentStatus, PollPolicy, StkProvider, StkPushRequest,
    wait_for_final,
};
use stk_lipia::{Lipia, LipiaConfig};
use stk_mock::emulator::{Endpoint, Fault, LipiaCallbackShape};

fn faults() -> Vec<Fault> {
    vec![
        Fault::RateLimited {
            retry_after: Some(Duration::from_secs(1)),
        },
        Fault::Status(500),
        Fault::Status(502),
        Fault::Status(503),
        Fault::HtmlError(502),
        Fault::MalformedJson,
        Fault::TruncatedJson,
        Fault::ExtraFields,
        Fault::MissingFields,
        Fault::Slow(Duration::from_secs(2)),
        Fault::CloseBeforeBody,
        Fault::CloseAfterBody,
    ]
}

fn label(fault: &Fault) -> String {
    match fault {
        Fault::Status(s) => format!("status_{s}"),
        Fault::HtmlError(s) => format!("html_error_{s}"),
        other => other.name().to_owned(),
    }
}

fn request(reference: &str) -> StkPushRequest {
    StkPushRequest::builder()
        .phone("0712345678")
        .amount(100)
        .reference(reference)
        .build()
        .unwrap()
}

fn kind(result: &Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(Error::OutcomeUnknown { operation, .. }) => format!("outcome_unknown({operation})"),
        Err(e) => e.kind().to_owned(),
    }
}

fn poll() -> PollPolicy {
    PollPolicy::default()
        .intervals(Duration::from_millis(10), Duration::from_millis(50))
        .deadline(Duration::from_secs(10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    let h = common::Harness::start(LipiaCallbackShape::Nested).await;
    let provider = Lipia::new(
        h.config()
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap(),
    )
    .unwrap();
    let ledger = h.emulator.ledger().clone();
    let mut lines = Vec::new();

    for (i, fault) in faults().into_iter().enumerate() {
        // Initiate under the fault.
        let reference = format!("FAULT-I-{i}");
        let before = ledger.requests_to(Endpoint::Initiate).len();
        h.emulator
            .faults()
            .push_for(Endpoint::Initiate, fault.clone());
        let result = provider.initiate(&request(&reference)).await;
        let sent = ledger.requests_to(Endpoint::Initiate).len() - before;
        let charges = ledger.charges_for_reference(&reference);
        assert_eq!(
            sent, 1,
            "{fault:?}: the adapter must send a push exactly once"
        );
        assert!(charges.len() <= 1, "{fault:?}: duplicate charge");
        assert_eq!(
            charges.len(),
            usize::from(fault.processes_request()),
            "{fault:?}: charge created iff the emulator processed the push"
        );
        if let Err(e) = &result {
            if e.kind() == "outcome_unknown" {
                assert!(!e.is_retryable(), "outcome_unknown must never be retryable");
            }
        }
        if let Fault::RateLimited { retry_after } = &fault {
            assert_eq!(result.as_ref().unwrap_err().retry_after(), *retry_after);
        }
        // Whatever the answer, the charge (if any) resolves through status.
        let resolved = match charges.first() {
            Some(charge) => {
                let status = wait_for_final(&provider, &PaymentId::new(&charge.id), &poll())
                    .await
                    .unwrap();
                assert!(matches!(status, PaymentStatus::Completed(_)), "{fault:?}");
                status.as_str()
            }
            None => "-",
        };
        lines.push(format!(
            "initiate {:<18} -> {:<26} charges={} resolved={resolved}",
            label(&fault),
            kind(&result),
            charges.len(),
        ));

        // Status under the fault, for a healthy payment.
        let accepted = provider
            .initiate(&request(&format!("FAULT-S-{i}")))
            .await
            .unwrap();
        h.emulator
            .faults()
            .push_for(Endpoint::Status, fault.clone());
        let result = provider.status(&accepted.payment_id).await;
        if let Err(Error::OutcomeUnknown { operation, .. }) = &result {
            assert_eq!(*operation, Operation::Status);
        }
        // And polling rides over the fault (transient) or stops on it.
        h.emulator
            .faults()
            .push_for(Endpoint::Status, fault.clone());
        let waited = wait_for_final(&provider, &accepted.payment_id, &poll()).await;
        lines.push(format!(
            "status   {:<18} -> {:<26} wait_for_final={}",
            label(&fault),
            kind(&result),
            match &waited {
                Ok(s) => s.as_str().to_owned(),
                Err(e) => e.kind().to_owned(),
            }
        ));
    }
    assert_eq!(h.emulator.faults().pending(), 0);
    // Every reference was charged at most once.
    let charges = ledger.charges();
    for c in &charges {
        let reference = c.reference.as_deref().unwrap();
        assert_eq!(ledger.charges_for_reference(reference).len(), 1, "{c:?}");
    }
    h.emulator.shutdown().await;
    insta::assert_snapshot!(lines.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_push_resolves_by_status_with_exactly_one_charge() {
    let h = common::Harness::start(LipiaCallbackShape::Nested).await;
    let provider = h.provider();
    h.emulator
        .faults()
        .push_for(Endpoint::Initiate, Fault::CloseAfterBody);
    let err = provider
        .initiate(&request("ORDER-AMBIGUOUS"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::OutcomeUnknown {
                operation: Operation::Initiate,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_retryable());
    let charges = h.emulator.ledger().charges_for_reference("ORDER-AMBIGUOUS");
    assert_eq!(charges.len(), 1, "exactly one charge");
    let status = wait_for_final(&provider, &PaymentId::new(&charges[0].id), &poll())
        .await
        .unwrap();
    assert!(matches!(status, PaymentStatus::Completed(_)));
    assert_eq!(
        h.emulator
            .ledger()
            .charges_for_reference("ORDER-AMBIGUOUS")
            .len(),
        1
    );
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let provider = Lipia::new(
        LipiaConfig::builder()
            .api_key("k")
            .base_url(format!("http://{addr}/api/v2"))
            .build()
            .unwrap(),
    )
    .unwrap();
    let err = provider.initiate(&request("REFUSED")).await.unwrap_err();
    assert_eq!(err.kind(), "unavailable", "{err}");
    assert!(err.is_retryable());
    let err = provider.status(&PaymentId::new("X")).await.unwrap_err();
    assert_eq!(err.kind(), "unavailable", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_api_key_is_unauthorized_and_never_shown() {
    let h = common::Harness::start(LipiaCallbackShape::Nested).await;
    let provider = Lipia::new(h.config().api_key("wrong-lipia-key").build().unwrap()).unwrap();
    let err = provider.initiate(&request("AUTH")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Unauthorized { message, .. } if message == "Invalid API key"),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong-lipia-key"));
    let err = provider.status(&PaymentId::new("X")).await.unwrap_err();
    assert_eq!(err.kind(), "unauthorized", "{err}");
    assert!(h.emulator.ledger().charges().is_empty());
    // The ledger never keeps secrets.
    for r in h.emulator.ledger().requests() {
        assert_eq!(r.header("authorization"), Some("[redacted]"));
    }
    h.emulator.shutdown().await;
}
