//! From KulmiPay's answers to `stk-core` types: invoices to statuses, HTTP errors and
//! transport failures to [`Error`]s. Pure functions, so they can be tested (and fuzzed)
//! without a server.
//!
//! | what happened | initiate | status |
//! |---|---|---|
//! | 2xx, parseable | `PushAccepted` | `PaymentStatus` |
//! | 2xx, unparseable or without an invoice id | `outcome_unknown` (the charge may exist) | `unexpected_response` |
//! | 400 (DRF field errors or `detail`) | `rejected`, field messages kept | `rejected` |
//! | 401, 403 | `unauthorized` | `unauthorized` |
//! | 404 | `unexpected_response` (wrong base URL?) | `unknown_payment` |
//! | 429 | `rate_limited` (`Retry-After` seconds kept) | `rate_limited` |
//! | 503 | `unavailable` | `unavailable` |
//! | other 5xx | `outcome_unknown` (a gateway may have forwarded the push) | `unavailable` |
//! | other statuses | `unexpected_response` | `unexpected_response` |
//! | connect error (nothing sent) | `unavailable` | `unavailable` |
//! | timeout, reset or closed after sending | `outcome_unknown` | `outcome_unknown` (transient for `wait_for_final`) |
//!
//! 400 answers map to [`Error::Rejected`], not [`Error::InvalidRequest`]: the adapter already
//! validated everything it can before sending, so a 400 is the provider refusing the push
//! (e.g. a number that is not an M-Pesa line), and no charge was created.

use serde_json::Value;
use stk_core::{
    Completed, Error, Failure, FailureReason, Operation, PaymentId, PaymentStatus, PushAccepted,
    ResultCode, StatusReport, excerpt,
};

use stk_http::serde_helpers::from_slice;
use stk_http::{RawResponse, status_error};

use crate::NAME;
use crate::config::ApiGeneration;
use crate::wire::{Invoice, PushResponse, StatusResponse};

/// The status an invoice's `state` means. Unknown or missing states map to
/// [`PaymentStatus::Pending`], never to a guessed final status.
pub(crate) fn invoice_status(invoice: &Invoice) -> PaymentStatus {
    let state = invoice
        .state
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_ascii_uppercase();
    match state.as_str() {
        "PROCESSING" => PaymentStatus::Processing,
        "COMPLETE" | "COMPLETED" => {
            let mut done = Completed::default()
                .amount(invoice.value)
                .completed_at(invoice.updated_at.clone())
                .fees(invoice.charges.clone(), invoice.net_amount.clone());
            done.receipt = invoice
                .mpesa_reference
                .clone()
                .filter(|r| !r.trim().is_empty());
            PaymentStatus::Completed(done)
        }
        "FAILED" => {
            let message = invoice
                .failed_reason
                .clone()
                .filter(|m| !m.trim().is_empty());
            match invoice
                .failed_code
                .as_deref()
                .filter(|c| !c.trim().is_empty())
            {
                Some(code) => {
                    PaymentStatus::Failed(Failure::from_code(ResultCode::new(code), message))
                }
                None => {
                    let mut failure = Failure::new(FailureReason::Other);
                    failure.message = message;
                    PaymentStatus::Failed(failure)
                }
            }
        }
        _ => PaymentStatus::Pending,
    }
}

/// Maps the answer to a push (status code, `Retry-After` header, body).
///
/// A 2xx answer that cannot be understood means the charge may exist, so it is
/// [`Error::OutcomeUnknown`], never a retryable error.
pub(crate) fn push_response(
    api: ApiGeneration,
    response: &RawResponse,
) -> Result<PushAccepted, Error> {
    if !response.is_success() {
        return Err(error_response(Operation::Initiate, None, response));
    }
    let (status, body) = (response.status, response.body.as_slice());
    let unknown = || Error::OutcomeUnknown {
        provider: NAME,
        operation: Operation::Initiate,
        message: format!(
            "HTTP {status} with a body that is not a KulmiPay invoice: {:?}",
            excerpt(body)
        ),
        cause: None,
    };
    let parsed: PushResponse = from_slice(body).ok_or_else(unknown)?;
    let invoice = parsed.invoice.unwrap_or_default();
    let id = match api {
        ApiGeneration::Express => invoice.handle().map(str::to_owned),
        // The collection API returns the invoice id at the top level too.
        ApiGeneration::Collection => invoice.handle().map(str::to_owned).or_else(|| {
            parsed
                .id
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        }),
    };
    let id = id.ok_or_else(unknown)?;
    Ok(PushAccepted::new(NAME, PaymentId::new(id)).status(invoice_status(&invoice)))
}

/// Maps the answer to a status query about `id`.
pub(crate) fn status_response(
    id: &PaymentId,
    response: &RawResponse,
) -> Result<StatusReport, Error> {
    if !response.is_success() {
        return Err(error_response(Operation::Status, Some(id), response));
    }
    let (status, body) = (response.status, response.body.as_slice());
    let parsed: StatusResponse =
        from_slice(body).ok_or_else(|| Error::unexpected(NAME, Some(status), body))?;
    match parsed.invoice {
        Some(invoice) if invoice.state.is_some() => Ok(StatusReport::new(invoice_status(&invoice))
            .merchant_reference(invoice.api_ref.as_deref())
            .phone(invoice.account.as_deref())),
        _ => Err(Error::unexpected(NAME, Some(status), body)),
    }
}

/// The message of a DRF error body: `detail`, or `field: message` pairs joined by `; `.
pub(crate) fn drf_message(body: &[u8]) -> Option<String> {
    let Value::Object(map) = serde_json::from_slice::<Value>(body).ok()? else {
        return None;
    };
    if let Some(Value::String(detail)) = map.get("detail") {
        return Some(detail.clone());
    }
    let parts: Vec<String> = map
        .iter()
        .map(|(field, messages)| {
            let text = match messages {
                Value::Array(items) => items
                    .iter()
                    .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(" "),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{field}: {text}")
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Maps a non-2xx answer: the shared HTTP status classes of [`stk_http::status_error`], with
/// KulmiPay's DRF message (`detail`, or the field errors) kept.
pub(crate) fn error_response(
    operation: Operation,
    id: Option<&PaymentId>,
    response: &RawResponse,
) -> Error {
    status_error(NAME, operation, id, response, || {
        drf_message(&response.body).unwrap_or_else(|| excerpt(&response.body))
    })
}
