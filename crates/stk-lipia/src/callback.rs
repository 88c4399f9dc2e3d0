//! Callbacks: what Lipia POSTs to `callback_url`, how it is verified, and how to answer it.
//!
//! Lipia sends `{"response": {…, "Status": "Success" | "Failed", "ResultCode", …}, "status":
//! bool}`; some integrations receive an older flat body (`TransactionReference, ResultCode,
//! ResultDesc, Amount, MpesaReceiptNumber, PhoneNumber, ExternalReference,
//! CheckoutRequestID`). Both are accepted.
//!
//! **Lipia documents no signature.** Anyone who learns the callback URL can post to it, so:
//!
//! - **Confirm by status query (the safe default).** Treat a callback as a hint and call
//!   [`StkProvider::status`](stk_core::StkProvider::status) before fulfilling an order. The
//!   nested body has no `TransactionReference`: correlate by
//!   [`checkout_request_id`](stk_core::CallbackClaim::checkout_request_id) or
//!   [`merchant_reference`](stk_core::CallbackClaim::merchant_reference) (the
//!   `external_reference` you sent), which you stored at push time.
//! - **Optionally, a secret token in the URL.** With
//!   [`LipiaConfigBuilder::callback_token`](crate::LipiaConfigBuilder::callback_token) set,
//!   the adapter adds `token=<secret>` as a query parameter ([`TOKEN_PARAM`]) to every
//!   `callback_url` it sends (unless the URL already has one), and
//!   [`parse_callback`](stk_core::StkProvider::parse_callback) refuses callbacks whose
//!   [`CallbackRequest::query_param`]`("token")` is missing or different (compared in
//!   constant time). Pass the request target to
//!   [`CallbackRequest::path_and_query`] so the parser can see it.
//!
//! Answer every accepted callback with [`CALLBACK_ACK`] (HTTP 200, `text/plain`, `ok`) within
//! 30 s; answer refused ones with a 4xx.

use secrecy::{ExposeSecret, SecretString};
use stk_core::{CallbackAck, CallbackClaim, CallbackRequest, Error, PaymentId};

use crate::NAME;
use crate::mapping::{record_status, result_code_status};
use crate::wire::CallbackBody;

/// The query parameter of the callback URL that carries the secret token.
pub const TOKEN_PARAM: &str = "token";

/// HTTP 200 with a `text/plain` body of `ok`: how a webhook server acknowledges a Lipia
/// callback (within 30 s).
pub const CALLBACK_ACK: CallbackAck = CallbackAck::new(200, "text/plain", "ok");

/// Checks the token (when one is configured) and parses a callback in either shape.
pub(crate) fn parse(
    token: Option<&SecretString>,
    callback: &CallbackRequest,
) -> Result<CallbackClaim, Error> {
    if let Some(secret) = token {
        callback.verify_query_token(NAME, TOKEN_PARAM, secret.expose_secret())?;
    }
    parse_body(&callback.body)
}

/// Parses a callback body (either shape) without any verification.
pub(crate) fn parse_body(body: &[u8]) -> Result<CallbackClaim, Error> {
    let parsed = CallbackBody::from_slice(body).ok_or_else(|| {
        Error::invalid_callback(NAME, "the body is not a JSON object of a Lipia callback")
    })?;
    let record = parsed.record();
    let status = match &parsed {
        // `Status` ("Success"/"Failed") wins; without it, the M-Pesa result code decides.
        CallbackBody::Nested { .. } => record_status(record).or_else(|| result_code_status(record)),
        CallbackBody::Flat(_) => result_code_status(record).or_else(|| record_status(record)),
    }
    .ok_or_else(|| Error::invalid_callback(NAME, "the body has neither Status nor ResultCode"))?;
    let clean = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let payment_id = clean(&record.TransactionReference).map(PaymentId::new);
    let checkout = clean(&record.CheckoutRequestID);
    let reference = clean(&record.ExternalReference);
    if payment_id.is_none() && checkout.is_none() && reference.is_none() {
        return Err(Error::invalid_callback(
            NAME,
            "the body has no TransactionReference, CheckoutRequestID or ExternalReference",
        ));
    }
    Ok(CallbackClaim::new(NAME, payment_id, status)
        .checkout_request_id(checkout)
        .merchant_reference(reference))
}
