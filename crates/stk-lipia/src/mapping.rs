//! From Lipia's answers to `stk-core` types: envelopes to acceptances and statuses, error
//! envelopes, HTTP errors and transport failures to [`Error`]s. Pure functions, so they can
//! be tested (and fuzzed) without a server.
//!
//! | what happened | initiate | status |
//! |---|---|---|
//! | 2xx envelope with `data.TransactionReference` | `PushAccepted` | — |
//! | 2xx envelope with `data.response.Status` | — | `PaymentStatus` (mapped on `Status`, not on `success`) |
//! | 2xx, unparseable or without `TransactionReference` | `outcome_unknown` (the charge may exist) | `unexpected_response` |
//! | 2xx with `data.ResponseCode` ≠ 0 | `rejected` (code = `ResponseCode`) | — |
//! | error envelope, `error.code` `VALIDATION_ERROR` (any 2xx/4xx other than those below) | `rejected`, code `VALIDATION_ERROR`, message names `field`, `location`, `value`, `expected` | same |
//! | error envelope, `error.code` `UNAUTHORIZED`, `FORBIDDEN`, `INVALID_API_KEY` | `unauthorized` | `unauthorized` |
//! | error envelope, `error.code` `NOT_FOUND`, `TRANSACTION_NOT_FOUND` | `rejected` | `unknown_payment` |
//! | error envelope, any other `error.code` (`PAYMENT_ERROR`, …) | `rejected` with the code, `message` and `customerMessage` | same |
//! | 400 without an envelope | `rejected` (no code) | `rejected` |
//! | 401, 403 | `unauthorized` | `unauthorized` |
//! | 404 | `unexpected_response` (wrong base URL?) | `unknown_payment` |
//! | 429 | `rate_limited` (`Retry-After` seconds kept) | `rate_limited` |
//! | 503 | `unavailable` | `unavailable` |
//! | other 5xx | `outcome_unknown` (a gateway may have forwarded the push) | `unavailable` |
//! | other statuses | `unexpected_response` | `unexpected_response` |
//! | connect error (nothing sent) | `unavailable` | `unavailable` |
//! | timeout, reset or closed after sending | `outcome_unknown` | `outcome_unknown` (transient for `wait_for_final`) |
//!
//! `VALIDATION_ERROR` maps to [`Error::Rejected`], not [`Error::InvalidRequest`]: the adapter
//! already validated everything it can before sending, so a validation error is Lipia's own
//! rule refusing the push (typically its Safaricom-only phone rule, which the adapter does not
//! pre-empt because numbers are portable between networks), and no charge was created. The
//! rejected `value` is masked when it is a phone number, so errors can be logged.

use serde_json::Value;
use stk_core::{
    Completed, Error, Failure, FailureReason, Operation, PaymentId, PaymentStatus, PhoneNumber,
    PushAccepted, ResultCode, StatusReport, excerpt,
};
use stk_http::serde_helpers::from_slice;
use stk_http::{RawResponse, status_error};

use crate::NAME;
use crate::wire::{Envelope, ErrorDetail, PaymentRecord, PushData, StatusData};

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// A completed status from a record: receipt, amount, transaction date.
fn completed(record: &PaymentRecord) -> PaymentStatus {
    let mut done = Completed::default()
        .amount(record.Amount)
        .completed_at(non_empty(record.TransactionDate.as_deref()).map(str::to_owned));
    done.receipt = non_empty(record.MpesaReceiptNumber.as_deref()).map(str::to_owned);
    PaymentStatus::Completed(done)
}

/// A failed status from a record: `ResultCode` through [`Failure::from_code`].
fn failed(record: &PaymentRecord) -> PaymentStatus {
    let message = non_empty(record.ResultDesc.as_deref()).map(str::to_owned);
    match non_empty(record.ResultCode.as_deref()) {
        Some(code) => PaymentStatus::Failed(Failure::from_code(ResultCode::new(code), message)),
        None => {
            let mut failure = Failure::new(FailureReason::Other);
            failure.message = message;
            PaymentStatus::Failed(failure)
        }
    }
}

/// The status a record's `Status` means, case-insensitively: `SUCCESS` completed, `FAILED`
/// failed (reason from `ResultCode`), anything else (`PENDING`, unknown words) pending,
/// never a guess. `None` when there is no `Status`.
pub(crate) fn record_status(record: &PaymentRecord) -> Option<PaymentStatus> {
    let state = non_empty(record.Status.as_deref())?.to_ascii_uppercase();
    Some(match state.as_str() {
        "SUCCESS" | "SUCCESSFUL" | "COMPLETED" | "COMPLETE" => completed(record),
        "FAILED" | "FAILURE" => failed(record),
        _ => PaymentStatus::Pending,
    })
}

