//! The two endpoints: a push starts a simulated payment, recorded in the ledger, with its
//! callback scheduled; a query shows the payment ("being processed" until it has a result).

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use stk_core::PaymentStatus;
use stk_mock::Scenario;
use stk_mock::simulation::Refusal;
use tokio::time::Instant;

use super::wire::{error_reply, invalid, push_fields, query_fields};
use super::{DarajaState, Payment};
use crate::ledger::RecordedCharge;
use crate::server::Reply;
use crate::util::lock;

/// A result code as the query sends it: text.
fn code_text(status: &PaymentStatus) -> Option<(String, String)> {
    match status {
        PaymentStatus::Completed(_) => Some((
            "0".to_owned(),
            "The service request is processed successfully.".to_owned(),
        )),
        PaymentStatus::Failed(f) => Some((
            f.code
                .as_ref()
                .map_or_else(|| "1".to_owned(), |c| c.as_str().to_owned()),
            f.message.clone().unwrap_or_default(),
        )),
        _ => None,
    }
}

impl DarajaState {
    /// `POST /mpesa/stkpush/v1/processrequest`.
    pub(super) fn initiate(&self, body: &Map<String, Value>) -> Reply {
        let push = match push_fields(&self.config, body) {
            Ok(fields) => fields,
            Err(reply) => return reply,
        };

        let now = Instant::now();
        let mut books = lock(&self.books);
        let mut payment = match books.simulation.start(&push.request, now) {
            Ok(p) => p,
            Err(Refusal::Rejected) => return invalid("PhoneNumber"),
            Err(_) => {
                // An outage refused before processing: 503 (an HTTP 500 would leave the
                // outcome unknown).
                return error_reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "",
                    "503.001.01",
                    "Service Unavailable",
                );
            }
        };
        if push.description_too_long && payment.script.scenario.result().is_some() {
            // Daraja accepts an overlong TransactionDesc, then the push fails.
            payment.script.scenario = Scenario::ProviderError;
        }
        let merchant_request_id = format!(
            "{}-{}-1",
            books.rng.u32(10_000..100_000),
            books.rng.u32(10_000_000..100_000_000)
        );
        let digits: String = (0..20)
            .map(|_| char::from(b'0' + books.rng.u8(0..10)))
            .collect();
        let checkout_request_id = format!("ws_CO_{digits}");
        let record = Payment {
            payment: payment.clone(),
            merchant_request_id: merchant_request_id.clone(),
            checkout_request_id: checkout_request_id.clone(),
            callback_url: push.callback_url,
        };
        books
            .payments
            .insert(checkout_request_id.clone(), record.clone());
        drop(books);
        self.ledger.record_charge(RecordedCharge {
            id: checkout_request_id.clone(),
            phone: payment.phone.international(),
            amount: push.amount,
            reference: Some(push.account_reference),
            api: "stkpush",
        });
        self.schedule_callback(&record);
        Reply::json(
            StatusCode::OK,
            json!({
                "MerchantRequestID": merchant_request_id,
                "CheckoutRequestID": checkout_request_id,
                "ResponseCode": "0",
                "ResponseDescription": "Success. Request accepted for processing",
                "CustomerMessage": "Success. Request accepted for processing",
            }),
        )
    }

    /// `POST /mpesa/stkpushquery/v1/query`.
    pub(super) fn query(&self, body: &Map<String, Value>) -> Reply {
        let id = match query_fields(&self.config, body) {
            Ok(id) => id,
            Err(reply) => return reply,
        };
        let payment = lock(&self.books).payments.get(&id).cloned();
        let Some(payment) = payment else {
            return invalid("CheckoutRequestID");
        };
        let Some((code, desc)) =
            code_text(&payment.payment.status_at(self.config.options.status_now()))
        else {
            return error_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                &id,
                "500.001.1001",
                "The transaction is being processed",
            );
        };
        Reply::json(
            StatusCode::OK,
            json!({
                "ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successsfully",
                "MerchantRequestID": payment.merchant_request_id,
                "CheckoutRequestID": payment.checkout_request_id,
                "ResultCode": code,
                "ResultDesc": desc,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_as_text() {
        assert_eq!(code_text(&PaymentStatus::Pending), None);
        assert_eq!(code_text(&PaymentStatus::Processing), None);
        let (code, _) = code_text(&stk_core::ResultCode::new("1032").to_status(None)).unwrap();
        assert_eq!(code, "1032");
    }
}
