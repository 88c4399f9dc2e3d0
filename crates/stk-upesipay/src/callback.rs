//! Payment callbacks: verification and parsing.
//!
//! UpesiPay POSTs `{"forward_url":"","response":{…},"status":true}` to the push's
//! `callback_url` and documents **no signature**. Two defences are available:
//!
//! 1. **A secret token in the callback URL** ([`UpesiPayConfigBuilder::callback_token`]):
//!    the adapter adds `?token=<secret>` to every callback URL it sends, and `parse_callback`
//!    requires the same token in the received request's query (compared in constant time).
//!    Pass the request target to [`CallbackRequest::path_and_query`].
//! 2. **Confirm by status query** (the safe default, with or without a token): treat the
//!    event as a hint and call [`status`](stk_core::StkProvider::status) before fulfilling
//!    an order. Status queries accept the `CheckoutRequestID` the event carries.
//!
//! Answer callbacks with HTTP 200 (UpesiPay documents no acknowledgement body).
//!
//! The failure payload is not published; it is read as the same envelope with
//! `status:false`, the M-Pesa `ResultCode` and `Status:"Failed"`.
//!
//! [`UpesiPayConfigBuilder::callback_token`]: crate::UpesiPayConfigBuilder::callback_token

use secrecy::{ExposeSecret, SecretString};
use stk_core::{
    CallbackClaim, CallbackRequest, Completed, Error, Failure, FailureReason, PaymentId,
    PaymentStatus, ResultCode,
};

use crate::NAME;
use crate::config::CALLBACK_TOKEN_PARAM;
use crate::wire::CallbackEnvelope;

/// Verifies and parses a callback. With a token configured, the request's `token` query
/// parameter must equal it.
pub(crate) fn parse(
    token: Option<&SecretString>,
    callback: &CallbackRequest,
) -> Result<CallbackClaim, Error> {
    if let Some(secret) = token {
        callback.verify_query_token(NAME, CALLBACK_TOKEN_PARAM, secret.expose_secret())?;
    }
    parse_body(&callback.body)
}

/// Parses a callback body (no verification).
pub(crate) fn parse_body(body: &[u8]) -> Result<CallbackClaim, Error> {
    let envelope: CallbackEnvelope = stk_http::serde_helpers::parse(body).map_err(|e| {
        Error::invalid_callback(NAME, format!("not an UpesiPay callback JSON object: {e}"))
    })?;
    let response = envelope
        .response
        .ok_or_else(|| Error::invalid_callback(NAME, "the body has no response object"))?;
    let text = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let checkout = text(&response.checkout_request_id);
    let external = text(&response.external_reference);
    if checkout.is_none() && external.is_none() {
        return Err(Error::invalid_callback(
            NAME,
            "the body has neither a CheckoutRequestID nor an ExternalReference",
        ));
    }
    let code = text(&response.result_code);
    let word = text(&response.status).map(|w| w.to_ascii_lowercase());
    let says_failed = matches!(
        word.as_deref(),
        Some("failed" | "failure" | "cancelled" | "canceled")
    ) || envelope.status == Some(false);
    let says_success =
        matches!(word.as_deref(), Some("success" | "successful")) || envelope.status == Some(true);
    let desc = text(&response.result_desc);
    let status = match code.as_deref() {
        Some("0") if says_failed => {
            return Err(Error::invalid_callback(
                NAME,
                "the callback contradicts itself: ResultCode 0 with a failed status",
            ));
        }
        Some("0") => PaymentStatus::Completed(completed(&response)),
        Some(code) if says_success && !says_failed => {
            return Err(Error::invalid_callback(
                NAME,
                format!("the callback contradicts itself: ResultCode {code} with a success status"),
            ));
        }
        Some(code) => PaymentStatus::Failed(Failure::from_code(ResultCode::new(code), desc)),
        None if says_failed && !says_success => {
            let mut failure = Failure::new(FailureReason::Other);
            failure.message = desc;
            PaymentStatus::Failed(failure)
        }
        None if says_success && !says_failed => PaymentStatus::Completed(completed(&response)),
        None => {
            return Err(Error::invalid_callback(
                NAME,
                "the body has no ResultCode and no clear Status",
            ));
        }
    };
    // UpesiPay's status lookup accepts the CheckoutRequestID, so it confirms the event.
    Ok(CallbackClaim::new(NAME, None, status)
        .status_id(checkout.clone().map(PaymentId::new))
        .checkout_request_id(checkout)
        .merchant_reference(external))
}

fn completed(response: &crate::wire::CallbackResponse) -> Completed {
    let mut done = Completed::default().amount(response.amount);
    done.receipt = response
        .mpesa_receipt_number
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    done
}
