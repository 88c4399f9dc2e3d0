//! The two endpoints of each API generation: a push starts a simulated payment (recorded in
//! the ledger, webhooks scheduled); a status query shows the invoice.

use axum::http::StatusCode;
use serde_json::{Map, Value};
use stk_mock::simulation::Refusal;
use tokio::time::Instant;

use super::wire::{
    PushFields, add_error, detail, field_errors, invoice_id, push_fields, uuid_like,
};
use super::{Generation, Invoice, KulmiState};
use crate::ledger::RecordedCharge;
use crate::server::Reply;
use crate::util::{lock, now_rfc3339, simulated_push};

impl KulmiState {
    /// `POST /payment/mpesa-stk-push/` and `POST /payment/collection/stk-push/`.
    pub(super) fn initiate(&self, generation: Generation, body: &Map<String, Value>) -> Reply {
        let PushFields {
            phone,
            shillings,
            api_ref,
            customer_pays,
        } = match push_fields(body) {
            Ok(fields) => fields,
            Err(reply) => return reply,
        };
        let Some(request) = simulated_push(phone, shillings, api_ref.as_deref(), "MPesa-Express")
        else {
            return detail(StatusCode::BAD_REQUEST, "Invalid request.");
        };

        let now = Instant::now();
        let mut books = lock(&self.books);
        let started = match generation {
            Generation::Express => books.express.start(&request, now),
            Generation::Collection => books.collection.start(&request, now),
        };
        let payment = match started {
            Ok(p) => p,
            Err(Refusal::Rejected) => {
                let mut errors = Map::new();
                add_error(
                    &mut errors,
                    "phone_number",
                    "The phone number is not registered for M-PESA.",
                );
                return field_errors(errors);
            }
            Err(_) => {
                return detail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "M-PESA is temporarily unavailable. Please try again later.",
                );
            }
        };
        let session_id = uuid_like(&mut books.rng);
        let customer_id = format!("CUS{}", books.rng.u32(100_000..1_000_000));
        let invoice = Invoice {
            payment: payment.clone(),
            generation,
            api_ref: api_ref.clone(),
            value_cents: shillings.saturating_mul(100),
            customer_pays,
            session_id,
            customer_id,
            created_at: now_rfc3339(),
        };
        books
            .invoices
            .insert(payment.id.to_string(), invoice.clone());
        drop(books);
        self.ledger.record_charge(RecordedCharge {
            id: payment.id.to_string(),
            phone: payment.phone.international(),
            amount: shillings,
            reference: api_ref,
            api: generation.name(),
        });
        self.schedule_webhooks(&payment);
        Reply::json(
            StatusCode::OK,
            self.push_answer(&invoice, &payment, shillings, now),
        )
    }

    /// `POST /payment/status/` and `POST /payment/collection/status/`.
    pub(super) fn status(&self, body: &Map<String, Value>) -> Reply {
        let id = match invoice_id(body) {
            Ok(id) => id,
            Err(reply) => return reply,
        };
        let invoice = lock(&self.books).invoices.get(&id).cloned();
        let Some(invoice) = invoice else {
            return detail(StatusCode::NOT_FOUND, "Not found.");
        };
        Reply::json(
            StatusCode::OK,
            self.status_answer(&invoice, self.config.options.status_now()),
        )
    }
}