/// The status a record's `ResultCode` means (`0` completed, else failed); `None` without one.
/// For callbacks, which are only sent once final; never for status answers, where `PENDING`
/// also carries `ResultCode` 0.
pub(crate) fn result_code_status(record: &PaymentRecord) -> Option<PaymentStatus> {
    let code = ResultCode::new(non_empty(record.ResultCode.as_deref())?);
    Some(if code.is_success() {
        completed(record)
    } else {
        failed(record)
    })
}

/// A rejected value for display: phone numbers masked, long values cut.
fn shown_value(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Ok(phone) = PhoneNumber::parse(&text) {
        return format!("{:?}", phone.masked());
    }
    let short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}

/// The developer message of an error envelope; for `VALIDATION_ERROR` it names the field,
/// where it was, the (masked) value and what was expected.
pub(crate) fn envelope_message<T>(envelope: &Envelope<T>) -> String {
    let base = non_empty(envelope.message.as_deref())
        .or(non_empty(envelope.customer_message.as_deref()))
        .unwrap_or("Lipia returned an error")
        .to_owned();
    let Some(detail) = &envelope.error else {
        return base;
    };
    let ErrorDetail {
        field,
        location,
        value,
        expected,
        ..
    } = detail;
    let mut parts = Vec::new();
    if let Some(field) = non_empty(field.as_deref()) {
        let mut part = field.to_owned();
        if let Some(location) = non_empty(location.as_deref()) {
            part.push_str(&format!(" (in {location})"));
        }
        if let Some(value) = value.as_ref().filter(|v| !v.is_null()) {
            part.push_str(&format!(" = {}", shown_value(value)));
        }
        parts.push(part);
    }
    if let Some(expected) = non_empty(expected.as_deref()) {
        parts.push(format!("expected {expected}"));
    }
    if parts.is_empty() {
        base
    } else {
        format!("{base}: {}", parts.join(": "))
    }
}

/// Maps an error envelope (`success: false` with `error.code`), by its code.
pub(crate) fn envelope_error<T>(
    operation: Operation,
    id: Option<&PaymentId>,
    envelope: &Envelope<T>,
) -> Error {
    let code = envelope
        .error
        .as_ref()
        .and_then(|e| non_empty(e.code.as_deref()))
        .map(str::to_owned);
    let upper = code.as_deref().unwrap_or("").to_ascii_uppercase();
    match (upper.as_str(), operation, id) {
        ("UNAUTHORIZED" | "FORBIDDEN" | "INVALID_API_KEY", _, _) => Error::Unauthorized {
            provider: NAME,
            message: envelope_message(envelope),
        },
        ("NOT_FOUND" | "TRANSACTION_NOT_FOUND", Operation::Status, Some(id)) => {
            Error::UnknownPayment {
                provider: NAME,
                id: id.clone(),
            }
        }
        _ => Error::Rejected {
            provider: NAME,
            code,
            message: envelope_message(envelope),
            customer_message: non_empty(envelope.customer_message.as_deref()).map(str::to_owned),
        },
    }
}

/// Maps a non-2xx answer.
pub(crate) fn error_response(
    operation: Operation,
    id: Option<&PaymentId>,
    response: &RawResponse,
) -> Error {
    let envelope = from_slice::<Envelope<Value>>(&response.body).filter(Envelope::is_error);
    let message = || {
        envelope
            .as_ref()
            .map_or_else(|| excerpt(&response.body), envelope_message)
    };
    match (response.status, &envelope) {
        (401 | 403 | 404 | 429 | 500..=599, _) => {
            status_error(NAME, operation, id, response, message)
        }
        (_, Some(env)) if env.error.is_some() => envelope_error(operation, id, env),
        _ => status_error(NAME, operation, id, response, message),
    }
}

