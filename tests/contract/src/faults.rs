//! The fault matrix every adapter runs against its emulator (feature `emulator`): each fault
//! the emulator injects gives a documented error kind, nothing panics, the adapter sends
//! every push exactly once, and the emulator's ledger never shows a duplicate charge.

use std::time::Duration;

use stk_core::{
    Error, Operation, PaymentId, PaymentStatus, PollPolicy, StkProvider, StkPushRequest,
    wait_for_final,
};
use stk_emulator::{Endpoint, Fault, Faults, Ledger};

/// How long [`Fault::Slow`] holds a response: give the adapter under test a timeout below it.
pub const SLOW: Duration = Duration::from_secs(2);

/// Every fault the emulators inject.
pub fn standard_faults() -> Vec<Fault> {
    vec![
        Fault::RateLimited {
            retry_after: Some(Duration::from_secs(1)),
        },
        Fault::RateLimited { retry_after: None },
        Fault::Status(500),
        Fault::Status(502),
        Fault::Status(503),
        Fault::HtmlError(502),
        Fault::MalformedJson,
        Fault::TruncatedJson,
        Fault::ExtraFields,
        Fault::MissingFields,
        Fault::Slow(SLOW),
        Fault::CloseBeforeBody,
        Fault::CloseAfterBody,
    ]
}

fn label(fault: &Fault) -> String {
    match fault {
        Fault::Status(s) => format!("status_{s}"),
        Fault::HtmlError(s) => format!("html_error_{s}"),
        Fault::RateLimited { retry_after: None } => "rate_limited_bare".to_owned(),
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

fn kind<T>(result: &Result<T, Error>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(Error::OutcomeUnknown { operation, .. }) => format!("outcome_unknown({operation})"),
        Err(e) => e.kind().as_str().to_owned(),
    }
}

fn poll() -> PollPolicy {
    PollPolicy::default()
        .intervals(Duration::from_millis(10), Duration::from_millis(50))
        .deadline(Duration::from_secs(10))
}

/// Runs every fault against `initiate`, `status` and `wait_for_final`; returns one line per
/// fault and call (`fault -> error kind`), for a snapshot. `provider` must have a request
/// timeout below [`SLOW`] and talk to the emulator whose `faults` and `ledger` are given.
pub async fn fault_matrix(provider: &dyn StkProvider, faults: &Faults, ledger: &Ledger) -> String {
    let name = provider.name();
    let mut lines = Vec::new();
    for (i, fault) in standard_faults().into_iter().enumerate() {
        // Initiate under the fault.
        let reference = format!("FAULT-I-{i}");
        let before = ledger.requests_to(Endpoint::Initiate).len();
        faults.push_for(Endpoint::Initiate, fault.clone());
        let result = provider.initiate(&request(&reference)).await;
        let sent = ledger.requests_to(Endpoint::Initiate).len() - before;
        let charges = ledger.charges_for_reference(&reference);
        assert_eq!(
            sent, 1,
            "{name}: {fault:?}: a push must be sent exactly once"
        );
        assert_eq!(
            charges.len(),
            usize::from(fault.processes_request()),
            "{name}: {fault:?}: a charge exists iff the emulator processed the push"
        );
        if let Err(e) = &result {
            if e.kind() == "outcome_unknown" {
                assert!(
                    !e.is_retryable(),
                    "{name}: outcome_unknown must never be retryable"
                );
            }
        }
        if let Fault::RateLimited { retry_after } = &fault {
            assert_eq!(
                result.as_ref().unwrap_err().retry_after(),
                *retry_after,
                "{name}"
            );
        }
        // Whatever the answer, the charge (if any) resolves through status.
        let resolved = match charges.first() {
            Some(charge) => {
                let status = wait_for_final(provider, &PaymentId::new(&charge.id), &poll())
                    .await
                    .unwrap();
                assert!(
                    matches!(status, PaymentStatus::Completed(_)),
                    "{name}: {fault:?}"
                );
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
        faults.push_for(Endpoint::Status, fault.clone());
        let result = provider.status(&accepted.payment_id).await;
        if let Err(Error::OutcomeUnknown { operation, .. }) = &result {
            assert_eq!(*operation, Operation::Status, "{name}");
        }
        // And polling rides over the fault (transient) or stops on it.
        faults.push_for(Endpoint::Status, fault.clone());
        let waited = wait_for_final(provider, &accepted.payment_id, &poll()).await;
        lines.push(format!(
            "status   {:<18} -> {:<26} wait_for_final={}",
            label(&fault),
            kind(&result),
            match &waited {
                Ok(s) => s.as_str().to_owned(),
                Err(e) => e.kind().as_str().to_owned(),
            }
        ));
    }
    assert_eq!(faults.pending(), 0, "{name}: every fault was used");
    let mut references: Vec<_> = ledger
        .charges()
        .into_iter()
        .filter_map(|c| c.reference)
        .collect();
    let total = references.len();
    references.sort();
    references.dedup();
    assert_eq!(
        references.len(),
        total,
        "{name}: duplicate charge in the ledger"
    );
    lines.join("\n")
}

/// The connection dies after the emulator read the push and created the charge: the adapter
/// reports `outcome_unknown` (never retryable), does not re-send, and a status query resolves
/// the one charge.
pub async fn ambiguous_push_resolves_by_status(
    provider: &dyn StkProvider,
    faults: &Faults,
    ledger: &Ledger,
) {
    let name = provider.name();
    faults.push_for(Endpoint::Initiate, Fault::CloseAfterBody);
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
        "{name}: {err}"
    );
    assert!(!err.is_retryable());
    let charges = ledger.charges_for_reference("ORDER-AMBIGUOUS");
    assert_eq!(charges.len(), 1, "{name}: exactly one charge");
    let status = wait_for_final(provider, &PaymentId::new(&charges[0].id), &poll())
        .await
        .unwrap();
    assert!(matches!(status, PaymentStatus::Completed(_)), "{name}");
    assert_eq!(
        ledger.charges_for_reference("ORDER-AMBIGUOUS").len(),
        1,
        "{name}"
    );
}
