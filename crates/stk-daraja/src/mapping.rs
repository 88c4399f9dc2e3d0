//! From Daraja's answers to `stk-core` types: acceptances, query results, error bodies
//! (`{"requestId", "errorCode", "errorMessage"}`), HTTP errors and token answers to
//! [`Error`]s. Pure functions, so they can be tested (and fuzzed) without a server.
//!
//! | what happened | initiate | status |
//! |---|---|---|
//! | 2xx, `ResponseCode` `"0"` with a `CheckoutRequestID` | `PushAccepted` (payment id = `CheckoutRequestID`) | — |
//! | 2xx, `ResponseCode` other than `"0"` | `rejected` (code = `ResponseCode`) | — |
//! | 2xx, unparseable, or without `ResponseCode`/`CheckoutRequestID` | `outcome_unknown` (the charge may exist) | `unexpected_response` |
//! | 2xx query with `ResultCode` | — | `ResultCode` through the core mapping ([`ResultCode::to_status`]): `0` completed, others failed with the reason (`1032` cancelled, `1037`/`1019` timeout, `1` insufficient funds, `2001` wrong PIN, `1001` subscriber busy, `17`/`26`/`1025`/`9999` provider error), `ResultDesc` kept |
//! | 2xx query with `ResultCode` `4999` ("still under processing") | — | pending |
//! | 2xx query about another `CheckoutRequestID` | — | `unexpected_response` |
//! | `500.001.1001` "The transaction is being processed" | — | **pending** |
//! | `500.001.1001` "Wrong credentials" (bad passkey or shortcode, or the wrong environment) | `config`, with a hint | `config`, with a hint |
//! | `500.001.1001` "Unable to lock subscriber …" | `rejected` (code `500.001.1001`) | pending |
//! | `500.001.1001`, any other text | with a 5xx: as any 5xx (`outcome_unknown`, the push may have been forwarded; 503 `unavailable`), else `rejected` | pending |
//! | `400.002.02` "Bad Request - Invalid PhoneNumber" (and other invalid fields) | `rejected` (code `400.002.02`) | `rejected` |
//! | `400.002.02` "… Invalid CheckoutRequestID" | — | `unknown_payment` |
//! | `404.001.03` "Invalid Access Token", `401.*`, or HTTP 401 | the token is refreshed and the request sent once more; if refused again, `unauthorized` | same |
//! | `404.001.04` "Invalid Authentication Header" | `unauthorized` | `unauthorized` |
//! | any other `errorCode` with a 4xx other than 401/403/404/429 | `rejected` with the code | `rejected` with the code |
//! | 401, 403 | `unauthorized` | `unauthorized` |
//! | 404 without a Daraja code | `unexpected_response` (wrong base URL?) | `unknown_payment` |
//! | 429 | `rate_limited` (`Retry-After` seconds kept) | `rate_limited` |
//! | other 5xx (an error body's code kept in the message, or an HTML page) | 503: `unavailable`; else `outcome_unknown` (a gateway may have forwarded the push) | `unavailable` (polling rides over it) |
//! | other statuses | `unexpected_response` | `unexpected_response` |
//! | connect error (nothing sent) | `unavailable` | `unavailable` |
//! | timeout, reset or closed after sending | `outcome_unknown` | `outcome_unknown` (transient for `wait_for_final`) |
//!
//! The token request (`GET /oauth/v1/generate`), made before a push or query is sent:
//!
//! | token answer | error (for either operation) |
//! |---|---|
//! | 2xx `{"access_token", "expires_in"}` | — (`expires_in` read as a string or a number; absent or unreadable: 3599 s) |
//! | 2xx without an `access_token` | `unexpected_response` |
//! | 400, 401, 403 (`400.008.01` "Invalid Authentication passed": wrong consumer key or secret) | `unauthorized` with Daraja's message |
//! | 429 | `rate_limited` |
//! | 5xx, connect error, timeout, reset | `unavailable` (the push or query was not sent) |
//!
//! `400.002.02` maps to [`Error::Rejected`], not [`Error::InvalidRequest`]: the adapter
//! already checked everything it can before sending (phone form, amount, reference and
//! description lengths, callback URL), so Daraja's refusal is its own rule (e.g. a number that
//! is not an M-Pesa line); no charge was created. Error bodies are what the contract
//! (`RESEARCH.md`, Daraja section) documents; `4999` and the texts distinguishing the
//! `500.001.1001` cases are third-party reports, written so they can change in one place.

