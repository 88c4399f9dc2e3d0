//! What the fuzz targets share: how an input becomes an HTTP answer, and the cheap invariants
//! every adapter's parsers keep on any input (besides not panicking).
//!
//! Input formats:
//! - `<adapter>_response`: the first two bytes (big-endian, modulo the table) pick the HTTP
//!   status from [`STATUSES`]; the rest is the body.
//! - `<adapter>_callback`, `phone`, `amount`, `reference`: the whole input.
#![forbid(unsafe_code)]

use stk_core::{Error, CallbackClaim, PaymentStatus, PushAccepted, StatusReport};
use stk_http::RawResponse;

/// The HTTP statuses the response targets try: the documented successes and errors, and the
/// gateway failures a proxy in front of a provider adds.
pub const STATUSES: [u16; 12] = [200, 201, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504];

/// The HTTP answer a response target's input stands for, or `None` for inputs under two bytes.
pub fn response(data: &[u8]) -> Option<RawResponse> {
    let (head, body) = data.split_first_chunk::<2>()?;
    let index = usize::from(u16::from_be_bytes(*head)) % STATUSES.len();
    Some(RawResponse::new(STATUSES[index], None, body))
}

/// Every error can be shown, bounded, and has a kind.
pub fn check_error(e: &Error) {
    assert!(!e.kind().as_str().is_empty());
    let _ = e.to_string();
    let _ = e.clone().bounded().to_string();
}

/// An id taken from a provider's answer is trimmed and not empty.
pub fn check_id(what: &str, id: &str) {
    assert!(!id.is_empty(), "empty {what}");
    assert_eq!(id, id.trim(), "{what} not trimmed");
}

/// The invariants of reading a push answer:
/// - only a 2xx answer is an acceptance, and it has a payment id;
/// - a 2xx answer that is not an acceptance never invites a retry (the charge may exist).
pub fn check_push(response: &RawResponse, result: &Result<PushAccepted, Error>) {
    match result {
        Ok(accepted) => {
            assert!(
                response.is_success(),
                "HTTP {} read as an acceptance",
                response.status
            );
            check_id("payment id", accepted.payment_id.as_str());
            if let Some(checkout) = &accepted.checkout_request_id {
                check_id("checkout request id", checkout);
            }
            check_status(&accepted.status);
        }
        Err(e) => {
            check_error(e);
            if response.is_success() {
                assert!(
                    !e.is_retryable(),
                    "HTTP {} push answer read as a retryable error: {e}",
                    response.status
                );
            }
        }
    }
}

/// The invariants of reading a status answer (`allow_processing`: whether the provider has a
/// `Processing` state; only KulmiPay has).
pub fn check_status_answer(result: &Result<StatusReport, Error>, allow_processing: bool) {
    match result {
        Ok(report) => {
            let status = &report.status;
            assert!(
                allow_processing || !matches!(status, PaymentStatus::Processing),
                "this provider has no processing state"
            );
            check_status(status);
            // What it names is trimmed and not blank, and it serializes and shows (masked).
            for named in [&report.merchant_reference, &report.phone].into_iter().flatten() {
                assert!(!named.is_empty() && named.trim() == named);
            }
            let _ = (serde_json::to_string(report), format!("{report:?}"));
        }
        Err(e) => check_error(e),
    }
}

/// A status can be shown and serialized; a completed payment's amount is positive.
pub fn check_status(status: &PaymentStatus) {
    let _ = status.to_string();
    if let PaymentStatus::Completed(done) = status
        && let Some(amount) = done.amount
    {
        assert!(amount.shillings() > 0);
    }
}

/// The invariants of a parsed callback: it names the payment somehow (payment id, checkout
/// request id or merchant reference), each present id is trimmed and not empty, and the event
/// serializes (the tracker stores it as JSON).
pub fn check_event(event: &CallbackClaim) {
    let ids = [
        ("payment id", event.payment_id.as_ref().map(|p| p.as_str())),
        ("status id", event.status_id.as_ref().map(|p| p.as_str())),
        ("checkout request id", event.checkout_request_id.as_deref()),
        ("merchant reference", event.merchant_reference.as_deref()),
    ];
    assert!(
        event.payment_id.is_some()
            || event.checkout_request_id.is_some()
            || event.merchant_reference.is_some(),
        "a callback event that names no payment"
    );
    for (what, id) in ids {
        if let Some(id) = id {
            check_id(what, id);
        }
    }
    check_status(&event.status);
    if let Err(e) = serde_json::to_string(event) {
        panic!("event does not serialize: {e}");
    }
}

/// A refused callback is `invalid_callback`.
pub fn check_callback_error(e: &Error) {
    check_error(e);
    assert_eq!(e.kind().as_str(), "invalid_callback", "{e}");
}

/// Checks a callback result: an event's invariants, or a refusal's kind.
pub fn check_callback(result: &Result<CallbackClaim, Error>) {
    match result {
        Ok(event) => check_event(event),
        Err(e) => check_callback_error(e),
    }
}

/// Verification that passes (a right token or signature) changes nothing: `verified` is what
/// parsing without any verification gave (`unverified`).
pub fn check_same(
    what: &str,
    unverified: &Result<CallbackClaim, Error>,
    verified: &Result<CallbackClaim, Error>,
) {
    match (unverified, verified) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}: a different event"),
        (Err(_), Err(e)) => check_callback_error(e),
        (Ok(_), Err(e)) => panic!("{what}: refused although verified: {e}"),
        (Err(e), Ok(_)) => panic!("{what}: accepted although unparsable: {e}"),
    }
}

/// A callback that fails verification (no token, a wrong token, a bad signature) is refused,
/// whatever its body.
pub fn check_refused(what: &str, result: &Result<CallbackClaim, Error>) {
    match result {
        Ok(event) => panic!("{what}: accepted without verification: {event:?}"),
        Err(e) => check_callback_error(e),
    }
}
