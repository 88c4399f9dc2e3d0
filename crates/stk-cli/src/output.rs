//! What the CLI prints: human text, or exactly one JSON object with `--json`.

use serde_json::{Value, json};
use stk::{Error, PaymentId, PaymentStatus};

/// Exit codes, documented in README.md.
pub(crate) mod exit {
    /// Accepted, or completed.
    pub(crate) const OK: u8 = 0;
    /// The payment failed (cancelled, timed out, insufficient funds, …).
    pub(crate) const PAYMENT_FAILED: u8 = 1;
    /// Invalid input, usage or configuration.
    pub(crate) const INVALID: u8 = 2;
    /// The provider refused the request or is unavailable.
    pub(crate) const PROVIDER: u8 = 3;
    /// The outcome is unknown (the request may have gone through, or the payment is still
    /// pending): query the status before pushing again.
    pub(crate) const UNKNOWN: u8 = 4;
    /// `stk status`: the payment is not final yet (pending or processing): not paid.
    pub(crate) const NOT_PAID_YET: u8 = 5;
    /// The payment store failed before anything was sent: nothing was charged; retry once
    /// the store is back.
    pub(crate) const STORE: u8 = 6;
}

/// The exit code for an error.
pub(crate) fn exit_code(e: &Error) -> u8 {
    match e {
        Error::InvalidRequest(_)
        | Error::Config { .. }
        | Error::Unauthorized { .. }
        | Error::UnknownPayment { .. } => exit::INVALID,
        Error::OutcomeUnknown { .. } | Error::StillPending { .. } => exit::UNKNOWN,
        _ => exit::PROVIDER,
    }
}

/// The exit code for a status. `accepted_is_ok`: for `stk push` without `--wait`, an
/// accepted (pending) push exits 0; for `stk status`, only a completed payment does, so
/// `stk status $ID && ship` never ships an unpaid order.
pub(crate) fn status_exit_code(s: &PaymentStatus, accepted_is_ok: bool) -> u8 {
    match s {
        PaymentStatus::Completed(_) => exit::OK,
        PaymentStatus::Failed(_) => exit::PAYMENT_FAILED,
        _ if accepted_is_ok => exit::OK,
        _ => exit::NOT_PAID_YET,
    }
}

/// The JSON object for a payment's status: provider, payment id, and the status in its one
/// serde shape (`status`, then its fields).
pub(crate) fn status_json(provider: &str, id: &PaymentId, status: &PaymentStatus) -> Value {
    #[derive(serde::Serialize)]
    struct Report<'a> {
        provider: &'a str,
        payment_id: &'a PaymentId,
        #[serde(flatten)]
        status: &'a PaymentStatus,
    }
    serde_json::to_value(Report {
        provider,
        payment_id: id,
        status,
    })
    .unwrap_or_else(|e| json!({ "error": { "kind": "internal", "message": e.to_string() } }))
}

/// The JSON object for an error.
pub(crate) fn error_json(e: &Error) -> Value {
    let mut err =
        json!({ "kind": e.kind(), "message": e.to_string(), "retryable": e.is_retryable() });
    match e {
        Error::InvalidRequest(inner) => {
            if let Some(field) = inner.field() {
                err["field"] = json!(field);
            }
        }
        Error::Rejected {
            code,
            customer_message,
            ..
        } => {
            err["code"] = json!(code);
            err["customer_message"] = json!(customer_message);
        }
        Error::RateLimited {
            retry_after: Some(d),
            ..
        } => err["retry_after_secs"] = json!(d.as_secs()),
        Error::StillPending {
            id, last_status, ..
        } => {
            err["payment_id"] = json!(id.as_str());
            err["status"] = json!(last_status);
        }
        Error::UnknownPayment { id, .. } => err["payment_id"] = json!(id.as_str()),
        Error::Guarded {
            scope, clears_in, ..
        } => {
            err["scope"] = json!(scope);
            err["clears_in_secs"] = json!(clears_in.as_secs());
        }
        _ => {}
    }
    json!({ "error": err })
}

/// A CLI error that is not an SDK error, as JSON.
pub(crate) fn cli_error_json(e: &crate::CliError) -> Value {
    let mut err = json!({ "kind": "usage", "message": e.to_string(), "retryable": false });
    match e {
        crate::CliError::Tracker(t) => {
            err["kind"] = json!(t.kind());
            match t {
                stk_tracker::TrackerError::AlreadyLive { attempt } => {
                    err["attempt_id"] = json!(attempt.id);
                    err["state"] = json!(attempt.state);
                }
                stk_tracker::TrackerError::Unrecorded {
                    attempt_id,
                    payment_id,
                    ..
                } => {
                    err["attempt_id"] = json!(attempt_id);
                    err["payment_id"] = json!(payment_id);
                }
                stk_tracker::TrackerError::NotResolvable {
                    attempt_id, state, ..
                } => {
                    err["attempt_id"] = json!(attempt_id);
                    err["state"] = json!(state);
                }
                _ => {}
            }
        }
        crate::CliError::Io { .. } => err["kind"] = json!("io"),
        _ => {}
    }
    json!({ "error": err })
}

/// A usage error (bad flags) as JSON.
pub(crate) fn usage_json(message: &str) -> Value {
    let first = message.lines().next().unwrap_or_default();
    let message = first.strip_prefix("error: ").unwrap_or(first).trim();
    json!({ "error": { "kind": "usage", "message": message, "retryable": false } })
}

/// One line for a person.
/// Provider text (receipts, failure messages) is escaped: it cannot forge a line.
pub(crate) fn status_line(status: &PaymentStatus) -> String {
    let text = crate::tracking::printable(&status.to_string());
    match status {
        PaymentStatus::Completed(_) => format!("✔ {text}"),
        PaymentStatus::Failed(_) => format!("✘ {text}"),
        _ => format!("… {text}"),
    }
}

/// Advice for a person after an error.
pub(crate) fn error_hint(e: &Error) -> Option<&'static str> {
    match e {
        Error::OutcomeUnknown { .. } | Error::StillPending { .. } => Some(
            "hint: run `stk status <payment id>` (or wait for the callback) before pushing again",
        ),
        Error::RateLimited { .. } | Error::Unavailable { .. } => {
            Some("hint: nothing was charged; it is safe to retry later")
        }
        _ => None,
    }
}
