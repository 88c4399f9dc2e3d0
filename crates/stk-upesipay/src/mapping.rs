//! From UpesiPay's answers to `stk-core` types: statuses, HTTP errors and transport failures
//! to [`Error`]s. Pure functions, so they can be tested (and fuzzed) without a server.
//!
//! | what happened | initiate | status |
//! |---|---|---|
//! | 2xx, parseable | `PushAccepted` | `PaymentStatus` |
//! | 2xx with `success:false` and no reference | `rejected` (message and `error_code` kept) | — |
//! | 2xx, unparseable or without a `reference` | `outcome_unknown` (the charge may exist) | `unexpected_response` |
//! | 400 or 422 `{"error_message":…}` | `rejected`, message kept | `rejected` |
//! | 401 | `unauthorized` | `unauthorized` |
//! | 400, 403 or 422 naming the abuse protection (blocked / restricted / abuse) | `rejected` with code [`ABUSE_CODE`] | same |
//! | 403, anything else | `unauthorized` | `unauthorized` |
//! | 404 | `unexpected_response` (wrong base URL?) | `unknown_payment` |
//! | 429 | `rate_limited` (`Retry-After` seconds kept) | `rate_limited` |
//! | 503 | `unavailable` | `unavailable` |
//! | other 5xx | `outcome_unknown` (a gateway may have forwarded the push) | `unavailable` |
//! | other statuses | `unexpected_response` | `unexpected_response` |
//! | connect error (nothing sent) | `unavailable` | `unavailable` |
//! | timeout, reset or closed after sending | `outcome_unknown` | `outcome_unknown` (transient for `wait_for_final`) |
//!
//! Statuses: `QUEUED` (and `PENDING`) → pending, `PROCESSING` → processing, `SUCCESS` →
//! completed, `FAILED` (and `cancelled`, `timeout`, …) → failed, matched case-insensitively;
//! anything else → pending, never a guessed final status.
//!
//! How UpesiPay answers a push blocked by its STK abuse protection is not documented; this
//! adapter reads a 403 (or 400, 422) whose message names the protection as
//! [`Error::Rejected`] with code [`ABUSE_CODE`]: the push was refused, no charge exists,
//! and pushing again will not help until the block ends.

use stk_core::{
    Completed, Error, Failure, FailureReason, Operation, PaymentId, PaymentStatus, PushAccepted,
    ResultCode, StatusReport, excerpt,
};
use stk_http::serde_helpers::from_slice;
use stk_http::{RawResponse, status_error};

use crate::NAME;
use crate::wire::{PushResponse, StatusResponse};

/// The [`Error::Rejected`] code of a push refused by UpesiPay's STK abuse protection.
pub const ABUSE_CODE: &str = "stk_abuse_protection";

/// The status a `status` word (and the M-Pesa result code and text, when sent) means.
/// Unknown or missing words map to [`PaymentStatus::Pending`].
pub(crate) fn status_of(
    status: Option<&str>,
    result_code: Option<&str>,
    result_desc: Option<&str>,
) -> PaymentStatus {
    let word = status.unwrap_or("").trim().to_ascii_uppercase();
    let desc = result_desc
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    let code = result_code.map(str::trim).filter(|c| !c.is_empty());
    match word.as_str() {
        "PROCESSING" => PaymentStatus::Processing,
        "SUCCESS" | "SUCCESSFUL" | "COMPLETED" | "COMPLETE" => {
            PaymentStatus::Completed(Completed::default())
        }
        "FAILED" | "FAILURE" | "FAIL" | "CANCELLED" | "CANCELED" | "TIMEOUT" | "TIMED_OUT"
        | "EXPIRED" => match code {
            Some(code) if code != "0" => {
                PaymentStatus::Failed(Failure::from_code(ResultCode::new(code), desc))
            }
            _ => {
                let reason = match word.as_str() {
                    "CANCELLED" | "CANCELED" => FailureReason::Cancelled,
                    "TIMEOUT" | "TIMED_OUT" | "EXPIRED" => FailureReason::Timeout,
                    _ => FailureReason::Other,
                };
                let mut failure = Failure::new(reason);
                failure.message = desc;
                PaymentStatus::Failed(failure)
            }
        },
        _ => PaymentStatus::Pending,
    }
}