use std::time::Duration;

use secrecy::SecretString;
use stk_core::{
    Completed, Error, Failure, Operation, PaymentId, PaymentStatus, PushAccepted, ResultCode,
    StatusReport, excerpt,
};
use stk_http::serde_helpers::from_slice;
use stk_http::{RawResponse, status_error};

use crate::NAME;
use crate::wire::{ErrorBody, PushResponse, QueryResponse, StkCallback, item_text};

/// Daraja's "being processed" / "wrong credentials" / "unable to lock subscriber" code.
pub(crate) const BEING_PROCESSED: &str = "500.001.1001";
/// Daraja's "Invalid Access Token" code.
pub(crate) const INVALID_ACCESS_TOKEN: &str = "404.001.03";
/// Daraja's "Invalid Authentication Header" code.
pub(crate) const INVALID_AUTH_HEADER: &str = "404.001.04";
/// Daraja's invalid-field code ("Bad Request - Invalid PhoneNumber", …).
pub(crate) const INVALID_FIELD: &str = "400.002.02";
/// The query's "The transaction is still under processing" result code (third-party
/// reports): not a result, so pending.
const STILL_PROCESSING: &str = "4999";

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// A Daraja error body with an `errorCode`, if the body is one.
pub(crate) fn error_body(response: &RawResponse) -> Option<ErrorBody> {
    from_slice::<ErrorBody>(&response.body).filter(|b| non_empty(b.error_code.as_deref()).is_some())
}

fn code_of(body: &ErrorBody) -> &str {
    non_empty(body.error_code.as_deref()).unwrap_or("")
}

fn message_of(body: &ErrorBody) -> &str {
    non_empty(body.error_message.as_deref()).unwrap_or("Daraja returned an error")
}

fn mentions(text: &str, needle: &str) -> bool {
    text.to_ascii_lowercase().contains(needle)
}

/// Whether `code` is an invalid-token code: `404.001.03` or any `401.*`.
fn is_token_code(code: &str) -> bool {
    code == INVALID_ACCESS_TOKEN || code.starts_with("401.")
}

/// Whether a non-2xx answer refused the access token before the request was processed
/// (`404.001.03`, `401.*`, or HTTP 401): the request may be sent once more with a fresh token.
pub(crate) fn token_refused(response: &RawResponse) -> bool {
    if response.is_success() {
        return false;
    }
    response.status == 401 || error_body(response).is_some_and(|b| is_token_code(code_of(&b)))
}

/// The configuration error for `500.001.1001` "Wrong credentials".
fn wrong_credentials(message: &str) -> Error {
    Error::config(
        NAME,
        format!(
            "Daraja refused the push credentials ({BEING_PROCESSED}: {message}): check that \
             DARAJA_SHORTCODE and DARAJA_PASSKEY belong together (the passkey Safaricom issued \
             for that shortcode) and to the environment of the base URL (sandbox keys and the \
             sandbox passkey do not work in production, nor the reverse)"
        ),
    )
}

