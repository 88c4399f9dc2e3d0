//! UpesiPay's callback: the documented `{"forward_url", "response": {…}, "status"}` envelope,
//! POSTed to the push's `callback_url` once the payment is final.

use serde_json::json;
use stk_core::CallbackRequest;
use stk_mock::simulation::SimulatedPayment;
use tokio::time::Instant;

use super::UpesiState;
use super::wire::code_number;
use crate::util::{lock, request_target};
use crate::webhook::{self, Deliver, Webhook};

impl UpesiState {
    /// The callback body for a final payment, its callback URL, and its `Status` word.
    fn callback_body(&self, reference: &str) -> Option<(Vec<u8>, Option<String>, String)> {
        let txn = lock(&self.books).find(reference).cloned()?;
        let status = txn.payment.status_at(Instant::now());
        let (code, text) = txn.payment.script.scenario.result()?;
        if !status.is_final() {
            return None;
        }
        let success = code.is_success();
        let word = if success { "Success" } else { "Failed" };
        let body = json!({
            "forward_url": "",
            "response": {
                "Amount": txn.payment.amount.shillings(),
                "CheckoutRequestID": txn.checkout_request_id,
                "ExternalReference": txn.external_reference.clone().unwrap_or_default(),
                "MerchantRequestID": txn.merchant_request_id,
                "MpesaReceiptNumber": if success { txn.payment.receipt.clone() } else { String::new() },
                "Phone": txn.payment.phone.e164(),
                "ResultCode": code_number(&code),
                "ResultDesc": text,
                "Status": word,
            },
            "status": success,
        });
        Some((
            serde_json::to_vec(&body).ok()?,
            txn.callback_url,
            word.to_owned(),
        ))
    }

    /// The callback for a final payment, as the merchant's server would receive it (the
    /// request target of the push's `callback_url`, or `/` without one).
    pub(super) fn callback_request(&self, reference: &str) -> Option<CallbackRequest> {
        let (body, url, _) = self.callback_body(reference)?;
        let target = url
            .as_deref()
            .and_then(request_target)
            .unwrap_or_else(|| "/".to_owned());
        Some(
            CallbackRequest::new(body)
                .header("content-type", "application/json")
                .path_and_query(target),
        )
    }

    /// Delivers the payment's callback when it becomes final.
    pub(super) fn schedule_callback(&self, payment: &SimulatedPayment) {
        if let Some(at) = payment.final_at() {
            webhook::schedule(self.me.clone(), payment.id.to_string(), vec![at]);
        }
    }
}

#[stk_core::async_trait]
impl Deliver for UpesiState {
    /// POSTs the callback to the push's `callback_url` (if it had one) until the receiver
    /// answers 2xx.
    async fn deliver(&self, id: &str) {
        let Some((body, Some(url), word)) = self.callback_body(id) else {
            return;
        };
        let webhook = Webhook {
            url,
            body,
            headers: Vec::new(),
            payment_id: id.to_owned(),
            state: word,
        };
        self.courier.deliver(&webhook, |_| {}).await;
    }
}