/// Maps the answer to a push.
///
/// A 2xx answer that cannot be understood means the charge may exist, so it is
/// [`Error::OutcomeUnknown`], never a retryable error.
pub(crate) fn push_response(response: &RawResponse) -> Result<PushAccepted, Error> {
    if !response.is_success() {
        return Err(error_response(Operation::Initiate, None, response));
    }
    let unknown = || Error::OutcomeUnknown {
        provider: NAME,
        operation: Operation::Initiate,
        message: format!(
            "HTTP {} with a body that is not a Lipia acceptance: {:?}",
            response.status,
            excerpt(&response.body)
        ),
        cause: None,
    };
    let envelope = from_slice::<Envelope<PushData>>(&response.body).ok_or_else(unknown)?;
    if envelope.is_error() {
        return Err(envelope_error(Operation::Initiate, None, &envelope));
    }
    let data = envelope.data.clone().unwrap_or_default();
    if let Some(code) = non_empty(data.ResponseCode.as_deref()).filter(|c| *c != "0") {
        return Err(Error::Rejected {
            provider: NAME,
            code: Some(code.to_owned()),
            message: non_empty(data.ResponseDescription.as_deref())
                .or(non_empty(envelope.message.as_deref()))
                .unwrap_or("M-Pesa did not accept the push")
                .to_owned(),
            customer_message: non_empty(envelope.customer_message.as_deref()).map(str::to_owned),
        });
    }
    let id = non_empty(data.TransactionReference.as_deref()).ok_or_else(unknown)?;
    Ok(PushAccepted::new(NAME, PaymentId::new(id))
        .checkout_request_id(non_empty(data.CheckoutRequestID.as_deref()).map(str::to_owned))
        .customer_message(non_empty(envelope.customer_message.as_deref()).map(str::to_owned)))
}

/// Maps the answer to a status query about `id`, on `data.response.Status` (the envelope's
/// `success` only says the query worked).
pub(crate) fn status_response(
    id: &PaymentId,
    response: &RawResponse,
) -> Result<StatusReport, Error> {
    if !response.is_success() {
        return Err(error_response(Operation::Status, Some(id), response));
    }
    let unexpected = || Error::unexpected(NAME, Some(response.status), &response.body);
    let envelope = from_slice::<Envelope<StatusData>>(&response.body).ok_or_else(unexpected)?;
    if envelope.is_error() {
        return Err(envelope_error(Operation::Status, Some(id), &envelope));
    }
    let record = envelope
        .data
        .as_ref()
        .and_then(|d| d.response.as_ref())
        .ok_or_else(unexpected)?;
    let status = record_status(record).ok_or_else(unexpected)?;
    Ok(StatusReport::new(status)
        .merchant_reference(record.ExternalReference.as_deref())
        .phone(record.Phone.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stk_core::Amount;

    fn raw(status: u16, body: &str) -> RawResponse {
        RawResponse::new(status, None, body)
    }

    #[test]
    fn status_maps_on_status_not_success() {
        let id = PaymentId::new("abc");
        let pending = r#"{"success":true,"data":{"response":{"Status":"PENDING","ResultCode":0},"status":false}}"#;
        assert_eq!(
            status_response(&id, &raw(200, pending)).map(|r| r.status),
            Ok(PaymentStatus::Pending)
        );
        let failed = r#"{"success":true,"data":{"response":{"Status":"failed","ResultCode":1032,"ResultDesc":"Request cancelled by user"},"status":false}}"#;
        let Ok(PaymentStatus::Failed(f)) =
            status_response(&id, &raw(200, failed)).map(|r| r.status)
        else {
            panic!("failed")
        };
        assert_eq!(f.reason, FailureReason::Cancelled);
        let done = r#"{"success":true,"data":{"response":{"Status":"SUCCESS","ResultCode":0,"MpesaReceiptNumber":"NEF61H8J60","Amount":100,"TransactionDate":"20240115103000"},"status":true}}"#;
        let Ok(PaymentStatus::Completed(c)) =
            status_response(&id, &raw(200, done)).map(|r| r.status)
        else {
            panic!("completed")
        };
        assert_eq!(c.receipt.as_deref(), Some("NEF61H8J60"));
        assert_eq!(c.amount.map(Amount::shillings), Some(100));
        let odd = r#"{"success":true,"data":{"response":{"Status":"QUEUED"}}}"#;
        assert_eq!(
            status_response(&id, &raw(200, odd)).map(|r| r.status),
            Ok(PaymentStatus::Pending)
        );
    }

    #[test]
    fn push_needs_a_reference() {
        let ok = r#"{"success":true,"status":"success","message":"STK push initiated successfully","customerMessage":"Check your phone","data":{"TransactionReference":"64f1a2b3c4d5e6f7a8b9c0d1","ResponseCode":0,"ResponseDescription":"Success. Request accepted for processing"},"timestamp":"2024-01-15T10:30:00.000Z"}"#;
        let accepted = push_response(&raw(200, ok)).unwrap();
        assert_eq!(accepted.payment_id.as_str(), "64f1a2b3c4d5e6f7a8b9c0d1");
        assert_eq!(
            accepted.customer_message.as_deref(),
            Some("Check your phone")
        );
        assert_eq!(
            push_response(&raw(201, r#"{"success":true,"data":{}}"#))
                .unwrap_err()
                .kind(),
            "outcome_unknown"
        );
        assert_eq!(
            push_response(&raw(200, "<html>")).unwrap_err().kind(),
            "outcome_unknown"
        );
    }
}