/// Maps an error answer (any status with a Daraja error body, or a non-2xx answer without
/// one). A query's pending answer is handled by [`status_response`] before this.
pub(crate) fn error_response(
    operation: Operation,
    id: Option<&PaymentId>,
    response: &RawResponse,
) -> Error {
    let Some(body) = error_body(response) else {
        return status_error(NAME, operation, id, response, || excerpt(&response.body));
    };
    let (code, message) = (code_of(&body), message_of(&body));
    if is_token_code(code) || code == INVALID_AUTH_HEADER {
        return Error::Unauthorized {
            provider: NAME,
            message: format!("{message} ({code})"),
        };
    }
    if code == BEING_PROCESSED {
        if mentions(message, "credential") {
            return wrong_credentials(message);
        }
        if operation == Operation::Initiate {
            let busy = mentions(message, "lock subscriber") || mentions(message, "in process");
            return if busy || response.status < 500 {
                Error::Rejected {
                    provider: NAME,
                    code: Some(code.to_owned()),
                    message: message.to_owned(),
                    customer_message: None,
                }
            } else {
                status_error(NAME, operation, id, response, || {
                    format!("{message} ({code})")
                })
            };
        }
    }
    if code == INVALID_FIELD
        && operation == Operation::Status
        && mentions(message, "checkoutrequestid")
    {
        if let Some(id) = id {
            return Error::UnknownPayment {
                provider: NAME,
                id: id.clone(),
            };
        }
    }
    match response.status {
        401 | 403 | 404 | 429 | 500..=599 => status_error(NAME, operation, id, response, || {
            format!("{message} ({code})")
        }),
        _ => Error::Rejected {
            provider: NAME,
            code: Some(code.to_owned()),
            message: message.to_owned(),
            customer_message: None,
        },
    }
}

/// Maps the answer to a push.
///
/// A 2xx answer that cannot be understood means the charge may exist, so it is
/// [`Error::OutcomeUnknown`], never a retryable error. Only `ResponseCode` `"0"` accepts.
pub(crate) fn push_response(response: &RawResponse) -> Result<PushAccepted, Error> {
    if !response.is_success() {
        return Err(error_response(Operation::Initiate, None, response));
    }
    let unknown = || Error::OutcomeUnknown {
        provider: NAME,
        operation: Operation::Initiate,
        message: format!(
            "HTTP {} with a body that is not a Daraja acceptance: {:?}",
            response.status,
            excerpt(&response.body)
        ),
        cause: None,
    };
    let parsed = from_slice::<PushResponse>(&response.body).ok_or_else(unknown)?;
    match non_empty(parsed.ResponseCode.as_deref()) {
        Some("0") => {
            let id = non_empty(parsed.CheckoutRequestID.as_deref()).ok_or_else(unknown)?;
            Ok(PushAccepted::new(NAME, PaymentId::new(id))
                .checkout_request_id(Some(id.to_owned()))
                .customer_message(non_empty(parsed.CustomerMessage.as_deref()).map(str::to_owned)))
        }
        Some(code) => Err(Error::Rejected {
            provider: NAME,
            code: Some(code.to_owned()),
            message: non_empty(parsed.ResponseDescription.as_deref())
                .unwrap_or("M-Pesa did not accept the push")
                .to_owned(),
            customer_message: non_empty(parsed.CustomerMessage.as_deref()).map(str::to_owned),
        }),
        None if error_body(response).is_some() => {
            Err(error_response(Operation::Initiate, None, response))
        }
        None => Err(unknown()),
    }
}

/// Maps the answer to a query about `id`: `500.001.1001` "being processed" is pending, a
/// `ResultCode` is the result.
pub(crate) fn status_response(
    id: &PaymentId,
    response: &RawResponse,
) -> Result<StatusReport, Error> {
    status_of(id, response).map(StatusReport::new)
}

/// The status a query answer gives. Daraja's answer names no reference, phone, amount or
/// receipt: the `CheckoutRequestID` it was asked about is its only tie to the push.
fn status_of(id: &PaymentId, response: &RawResponse) -> Result<PaymentStatus, Error> {
    if let Some(body) = error_body(response) {
        if code_of(&body) == BEING_PROCESSED && !mentions(message_of(&body), "credential") {
            return Ok(PaymentStatus::Pending);
        }
        return Err(error_response(Operation::Status, Some(id), response));
    }
    if !response.is_success() {
        return Err(error_response(Operation::Status, Some(id), response));
    }
    let unexpected = || Error::unexpected(NAME, Some(response.status), &response.body);
    let parsed = from_slice::<QueryResponse>(&response.body).ok_or_else(unexpected)?;
    if let Some(about) = non_empty(parsed.CheckoutRequestID.as_deref()) {
        if about != id.as_str() {
            return Err(unexpected());
        }
    }
    let code = non_empty(parsed.ResultCode.as_deref()).ok_or_else(unexpected)?;
    if code == STILL_PROCESSING {
        return Ok(PaymentStatus::Pending);
    }
    let message = non_empty(parsed.ResultDesc.as_deref()).map(str::to_owned);
    Ok(ResultCode::new(code).to_status(message))
}