fn non_empty(s: Option<&String>) -> Option<String> {
    s.map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The status a transaction-status answer means, with the receipt and date on completion.
pub(crate) fn transaction_status(response: &StatusResponse) -> PaymentStatus {
    let status = status_of(
        response.status.as_deref(),
        response.result_code.as_deref(),
        response.result_desc.as_deref(),
    );
    match status {
        PaymentStatus::Completed(_) => {
            let mut done = Completed::default()
                .amount(response.amount)
                .completed_at(non_empty(response.transaction_date.as_ref()));
            done.receipt = non_empty(response.provider_reference.as_ref())
                .or_else(|| non_empty(response.third_party_reference.as_ref()));
            PaymentStatus::Completed(done)
        }
        other => other,
    }
}

/// The provider's message of an error body: `error_message` (also `message`, `detail`,
/// `error`), else an excerpt of the body.
pub(crate) fn error_message(body: &[u8]) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
        for key in ["error_message", "message", "detail", "error"] {
            match map.get(key) {
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => return s.clone(),
                _ => {}
            }
        }
    }
    excerpt(body)
}

/// Whether an error message is about UpesiPay's STK abuse protection.
pub(crate) fn is_abuse_message(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    ["abuse", "blocked", "restricted"]
        .iter()
        .any(|w| lower.contains(w))
}

/// Maps a non-2xx answer.
pub(crate) fn error_response(
    operation: Operation,
    id: Option<&PaymentId>,
    response: &RawResponse,
) -> Error {
    let message = error_message(&response.body);
    if matches!(response.status, 400 | 403 | 422) && is_abuse_message(&message) {
        return Error::Rejected {
            provider: NAME,
            code: Some(ABUSE_CODE.to_owned()),
            message,
            customer_message: None,
        };
    }
    if response.status == 422 {
        // Validation errors in the style of the `"The … field is required."` messages.
        return Error::Rejected {
            provider: NAME,
            code: None,
            message,
            customer_message: None,
        };
    }
    status_error(NAME, operation, id, response, || message)
}

/// Maps the answer to a push.
///
/// A 2xx answer that cannot be understood means the charge may exist, so it is
/// [`Error::OutcomeUnknown`], never a retryable error.
pub(crate) fn push_response(response: &RawResponse) -> Result<PushAccepted, Error> {
    if !response.is_success() {
        return Err(error_response(Operation::Initiate, None, response));
    }
    let body = &response.body;
    let unknown = || Error::OutcomeUnknown {
        provider: NAME,
        operation: Operation::Initiate,
        message: format!(
            "HTTP {} with a body that is not an UpesiPay push answer: {:?}",
            response.status,
            excerpt(body)
        ),
        cause: None,
    };
    let parsed: PushResponse = from_slice(body).ok_or_else(unknown)?;
    let reference = non_empty(parsed.reference.as_ref());
    let Some(reference) = reference else {
        if parsed.success == Some(false) {
            return Err(Error::Rejected {
                provider: NAME,
                code: non_empty(parsed.error_code.as_ref()),
                message: non_empty(parsed.message.as_ref())
                    .unwrap_or_else(|| "the push was not accepted".to_owned()),
                customer_message: None,
            });
        }
        return Err(unknown());
    };
    Ok(PushAccepted::new(NAME, PaymentId::new(reference))
        .checkout_request_id(non_empty(parsed.checkout_request_id.as_ref()))
        .status(status_of(parsed.status.as_deref(), None, None)))
}

/// Maps the answer to a status query about `id`.
pub(crate) fn status_response(
    id: &PaymentId,
    response: &RawResponse,
) -> Result<StatusReport, Error> {
    if !response.is_success() {
        return Err(error_response(Operation::Status, Some(id), response));
    }
    let unexpected = || Error::unexpected(NAME, Some(response.status), &response.body);
    let parsed: StatusResponse = from_slice(&response.body).ok_or_else(unexpected)?;
    if parsed.status.as_deref().is_none_or(|s| s.trim().is_empty()) {
        return Err(unexpected());
    }
    // `payment_reference`'s meaning is undocumented (blank in the docs' sample) and no phone
    // is returned: the answer names no order, so only the id queried ties it to a push.
    Ok(StatusReport::new(transaction_status(&parsed)))
}
