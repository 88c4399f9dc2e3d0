//! Callbacks: what Daraja POSTs to `CallBackURL`, how it is verified, and how to answer it.
//!
//! Daraja sends `{"Body": {"stkCallback": {"MerchantRequestID", "CheckoutRequestID",
//! "ResultCode", "ResultDesc", "CallbackMetadata": {"Item": [{"Name", "Value"}, …]}}}}`.
//! `CallbackMetadata` comes with successes only (`Amount`, `MpesaReceiptNumber`, `Balance`
//! often without a `Value`, `TransactionDate`, `PhoneNumber`; numbers as integers or floats);
//! failures carry just the result code and text. The event's
//! [`payment_id`](stk_core::CallbackClaim::payment_id) and
//! [`status_id`](stk_core::CallbackClaim::status_id) are the `CheckoutRequestID`, the id
//! [`status`](stk_core::StkProvider::status) queries. The callback does not echo the
//! `AccountReference`: match it to your order by the `CheckoutRequestID` stored at push time.
//!
//! **Daraja signs nothing and cannot set headers.** Anyone who learns the callback URL can
//! post to it, so:
//!
//! - **Confirm by status query (the safe default).** Treat a callback as a hint and call
//!   [`StkProvider::status`](stk_core::StkProvider::status) with its `status_id` before
//!   fulfilling an order (the tracker does this for every callback), and check the amount
//!   against the order.
//! - **Optionally, a secret token in the URL.** With
//!   [`DarajaConfigBuilder::callback_token`](crate::DarajaConfigBuilder::callback_token) set,
//!   the adapter adds the token to every `CallBackURL` it sends, as the query parameter
//!   [`TOKEN_PARAM`] (default) or as a last path segment
//!   ([`TokenPlacement::Path`](crate::TokenPlacement::Path)), and
//!   [`parse_callback`](stk_core::StkProvider::parse_callback) refuses callbacks without it
//!   (compared in constant time). Pass the request target to
//!   [`CallbackRequest::path_and_query`] so the parser can see it.
//! - **Optionally, Safaricom's addresses.** [`CallbackRequest`] carries no peer address, so
//!   the allowlist is a separate check your server makes with the connection's address:
//!   [`DarajaConfig::verify_callback_peer`] (with the list set by
//!   [`DarajaConfigBuilder::callback_allowlist`](crate::DarajaConfigBuilder::callback_allowlist))
//!   or [`is_safaricom_callback_ip`] (Safaricom's documented list,
//!   [`SAFARICOM_CALLBACK_IPS`]). Behind a proxy, use the address the proxy saw, never a
//!   client-supplied `X-Forwarded-For`.
//!
//! Answer every accepted callback at once with [`CALLBACK_ACK`] (HTTP 200,
//! `{"ResultCode":0,"ResultDesc":"Accepted"}`): Daraja re-sends unanswered callbacks, so
//! handle them idempotently ([`stk_core::SeenEvents`], or the tracker's inbox).

use std::net::{IpAddr, Ipv4Addr};

use secrecy::ExposeSecret;
use stk_core::{CallbackAck, CallbackClaim, CallbackRequest, Error, PaymentId, secrets_match};

use crate::config::TokenPlacement;
use crate::mapping::callback_status;
use crate::wire::{CallbackEnvelope, percent_decoded};
use crate::{DarajaConfig, NAME};

/// The query parameter of the callback URL that carries the secret token.
pub const TOKEN_PARAM: &str = "token";

/// HTTP 200 with `{"ResultCode":0,"ResultDesc":"Accepted"}`: how a webhook server
/// acknowledges a Daraja callback (at once; Daraja re-sends otherwise).
pub const CALLBACK_ACK: CallbackAck = CallbackAck::new(
    200,
    "application/json",
    r#"{"ResultCode":0,"ResultDesc":"Accepted"}"#,
);

/// The addresses Safaricom documents (third-party copies of its list) as the sources of
/// M-Pesa callbacks: `196.201.214.200`, `.206`, `.207`, `.208`; `196.201.213.114`, `.44`;
/// `196.201.212.127`, `.138`, `.129`, `.136`, `.74`, `.69`. Safaricom changes it without
/// notice: pass your own list to
/// [`DarajaConfigBuilder::callback_allowlist`](crate::DarajaConfigBuilder::callback_allowlist)
/// when it does.
pub const SAFARICOM_CALLBACK_IPS: [IpAddr; 12] = [
    v4(196, 201, 214, 200),
    v4(196, 201, 214, 206),
    v4(196, 201, 214, 207),
    v4(196, 201, 214, 208),
    v4(196, 201, 213, 114),
    v4(196, 201, 213, 44),
    v4(196, 201, 212, 127),
    v4(196, 201, 212, 138),
    v4(196, 201, 212, 129),
    v4(196, 201, 212, 136),
    v4(196, 201, 212, 74),
    v4(196, 201, 212, 69),
];

const fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// Whether `peer` (the callback connection's address; IPv4-mapped IPv6 accepted) is in
/// [`SAFARICOM_CALLBACK_IPS`].
pub fn is_safaricom_callback_ip(peer: IpAddr) -> bool {
    SAFARICOM_CALLBACK_IPS.contains(&peer.to_canonical())
}

impl DarajaConfig {
    /// Checks the address a callback came from against
    /// [`callback_allowlist`](Self::callback_allowlist): `Ok` when no allowlist is set or the
    /// address is in it, else [`Error::InvalidCallback`]. Call it with the connection's peer
    /// address before [`parse_callback`](stk_core::StkProvider::parse_callback), which cannot
    /// see it.
    pub fn verify_callback_peer(&self, peer: IpAddr) -> Result<(), Error> {
        match &self.callback_allowlist {
            Some(allowed)
                if !allowed
                    .iter()
                    .any(|a| a.to_canonical() == peer.to_canonical()) =>
            {
                Err(Error::invalid_callback(
                    NAME,
                    format!("the callback came from {peer}, which is not in the allowlist"),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Checks the token (when one is configured) and parses a callback.
pub(crate) fn parse(
    config: &DarajaConfig,
    callback: &CallbackRequest,
) -> Result<CallbackClaim, Error> {
    if let Some(secret) = &config.callback.token {
        match config.callback_token_in {
            TokenPlacement::Query => {
                callback.verify_query_token(NAME, TOKEN_PARAM, secret.expose_secret())?;
            }
            TokenPlacement::Path => verify_path_token(callback, secret.expose_secret())?,
        }
    }
    parse_body(&callback.body)
}

/// Checks that the last path segment of the callback's request target is the token.
fn verify_path_token(callback: &CallbackRequest, expected: &str) -> Result<(), Error> {
    let target = callback.path_and_query.as_deref().ok_or_else(|| {
        Error::invalid_callback(
            NAME,
            "the callback's request target is unknown (pass it to CallbackRequest::path_and_query)",
        )
    })?;
    let path = target.split(['?', '#']).next().unwrap_or("");
    let last = path
        .rsplit('/')
        .find(|s| !s.is_empty())
        .and_then(percent_decoded)
        .unwrap_or_default();
    if secrets_match(last.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(Error::invalid_callback(
            NAME,
            "the callback URL's last path segment is not the configured token",
        ))
    }
}

/// Parses a callback body without any verification.
pub(crate) fn parse_body(body: &[u8]) -> Result<CallbackClaim, Error> {
    let envelope: CallbackEnvelope =
        stk_http::serde_helpers::from_slice(body).ok_or_else(|| {
            Error::invalid_callback(NAME, "the body is not a JSON object of a Daraja callback")
        })?;
    let callback = envelope
        .body
        .and_then(|b| b.stk_callback)
        .ok_or_else(|| Error::invalid_callback(NAME, "the body has no Body.stkCallback"))?;
    let checkout = callback
        .CheckoutRequestID
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::invalid_callback(NAME, "Body.stkCallback has no CheckoutRequestID")
        })?;
    let status = callback_status(&callback).map_err(|e| Error::invalid_callback(NAME, e))?;
    Ok(
        CallbackClaim::new(NAME, Some(PaymentId::new(checkout.clone())), status)
            .checkout_request_id(Some(checkout)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_sample_parses() {
        let sample = br#"{"Body":{"stkCallback":{"MerchantRequestID":"677-6442255-1","CheckoutRequestID":"ws_CO_110520202014057155","ResultCode":0,"ResultDesc":"The service request is processed successfully.","CallbackMetadata":{"Item":[{"Name":"Amount","Value":1.0},{"Name":"MpesaReceiptNumber","Value":"OEB44R5U3U"},{"Name":"Balance"},{"Name":"TransactionDate","Value":20200511201419},{"Name":"PhoneNumber","Value":254794721438}]}}}}"#;
        let event = parse_body(sample).unwrap();
        let stk_core::PaymentStatus::Completed(done) = &event.status else {
            panic!("{event:?}")
        };
        assert_eq!(done.receipt.as_deref(), Some("OEB44R5U3U"));
        assert_eq!(done.amount.map(stk_core::Amount::shillings), Some(1));
        assert_eq!(done.completed_at.as_deref(), Some("20200511201419"));
        assert_eq!(
            event.status_id.as_ref().map(PaymentId::as_str),
            Some("ws_CO_110520202014057155")
        );
    }

    #[test]
    fn addresses() {
        assert!(is_safaricom_callback_ip("196.201.214.200".parse().unwrap()));
        assert!(is_safaricom_callback_ip(
            "::ffff:196.201.212.69".parse().unwrap()
        ));
        assert!(!is_safaricom_callback_ip(
            "196.201.214.201".parse().unwrap()
        ));
        assert!(!is_safaricom_callback_ip("127.0.0.1".parse().unwrap()));
    }
}