/// The status a callback reports: `ResultCode` `0` is completed with the metadata's receipt,
/// amount and date; any other code failed through the core mapping. An error without a
/// `ResultCode`, or with an `Amount` that is not whole shillings.
pub(crate) fn callback_status(callback: &StkCallback) -> Result<PaymentStatus, String> {
    let code =
        non_empty(callback.ResultCode.as_deref()).ok_or("Body.stkCallback has no ResultCode")?;
    let code = ResultCode::new(code);
    if !code.is_success() {
        let message = non_empty(callback.ResultDesc.as_deref()).map(str::to_owned);
        return Ok(PaymentStatus::Failed(Failure::from_code(code, message)));
    }
    let items = match &callback.CallbackMetadata {
        Some(metadata) => metadata.items()?,
        None => Default::default(),
    };
    let text = |name: &str| items.get(name).copied().flatten().and_then(item_text);
    let amount = text("Amount")
        .map(|a| {
            a.parse::<stk_core::Amount>()
                .map_err(|e| format!("the Amount item {a:?} is not whole shillings: {e}"))
        })
        .transpose()?;
    let mut done = Completed::default()
        .amount(amount)
        .completed_at(text("TransactionDate"));
    done.receipt = text("MpesaReceiptNumber");
    Ok(PaymentStatus::Completed(done))
}

/// The lifetime assumed when Daraja's answer has no usable `expires_in` (its tokens live one
/// hour; `expires_in` is documented as `"3599"`).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3599);

/// An access token as Daraja issued it.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    /// The bearer token.
    pub(crate) access_token: SecretString,
    /// `expires_in`.
    pub(crate) lifetime: Duration,
}

