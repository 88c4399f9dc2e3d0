//! The two endpoints: a push (checked against the abuse rules) starts a simulated payment,
//! recorded in the ledger, with its callback scheduled; a status query shows the transaction.

use axum::http::{StatusCode, header};
use serde_json::{Map, Value, json};
use stk_mock::simulation::Refusal;
use tokio::time::Instant;

use super::abuse::abuse_block;
use super::wire::{PushFields, checkout_id, error, push_fields};
use super::{Txn, UpesiState};
use crate::ledger::RecordedCharge;
use crate::server::Reply;
use crate::util::{lock, now_rfc3339, simulated_push, status_reference};

impl UpesiState {
    /// `POST /payments`.
    pub(super) fn initiate(&self, body: &Map<String, Value>) -> Reply {
        let bad = |m: &str| error(StatusCode::BAD_REQUEST, m);
        let PushFields {
            amount,
            phone,
            external_reference,
            customer_name,
            callback_url,
        } = match push_fields(body, self.config.channel_id) {
            Ok(fields) => fields,
            Err(reply) => return reply,
        };

        let real_now = Instant::now();
        let clock_offset = *lock(&self.clock_offset);
        let mut books = lock(&self.books);
        let outcomes = books.outcomes(real_now);
        if let Some(block) = abuse_block(
            &self.config.abuse,
            &outcomes,
            &phone,
            real_now + clock_offset,
        ) {
            drop(books);
            let mut reply = error(StatusCode::FORBIDDEN, &block.message);
            reply.headers.push((
                header::RETRY_AFTER,
                block.remaining.as_secs().max(1).to_string(),
            ));
            return reply;
        }
        let Some(request) =
            simulated_push(phone, amount, external_reference.as_deref(), "UPESIPAY")
        else {
            return bad("Invalid request");
        };
        let payment = match books.sim.start(&request, real_now) {
            Ok(p) => p,
            Err(Refusal::Rejected) => {
                return bad("The phone number is not registered for M-PESA.");
            }
            Err(_) => {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "M-PESA is temporarily unavailable. Please try again later.",
                );
            }
        };
        books.sequence = books.sequence.wrapping_add(1);
        let created_at = now_rfc3339();
        let checkout_request_id = checkout_id(&created_at, books.sequence, &payment.phone);
        let merchant_request_id = format!(
            "{}-{}-1",
            books.rng.u32(1000..10_000),
            books.rng.u32(10_000_000..100_000_000)
        );
        let reference = payment.id.to_string();
        let txn = Txn {
            payment: payment.clone(),
            checkout_request_id: checkout_request_id.clone(),
            merchant_request_id,
            external_reference: external_reference.clone(),
            customer_name,
            callback_url,
            created_at,
            clock_offset,
        };
        books.txns.insert(reference.clone(), txn);
        books.order.push(reference.clone());
        books
            .by_checkout
            .insert(checkout_request_id.clone(), reference.clone());
        drop(books);
        self.ledger.record_charge(RecordedCharge {
            id: reference.clone(),
            phone: payment.phone.international(),
            amount,
            reference: external_reference,
            api: "v2",
        });
        self.schedule_callback(&payment);
        Reply::json(
            StatusCode::CREATED,
            json!({
                "success": true,
                "status": "QUEUED",
                "reference": reference,
                "CheckoutRequestID": checkout_request_id,
            }),
        )
    }

    /// `GET /transaction-status?reference=…` (a push's `reference`, its `CheckoutRequestID`
    /// or, once completed, its M-Pesa receipt).
    pub(super) fn status(&self, path: &str) -> Reply {
        let Some(reference) = status_reference(path) else {
            return error(StatusCode::BAD_REQUEST, "The reference field is required.");
        };
        let books = lock(&self.books);
        let Some(txn) = books.find(&reference).cloned() else {
            return error(StatusCode::NOT_FOUND, "Transaction not found.");
        };
        drop(books);
        Reply::json(
            StatusCode::OK,
            self.status_json(&txn, self.config.options.status_now()),
        )
    }
}
