//! The secrets test every adapter runs (feature `emulator`): what an adapter prints (its
//! config's and its provider's `Debug`, every answer and error formatted both ways, its
//! tracing output at TRACE) never shows a credential, however the call went.
//!
//! Each adapter's `tests/secrets.rs` installs a capturing `tracing` subscriber writing into a
//! [`CapturedLogs`], formats its config and provider, calls [`exercise`] against its emulator
//! with a provider holding the right credentials and one holding wrong ones, and checks all of
//! it with [`assert_no_secrets`], for every secret it configured (raw, and as the header value
//! that carries it).

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use stk_core::{
    CallbackRequest, Error, PaymentId, PaymentStatus, PollPolicy, StkProvider, wait_for_final,
};

/// A secret an adapter holds, by what it is (for the failure message) and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// What it is, e.g. `API key` or `Authorization header`.
    pub what: String,
    /// The value that must never be shown.
    pub value: String,
}

impl Secret {
    /// A secret `what` with this value.
    pub fn new(what: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            value: value.into(),
        }
    }
}

/// A log sink shared by its clones, for `tracing_subscriber::fmt().with_writer(move ||
/// logs.clone())`.
#[derive(Debug, Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How the adapter's genuine callbacks are obtained and forged, for [`exercise`].
pub trait Callbacks: Sync {
    /// The callback the emulator sends for this final payment (`None` if it has none).
    fn genuine(&self, id: &PaymentId) -> Option<CallbackRequest>;
    /// A forgery of `genuine` that the adapter must refuse (a wrong token, challenge or
    /// signature).
    fn forge(&self, genuine: &CallbackRequest) -> CallbackRequest;
}

/// Both ways a value prints.
fn shown<T: std::fmt::Debug, E: std::fmt::Display + std::fmt::Debug>(
    what: &str,
    result: &Result<T, E>,
) -> String {
    match result {
        Ok(value) => format!("{what}: ok {value:?}\n{what}: ok {value:#?}\n"),
        Err(e) => format!("{what}: error {e}\n{what}: error {e:?}\n{what}: error {e:#?}\n"),
    }
}

/// Runs everything that may print a credential and returns what it printed:
///
/// - with `good` (right credentials): a push to a number that completes (`reference`, at
///   most 12 characters), a status query, a wait until it is final; the emulator's callback
///   about it (from `callbacks`), parsed, and a forgery of it, refused;
/// - with `bad` (a wrong credential): a push and a status query, both `unauthorized`.
///
/// Every answer and every error is formatted with `{}`, `{:?}` and `{:#?}`. Panics if a call
/// does not end as described, so the test cannot pass without exercising each path.
pub async fn exercise(
    good: &dyn StkProvider,
    bad: &dyn StkProvider,
    callbacks: &dyn Callbacks,
    reference: &str,
) -> String {
    let name = good.name();
    let mut out = String::new();
    let request = crate::faults::request(reference);
    out.push_str(&format!("request: {request:?}\n"));

    let accepted = good.initiate(&request).await;
    out.push_str(&shown("initiate", &accepted));
    let id = match accepted {
        Ok(accepted) => accepted.payment_id,
        Err(e) => panic!("{name}: the push with the right credentials failed: {e}"),
    };
    let status = good.status(&id).await;
    out.push_str(&shown("status", &status));
    assert!(status.is_ok(), "{name}: {status:?}");
    let poll = PollPolicy::default()
        .intervals(Duration::from_millis(20), Duration::from_millis(100))
        .deadline(Duration::from_secs(10));
    let done = wait_for_final(good, &id, &poll).await;
    out.push_str(&shown("wait_for_final", &done));
    assert!(
        matches!(done, Ok(PaymentStatus::Completed(_))),
        "{name}: {done:?}"
    );
    let unknown = good.status(&PaymentId::new("NO-SUCH-PAYMENT")).await;
    out.push_str(&shown("status of an unknown id", &unknown));

    let genuine = callbacks
        .genuine(&id)
        .unwrap_or_else(|| panic!("{name}: the emulator has no callback for {id}"));
    let parsed = good.parse_callback(&genuine);
    out.push_str(&shown("callback", &parsed));
    assert!(parsed.is_ok(), "{name}: {parsed:?}");
    let forged = good.parse_callback(&callbacks.forge(&genuine));
    out.push_str(&shown("forged callback", &forged));
    assert!(
        matches!(forged, Err(Error::InvalidCallback { .. })),
        "{name}: a forged callback must be refused: {forged:?}"
    );
    out.push_str(&format!("ack: {:?}\n", good.callback_ack()));

    let refused = bad.initiate(&request).await;
    out.push_str(&shown("initiate, wrong credentials", &refused));
    assert!(
        matches!(&refused, Err(e) if e.kind() == "unauthorized"),
        "{name}: {refused:?}"
    );
    let refused = bad.status(&id).await;
    out.push_str(&shown("status, wrong credentials", &refused));
    assert!(
        matches!(&refused, Err(e) if e.kind() == "unauthorized"),
        "{name}: {refused:?}"
    );
    out
}

/// Captures every `tracing` event and span (TRACE) on this thread until the guard drops; read
/// it with [`CapturedLogs::text`]. Use a current-thread runtime so the emulator's tasks are
/// seen too.
pub fn capture_traces() -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

/// The checks every adapter's secrets test ends with: the capture really saw the adapter's
/// request spans, and no secret is in the `Debug` output, the answers and errors, or the logs.
pub fn assert_clean(provider: &str, debug: &str, answers: &str, logs: &str, secrets: &[Secret]) {
    assert!(
        logs.contains("stk.initiate") && logs.contains("stk.status"),
        "{provider}: the subscriber captured the adapter's spans:\n{logs}"
    );
    assert_no_secrets(provider, "Debug output", debug, secrets);
    assert_no_secrets(provider, "answers and errors", answers, secrets);
    assert_no_secrets(provider, "logs", logs, secrets);
}

/// Panics if any of `secrets` appears in `text` (`source` says what the text is: `Debug of
/// the config`, `logs`, …), naming the secret and showing where.
pub fn assert_no_secrets(provider: &str, source: &str, text: &str, secrets: &[Secret]) {
    for secret in secrets {
        assert!(
            !secret.value.is_empty(),
            "{provider}: the {} to look for is empty",
            secret.what
        );
        if let Some(at) = text.find(&secret.value) {
            let mut start = at.saturating_sub(200);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (at + secret.value.len() + 200).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            panic!(
                "{provider}: the {} appears in the {source}:\n…{}…",
                secret.what,
                &text[start..end]
            );
        }
    }
}
