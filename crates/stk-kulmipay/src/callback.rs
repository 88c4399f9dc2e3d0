//! `collection_event` webhooks: verification and parsing.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use stk_core::{CallbackClaim, CallbackRequest, Error, PaymentId, secrets_match};

use crate::NAME;
use crate::mapping::invoice_status;
use crate::wire::CollectionEvent;

/// The header some KulmiPay docs say carries the hex HMAC-SHA256 of the raw body, keyed by
/// the challenge secret.
pub const SIGNATURE_HEADER: &str = "X-KulmiPay-Signature";

/// The same header as printed in older docs (with a space); accepted too.
pub const SIGNATURE_HEADER_SPACED: &str = "X-Kulmi Pay-Signature";

/// Verifies and parses a `collection_event` webhook.
///
/// With a challenge secret configured: the body's `challenge` must equal it (compared in
/// constant time), and a signature header, when present, must be the HMAC-SHA256 of the raw
/// body keyed by it. Without one, nothing can be verified: configure it in production.
pub(crate) fn parse(
    challenge: Option<&SecretString>,
    callback: &CallbackRequest,
) -> Result<CallbackClaim, Error> {
    let signature = callback
        .header_value(SIGNATURE_HEADER)
        .or_else(|| callback.header_value(SIGNATURE_HEADER_SPACED));
    if let (Some(secret), Some(signature)) = (challenge, signature) {
        verify_signature(secret.expose_secret().as_bytes(), &callback.body, signature)?;
    }
    let event: CollectionEvent = stk_http::serde_helpers::parse(&callback.body).map_err(|e| {
        Error::invalid_callback(NAME, format!("not a collection_event JSON object: {e}"))
    })?;
    if let Some(secret) = challenge {
        let received = event
            .challenge
            .as_deref()
            .ok_or_else(|| Error::invalid_callback(NAME, "the body has no challenge"))?;
        if !secrets_match(received.as_bytes(), secret.expose_secret().as_bytes()) {
            return Err(Error::invalid_callback(
                NAME,
                "the challenge does not match the configured secret",
            ));
        }
    }
    let id = event
        .invoice
        .handle()
        .ok_or_else(|| Error::invalid_callback(NAME, "the body has no invoice_id"))?;
    if event.invoice.state.is_none() {
        return Err(Error::invalid_callback(NAME, "the body has no state"));
    }
    Ok(CallbackClaim::new(
        NAME,
        Some(PaymentId::new(id)),
        invoice_status(&event.invoice),
    )
    .merchant_reference(event.invoice.api_ref.clone()))
}

fn verify_signature(key: &[u8], body: &[u8], signature: &str) -> Result<(), Error> {
    let expected = hex::decode(signature.trim())
        .map_err(|_| Error::invalid_callback(NAME, "the signature header is not hex"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .map_err(|_| Error::invalid_callback(NAME, "unusable challenge secret"))?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| Error::invalid_callback(NAME, "the signature does not match the body"))
}

/// The hex HMAC-SHA256 of `body` keyed by `secret`, as [`SIGNATURE_HEADER`] carries it.
pub fn sign(secret: &str, body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC accepts keys of any length.
        Err(_) => String::new(),
    }
}
