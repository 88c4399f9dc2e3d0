//! The two endpoints: a push starts a simulated payment, recorded in the ledger, with its
//! callback scheduled; a status query shows the payment.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use stk_mock::simulation::Refusal;
use tokio::time::Instant;

use super::wire::{error_reply, ok_envelope, push_fields, validation_error};
use super::{LipiaState, Payment};
use crate::ledger::RecordedCharge;
use crate::server::Reply;
use crate::util::{hex_id, lock, now_rfc3339, status_reference};

impl LipiaState {
    /// `POST /payments/stk-push`.
    pub(super) fn initiate(&self, body: &Map<String, Value>) -> Reply {
        let push = match push_fields(body) {
            Ok(fields) => fields,
            Err(reply) => return reply,
        };

        let now = Instant::now();
        let mut books = lock(&self.books);
        let payment = match books.simulation.start(&push.request, now) {
            Ok(p) => p,
            Err(Refusal::Rejected) => {
                return error_reply(
                    StatusCode::BAD_REQUEST,
                    "Failed to initiate STK push: the subscriber cannot be charged",
                    "We could not send the payment request to this number. Please try another number.",
                    json!({"code": "PAYMENT_ERROR", "details": "STK push rejected by M-Pesa"}),
                );
            }
            Err(_) => {
                return error_reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "M-Pesa service is temporarily unavailable",
                    "Payments are temporarily unavailable. Please try again shortly.",
                    json!({"code": "SERVICE_UNAVAILABLE"}),
                );
            }
        };
        let reference = hex_id(&mut books.rng, 24);
        let merchant_request_id = format!(
            "{}-{}-1",
            books.rng.u32(10_000..100_000),
            books.rng.u32(10_000_000..100_000_000)
        );
        let checkout_request_id = format!("ws_CO_{}", hex_id(&mut books.rng, 20));
        let record = Payment {
            payment: payment.clone(),
            reference: reference.clone(),
            external_reference: push.external_reference,
            callback_url: push.callback_url,
            metadata: push.metadata,
            merchant_request_id,
            checkout_request_id,
            created_at: now_rfc3339(),
        };
        books.payments.insert(reference.clone(), record.clone());
        drop(books);
        self.ledger.record_charge(RecordedCharge {
            id: reference.clone(),
            phone: payment.phone.international(),
            amount: push.amount,
            reference: push.reference_text,
            api: "v2",
        });
        self.schedule_callback(&record);
        Reply::json(
            StatusCode::OK,
            ok_envelope(
                "STK push initiated successfully",
                "STK push initiated successfully",
                json!({
                    "TransactionReference": reference,
                    "ResponseCode": 0,
                    "ResponseDescription": "Success. Request accepted for processing",
                }),
            ),
        )
    }

    /// `GET /payments/status?reference=…`.
    pub(super) fn status(&self, path: &str) -> Reply {
        let Some(reference) = status_reference(path) else {
            return validation_error("reference", "query", &Value::Null, "transaction reference");
        };
        let payment = lock(&self.books).payments.get(&reference).cloned();
        let Some(payment) = payment else {
            return error_reply(
                StatusCode::NOT_FOUND,
                "Transaction not found",
                "We could not find this transaction",
                json!({"code": "NOT_FOUND", "reference": reference}),
            );
        };
        Reply::json(
            StatusCode::OK,
            Self::status_answer(&payment, self.config.options.status_now()),
        )
    }
}