/// Maps the answer to a token request.
pub(crate) fn token_response(response: &RawResponse) -> Result<Token, Error> {
    if !response.is_success() {
        let body = error_body(response);
        let message = || {
            body.as_ref().map_or_else(
                || {
                    let shown = excerpt(&response.body);
                    if shown.is_empty() {
                        format!(
                            "the token request was refused (HTTP {}); check the consumer key and secret",
                            response.status
                        )
                    } else {
                        shown
                    }
                },
                |b| message_of(b).to_owned(),
            )
        };
        return Err(match response.status {
            400 | 401 | 403 => Error::Unauthorized {
                provider: NAME,
                message: message(),
            },
            429 => Error::RateLimited {
                provider: NAME,
                retry_after: response.retry_after,
            },
            _ => Error::Unavailable {
                provider: NAME,
                status: Some(response.status),
                message: format!("the access token request failed: {}", message()),
                cause: None,
            },
        });
    }
    let parsed = from_slice::<crate::wire::TokenResponse>(&response.body);
    let access_token = parsed
        .as_ref()
        .and_then(|t| non_empty(t.access_token.as_deref()))
        .ok_or_else(|| Error::unexpected(NAME, Some(response.status), &response.body))?;
    let lifetime = parsed
        .as_ref()
        .and_then(|t| non_empty(t.expires_in.as_deref()))
        .and_then(crate::wire::integral)
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
    Ok(Token {
        access_token: SecretString::from(access_token.to_owned()),
        lifetime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use secrecy::ExposeSecret;

    proptest! {
        #[test]
        fn token_answers_never_panic(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let response = RawResponse::new(status, None, body);
            if let Ok(token) = token_response(&response) {
                prop_assert!(response.is_success());
                prop_assert!(!token.access_token.expose_secret().trim().is_empty());
            }
        }

        #[test]
        fn token_json_never_panics(token in proptest::option::of("\\PC{0,20}"), expires in proptest::option::of(prop_oneof![
            "\\PC{0,8}".prop_map(serde_json::Value::String),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(|f| serde_json::json!(f)),
        ])) {
            let body = serde_json::json!({"access_token": token, "expires_in": expires});
            let _ = token_response(&RawResponse::new(200, None, serde_json::to_vec(&body).unwrap()));
        }
    }

    fn raw(status: u16, body: &str) -> RawResponse {
        RawResponse::new(status, None, body)
    }

    #[test]
    fn pending_and_results() {
        let id = PaymentId::new("ws_CO_1");
        let pending = r#"{"requestId":"ws_CO_1","errorCode":"500.001.1001","errorMessage":"The transaction is being processed"}"#;
        assert_eq!(
            status_of(&id, &raw(500, pending)),
            Ok(PaymentStatus::Pending)
        );
        let cancelled = r#"{"ResponseCode":"0","ResponseDescription":"The service request has been accepted successsfully","MerchantRequestID":"1-2-3","CheckoutRequestID":"ws_CO_1","ResultCode":"1032","ResultDesc":"Request cancelled by user"}"#;
        let Ok(PaymentStatus::Failed(f)) = status_of(&id, &raw(200, cancelled)) else {
            panic!("failed")
        };
        assert_eq!(f.reason, stk_core::FailureReason::Cancelled);
        let other = cancelled.replace("ws_CO_1\",\"Result", "ws_CO_2\",\"Result");
        assert_eq!(
            status_response(&id, &raw(200, &other)).unwrap_err().kind(),
            "unexpected_response"
        );
        let wrong =
            r#"{"requestId":"x","errorCode":"500.001.1001","errorMessage":"Wrong credentials"}"#;
        assert_eq!(
            status_response(&id, &raw(500, wrong)).unwrap_err().kind(),
            "config"
        );
        assert_eq!(
            push_response(&raw(500, wrong)).unwrap_err().kind(),
            "config"
        );
    }

    #[test]
    fn token_refusals() {
        let invalid =
            r#"{"requestId":"r","errorCode":"404.001.03","errorMessage":"Invalid Access Token"}"#;
        assert!(token_refused(&raw(404, invalid)));
        assert!(token_refused(&raw(401, "")));
        assert!(token_refused(&raw(
            400,
            r#"{"errorCode":"401.002.01","errorMessage":"x"}"#
        )));
        assert!(!token_refused(&raw(500, r#"{"errorCode":"500.001.1001"}"#)));
        assert!(!token_refused(&raw(200, invalid)));
        assert_eq!(
            push_response(&raw(404, invalid)).unwrap_err().kind(),
            "unauthorized"
        );
    }

    #[test]
    fn tokens() {
        let t = token_response(&raw(200, r#"{"access_token":"abc","expires_in":"3599"}"#)).unwrap();
        assert_eq!(
            (t.access_token.expose_secret(), t.lifetime.as_secs()),
            ("abc", 3599)
        );
        let t = token_response(&raw(200, r#"{"access_token":"abc","expires_in":120}"#)).unwrap();
        assert_eq!(t.lifetime.as_secs(), 120);
        let t = token_response(&raw(200, r#"{"access_token":"abc","expires_in":"soon"}"#)).unwrap();
        assert_eq!(t.lifetime, DEFAULT_TOKEN_LIFETIME);
        assert_eq!(
            token_response(&raw(200, "{}")).unwrap_err().kind(),
            "unexpected_response"
        );
        assert_eq!(
            token_response(&raw(400, "")).unwrap_err().kind(),
            "unauthorized"
        );
        assert_eq!(
            token_response(&raw(503, "<html>")).unwrap_err().kind(),
            "unavailable"
        );
        assert_eq!(
            token_response(&raw(429, "")).unwrap_err().kind(),
            "rate_limited"
        );
    }
}
