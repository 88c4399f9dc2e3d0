//! Lipia's callbacks: the final result, nested (current docs) or flat (older integrations),
//! POSTed to the push's `callback_url` until the receiver answers HTTP 200 with the body `ok`.

use serde_json::{Value, json};
use stk_core::CallbackRequest;
use tokio::time::Instant;

use super::{LipiaState, Payment};
use crate::util::{lock, request_target};
use crate::webhook::{self, Deliver, Webhook};

/// Which callback body shape the emulator POSTs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LipiaCallbackShape {
    /// `{"response": {…, "Status": "Success" | "Failed"}, "status": bool}` (current docs).
    #[default]
    Nested,
    /// The older flat body some integrations expect: `{TransactionReference, ResultCode,
    /// ResultDesc, Amount, MpesaReceiptNumber, PhoneNumber, ExternalReference,
    /// CheckoutRequestID}`.
    Flat,
}

/// One callback POST the emulator made, and whether the receiver acknowledged it the way
/// Lipia asks (HTTP 200 with the body `ok`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LipiaCallbackAttempt {
    /// The payment's `TransactionReference`.
    pub reference: String,
    /// The attempt number, from 1.
    pub attempt: u32,
    /// The receiver's HTTP status, or `None` if the request failed.
    pub status: Option<u16>,
    /// The receiver's body (first 64 bytes, lossily decoded).
    pub body: String,
    /// Whether it was HTTP 200 with the body `ok` (surrounding whitespace ignored).
    pub acknowledged: bool,
}

impl LipiaState {
    /// The final callback body for a payment now and its callback URL; `None` if unknown or
    /// not final.
    fn callback_body(&self, reference: &str) -> Option<(Vec<u8>, Option<String>)> {
        let payment = lock(&self.books).payments.get(reference).cloned()?;
        let (mut record, state, ok) = Self::record_json(&payment, Instant::now());
        if state == "PENDING" {
            return None;
        }
        let body = match self.config.callback_shape {
            LipiaCallbackShape::Nested => {
                record.insert(
                    "CheckoutRequestID".to_owned(),
                    json!(payment.checkout_request_id),
                );
                record.insert(
                    "Status".to_owned(),
                    json!(if ok { "Success" } else { "Failed" }),
                );
                json!({"response": Value::Object(record), "status": ok})
            }
            LipiaCallbackShape::Flat => json!({
                "TransactionReference": payment.reference,
                "ResultCode": record.get("ResultCode"),
                "ResultDesc": record.get("ResultDesc"),
                "Amount": record.get("Amount"),
                "MpesaReceiptNumber": record.get("MpesaReceiptNumber"),
                "PhoneNumber": record.get("Phone"),
                "ExternalReference": record.get("ExternalReference"),
                "CheckoutRequestID": payment.checkout_request_id,
            }),
        };
        Some((serde_json::to_vec(&body).ok()?, payment.callback_url))
    }

    /// The callback for a final payment, as the merchant's server would receive it (with the
    /// request target of the push's `callback_url`, if it had one).
    pub(super) fn callback_request(&self, reference: &str) -> Option<CallbackRequest> {
        let (body, url) = self.callback_body(reference)?;
        let mut cb = CallbackRequest::new(body).header("content-type", "application/json");
        if let Some(target) = url.as_deref().and_then(request_target) {
            cb = cb.path_and_query(target);
        }
        Some(cb)
    }

    /// Delivers the payment's callback when it becomes final, if the push had a
    /// `callback_url`.
    pub(super) fn schedule_callback(&self, payment: &Payment) {
        if payment.callback_url.is_none() {
            return;
        }
        if let Some(at) = payment.payment.final_at() {
            webhook::schedule(self.me.clone(), payment.reference.clone(), vec![at]);
        }
    }
}

#[stk_core::async_trait]
impl Deliver for LipiaState {
    /// POSTs the callback until the receiver acknowledges it as Lipia asks, recording every
    /// attempt (also as a [`LipiaCallbackAttempt`]).
    async fn deliver(&self, reference: &str) {
        let Some((body, Some(url))) = self.callback_body(reference) else {
            return;
        };
        let state = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| {
                v.pointer("/response/Status")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| v.get("ResultCode").map(|c| format!("ResultCode {c}")))
            })
            .unwrap_or_default();
        let webhook = Webhook {
            url,
            body,
            headers: Vec::new(),
            payment_id: reference.to_owned(),
            state,
        };
        self.courier
            .deliver(&webhook, |attempt| {
                lock(&self.attempts).push(LipiaCallbackAttempt {
                    reference: reference.to_owned(),
                    attempt: attempt.number,
                    status: attempt.status,
                    body: attempt.body.clone(),
                    acknowledged: attempt.acknowledged,
                });
            })
            .await;
    }
}
