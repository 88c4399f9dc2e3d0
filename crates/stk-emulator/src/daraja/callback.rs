//! Daraja's callbacks: `{"Body": {"stkCallback": {…}}}` with `CallbackMetadata` on success
//! only (`Amount` as a float, `Balance` without a value, `TransactionDate` and `PhoneNumber` as
//! integers), POSTed to the push's `CallBackURL` until the receiver answers HTTP 200 with
//! `{"ResultCode":0,…}`.

use std::time::SystemTime;

use serde_json::{Value, json};
use stk_core::{CallbackRequest, PaymentStatus};
use tokio::time::Instant;

use super::wire::eat_timestamp;
use super::{DarajaState, Payment};
use crate::util::{lock, request_target};
use crate::webhook::{self, Deliver, Webhook};

/// One callback POST the emulator made, and whether the receiver acknowledged it the way
/// Daraja asks (HTTP 200 with a JSON body whose `ResultCode` is 0).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DarajaCallbackAttempt {
    /// The payment's `CheckoutRequestID`.
    pub checkout_request_id: String,
    /// The attempt number, from 1.
    pub attempt: u32,
    /// The receiver's HTTP status, or `None` if the request failed.
    pub status: Option<u16>,
    /// The receiver's body (first 64 bytes, lossily decoded).
    pub body: String,
    /// Whether it was HTTP 200 with `ResultCode` 0.
    pub acknowledged: bool,
}

/// A number as Daraja writes it: an integer when the text is all digits.
fn integer(text: &str) -> Value {
    text.parse::<u64>()
        .map_or_else(|_| json!(text), Value::from)
}

impl DarajaState {
    /// The final callback body for a payment now and its callback URL; `None` if unknown or
    /// not final.
    fn callback_body(&self, checkout_request_id: &str) -> Option<(Vec<u8>, String, String)> {
        let payment = lock(&self.books)
            .payments
            .get(checkout_request_id)
            .cloned()?;
        let mut callback = json!({
            "MerchantRequestID": payment.merchant_request_id,
            "CheckoutRequestID": payment.checkout_request_id,
        });
        let state = match payment.payment.status_at(Instant::now()) {
            PaymentStatus::Completed(done) => {
                callback["ResultCode"] = json!(0);
                callback["ResultDesc"] = json!("The service request is processed successfully.");
                // `Amount` arrives as a float (`1.0`), like Daraja's.
                let amount = format!("{}.0", payment.payment.amount.shillings());
                callback["CallbackMetadata"] = json!({"Item": [
                    {"Name": "Amount", "Value": serde_json::from_str::<Value>(&amount).unwrap_or(Value::Null)},
                    {"Name": "MpesaReceiptNumber", "Value": done.receipt.unwrap_or_default()},
                    {"Name": "Balance"},
                    {"Name": "TransactionDate", "Value": integer(&eat_timestamp(SystemTime::now()))},
                    {"Name": "PhoneNumber", "Value": integer(&payment.payment.phone.international())},
                ]});
                "ResultCode 0".to_owned()
            }
            PaymentStatus::Failed(failure) => {
                let code = failure
                    .code
                    .as_ref()
                    .map_or_else(|| "1".to_owned(), |c| c.as_str().to_owned());
                callback["ResultCode"] = integer(&code);
                callback["ResultDesc"] = json!(failure.message.unwrap_or_default());
                format!("ResultCode {code}")
            }
            _ => return None,
        };
        let body = json!({"Body": {"stkCallback": callback}});
        Some((serde_json::to_vec(&body).ok()?, payment.callback_url, state))
    }

    /// The callback for a final payment, as the merchant's server would receive it.
    pub(super) fn callback_request(&self, checkout_request_id: &str) -> Option<CallbackRequest> {
        let (body, url, _) = self.callback_body(checkout_request_id)?;
        let mut cb = CallbackRequest::new(body).header("content-type", "application/json");
        if let Some(target) = request_target(&url) {
            cb = cb.path_and_query(target);
        }
        Some(cb)
    }

    /// Delivers the payment's callback when it becomes final.
    pub(super) fn schedule_callback(&self, payment: &Payment) {
        if let Some(at) = payment.payment.final_at() {
            webhook::schedule(
                self.me.clone(),
                payment.checkout_request_id.clone(),
                vec![at],
            );
        }
    }
}

#[stk_core::async_trait]
impl Deliver for DarajaState {
    /// POSTs the callback until the receiver acknowledges it as Daraja asks, recording every
    /// attempt (also as a [`DarajaCallbackAttempt`]).
    async fn deliver(&self, checkout_request_id: &str) {
        let Some((body, url, state)) = self.callback_body(checkout_request_id) else {
            return;
        };
        let webhook = Webhook {
            url,
            body,
            headers: Vec::new(),
            payment_id: checkout_request_id.to_owned(),
            state,
        };
        self.courier
            .deliver(&webhook, |attempt| {
                lock(&self.attempts).push(DarajaCallbackAttempt {
                    checkout_request_id: checkout_request_id.to_owned(),
                    attempt: attempt.number,
                    status: attempt.status,
                    body: attempt.body.clone(),
                    acknowledged: attempt.acknowledged,
                });
            })
            .await;
    }
}
