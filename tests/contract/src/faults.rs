//! The fault tests every adapter runs against its emulator (feature `emulator`): the fault
//! matrix (each fault the emulator injects gives a documented error kind, nothing panics, the
//! adapter sends every push exactly once, and the emulator's ledger never shows a duplicate
//! charge), the ambiguous push, a refused connection and wrong credentials. Each adapter's
//! `tests/faults.rs` only builds its provider.

use std::time::Duration;

use stk_core::{
    Error, Operation, PaymentId, PaymentStatus, PollPolicy, StkProvider, StkPushRequest,
    wait_for_final,
};
use stk_emulator::{
    DarajaEmulator, Endpoint, Fault, Faults, KulmiPayEmulator, Ledger, LipiaEmulator,
    UpesiPayEmulator,
};

/// How long [`Fault::Slow`] holds a response: give the adapter under test a timeout below it.
pub const SLOW: Duration = Duration::from_secs(2);

/// The request timeout to give the provider [`fault_matrix`] runs against (below [`SLOW`]).
pub const TIMEOUT: Duration = Duration::from_millis(500);

/// A running emulator, as the fault tests drive it.
pub trait Emulator: Sync {
    /// Its fault queue.
    fn faults(&self) -> &Faults;
    /// Its record of requests and charges.
    fn ledger(&self) -> &Ledger;
}

macro_rules! emulators {
    ($($emulator:ty),*) => {$(
        impl Emulator for $emulator {
            fn faults(&self) -> &Faults {
                <$emulator>::faults(self)
            }
            fn ledger(&self) -> &Ledger {
                <$emulator>::ledger(self)
            }
        }
    )*};
}
emulators!(
    KulmiPayEmulator,
    UpesiPayEmulator,
    LipiaEmulator,
    DarajaEmulator
);

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

/// The push the fault tests make: KES 100 to `0712345678` (a number that completes), with
/// this reference (at most 12 characters, Daraja's `AccountReference` limit, so it fits every
/// provider).
pub fn request(reference: &str) -> StkPushRequest {
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
/// timeout below [`SLOW`] (e.g. [`TIMEOUT`]) and talk to `emulator`.
pub async fn fault_matrix(provider: &dyn StkProvider, emulator: &dyn Emulator) -> String {
    let name = provider.name();
    let (faults, ledger) = (emulator.faults(), emulator.ledger());
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
    emulator: &dyn Emulator,
) {
    let name = provider.name();
    let (faults, ledger) = (emulator.faults(), emulator.ledger());
    faults.push_for(Endpoint::Initiate, Fault::CloseAfterBody);
    let err = provider
        .initiate(&request("ORDER-AMBIG"))
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
    let charges = ledger.charges_for_reference("ORDER-AMBIG");
    assert_eq!(charges.len(), 1, "{name}: exactly one charge");
    let status = wait_for_final(provider, &PaymentId::new(&charges[0].id), &poll())
        .await
        .unwrap();
    assert!(matches!(status, PaymentStatus::Completed(_)), "{name}");
    assert_eq!(
        ledger.charges_for_reference("ORDER-AMBIG").len(),
        1,
        "{name}"
    );
}

/// Nothing listens where the provider points: a push and a status query fail `unavailable`,
/// retryable. `provider` builds the provider for a server root, `http://127.0.0.1:PORT`, on
/// a port just closed.
pub async fn connection_refused_is_unavailable<P: StkProvider>(provider: impl FnOnce(String) -> P) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let provider = provider(format!("http://{addr}"));
    let name = provider.name();
    let err = provider.initiate(&request("REFUSED")).await.unwrap_err();
    assert_eq!(err.kind(), "unavailable", "{name}: {err}");
    assert!(err.is_retryable(), "{name}: {err}");
    let err = provider.status(&PaymentId::new("X")).await.unwrap_err();
    assert_eq!(err.kind(), "unavailable", "{name}: {err}");
}

/// `provider` holds a wrong credential, `wrong_secret`: the emulator refuses a push as
/// `Unauthorized` with `message`, creating no charge, and a status query as `unauthorized`;
/// neither error shows the secret, and the ledger keeps no credential.
pub async fn wrong_credentials_are_unauthorized(
    provider: &dyn StkProvider,
    emulator: &dyn Emulator,
    wrong_secret: &str,
    message: &str,
) {
    let name = provider.name();
    let err = provider.initiate(&request("AUTH")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Unauthorized { message: m, .. } if m == message),
        "{name}: {err}"
    );
    assert!(!err.to_string().contains(wrong_secret), "{name}");
    let err = provider.status(&PaymentId::new("X")).await.unwrap_err();
    assert_eq!(err.kind(), "unauthorized", "{name}: {err}");
    assert!(!err.to_string().contains(wrong_secret), "{name}");
    assert!(
        emulator.ledger().charges_for_reference("AUTH").is_empty(),
        "{name}: no charge without credentials"
    );
    assert_credentials_redacted(emulator.ledger());
}

/// The ledger never keeps credentials: every request's `Authorization` header is redacted.
pub fn assert_credentials_redacted(ledger: &Ledger) {
    for r in ledger.requests() {
        assert_eq!(
            r.header("authorization"),
            Some("[redacted]"),
            "{} {}",
            r.method,
            r.path
        );
    }
}
