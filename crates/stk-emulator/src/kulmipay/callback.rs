//! KulmiPay's `collection_event` webhooks: the flat invoice with the `challenge` secret (and,
//! when signing is on, [`SIGNATURE_HEADER`]), delivered at acceptance, halfway and at the
//! final state.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use stk_core::CallbackRequest;
use stk_mock::simulation::SimulatedPayment;
use tokio::time::Instant;

use super::{KulmiState, SIGNATURE_HEADER};
use crate::util::lock;
use crate::webhook::{self, Deliver, Webhook};

impl KulmiState {
    /// The webhook body for an invoice now, and its signature when signing is on.
    fn webhook_body(&self, invoice_id: &str) -> Option<(Vec<u8>, Option<String>)> {
        let invoice = lock(&self.books).invoices.get(invoice_id).cloned()?;
        let mut value = self.invoice_json(&invoice, Instant::now());
        if let Value::Object(map) = &mut value {
            // The webhook is the flat invoice with `invoice_id`, whatever the generation.
            if let Some(id) = map.remove("id") {
                map.insert("invoice_id".to_owned(), id);
            }
            map.insert("challenge".to_owned(), json!(self.config.webhook_challenge));
        }
        let body = serde_json::to_vec(&value).ok()?;
        let signature = match (&self.config.webhook_challenge, self.config.sign_webhooks) {
            (Some(secret), true) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
                mac.update(&body);
                Some(hex::encode(mac.finalize().into_bytes()))
            }
            _ => None,
        };
        Some((body, signature))
    }

    /// The webhook for an invoice now, as the merchant's server would receive it.
    pub(super) fn callback_request(&self, invoice_id: &str) -> Option<CallbackRequest> {
        let (body, signature) = self.webhook_body(invoice_id)?;
        let mut cb = CallbackRequest::new(body)
            .header("content-type", "application/json")
            .path_and_query("/webhooks/kulmipay");
        if let Some(sig) = signature {
            cb = cb.header(SIGNATURE_HEADER, sig);
        }
        Some(cb)
    }

    /// Delivers the payment's webhooks (if a webhook URL is configured): at acceptance, and
    /// for a payment that takes time, halfway (processing) and at its final state.
    pub(super) fn schedule_webhooks(&self, payment: &SimulatedPayment) {
        if self.config.webhook_url.is_none() {
            return;
        }
        let created = payment.created;
        let delay = payment.script.delay;
        let mut times = vec![created];
        if delay > Duration::ZERO {
            times.push(created + delay / 2);
        }
        if let Some(at) = payment.final_at().filter(|_| delay > Duration::ZERO) {
            times.push(at);
        }
        webhook::schedule(self.me.clone(), payment.id.to_string(), times);
    }
}

#[stk_core::async_trait]
impl Deliver for KulmiState {
    /// Delivers the invoice's webhook as it is now, retried until the receiver answers 2xx.
    async fn deliver(&self, id: &str) {
        let Some(url) = self.config.webhook_url.clone() else {
            return;
        };
        let Some((body, signature)) = self.webhook_body(id) else {
            return;
        };
        let state = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("state").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        let webhook = Webhook {
            url,
            body,
            headers: signature
                .map(|sig| (SIGNATURE_HEADER, sig))
                .into_iter()
                .collect(),
            payment_id: id.to_owned(),
            state,
        };
        self.courier.deliver(&webhook, |_| {}).await;
    }
}
