//! KulmiPay's wire format as the emulator speaks it: request fields validated the way
//! KulmiPay's Django REST framework API does, its DRF-style errors, and the invoice JSON of
//! its answers and webhooks.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use stk_core::{PaymentStatus, PhoneNumber};
use stk_mock::simulation::SimulatedPayment;
use tokio::time::Instant;

use super::{Generation, Invoice, KulmiState, MAX_AMOUNT, MIN_AMOUNT};
use crate::server::Reply;
use crate::util::{cents_text, hex_id, now_rfc3339};

/// KulmiPay's word for a status (`invoice.state`).
pub(super) fn state_name(status: &PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Processing => "PROCESSING",
        PaymentStatus::Completed(_) => "COMPLETE",
        PaymentStatus::Failed(_) => "FAILED",
        _ => "PENDING",
    }
}

/// A DRF error: `{"detail": text}`.
pub(super) fn detail(status: StatusCode, text: &str) -> Reply {
    Reply::json(status, json!({ "detail": text }))
}

/// DRF's answer to invalid fields: 400 with `{"field": ["message", …], …}`.
pub(super) fn field_errors(errors: Map<String, Value>) -> Reply {
    Reply::json(StatusCode::BAD_REQUEST, Value::Object(errors))
}

/// Adds a field's error to a DRF error object.
pub(super) fn add_error(errors: &mut Map<String, Value>, field: &str, message: &str) {
    errors.insert(field.to_owned(), json!([message]));
}

/// The fields of a valid push request.
#[derive(Debug)]
pub(super) struct PushFields {
    /// `phone_number`.
    pub(super) phone: PhoneNumber,
    /// `amount`, in whole shillings (rounded up).
    pub(super) shillings: u64,
    /// `api_ref`, the merchant reference.
    pub(super) api_ref: Option<String>,
    /// Whether `mobile_tarrif` is `CUSTOMER-PAYS`.
    pub(super) customer_pays: bool,
}

/// Validates a push body as KulmiPay does, reporting every invalid field at once
/// (`{"field": ["message"]}`).
pub(super) fn push_fields(body: &Map<String, Value>) -> Result<PushFields, Reply> {
    let mut errors = Map::new();
    let phone = match body.get("phone_number") {
        None | Some(Value::Null) => {
            add_error(&mut errors, "phone_number", "This field is required.");
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            add_error(&mut errors, "phone_number", "This field may not be blank.");
            None
        }
        Some(Value::String(s)) => {
            let s = s.trim();
            let well_formed =
                s.len() == 12 && s.starts_with("254") && s.bytes().all(|b| b.is_ascii_digit());
            match PhoneNumber::parse(s) {
                Ok(p) if well_formed => Some(p),
                _ => {
                    add_error(
                        &mut errors,
                        "phone_number",
                        "Enter a valid phone number in the format 254XXXXXXXXX.",
                    );
                    None
                }
            }
        }
        Some(_) => {
            add_error(&mut errors, "phone_number", "Not a valid string.");
            None
        }
    };
    let shillings = match body.get("amount") {
        None | Some(Value::Null) => {
            add_error(&mut errors, "amount", "This field is required.");
            None
        }
        Some(v) => match parse_amount(v) {
            AmountParse::Invalid => {
                add_error(&mut errors, "amount", "A valid number is required.");
                None
            }
            AmountParse::Valid { below: true, .. } => {
                add_error(
                    &mut errors,
                    "amount",
                    "Ensure this value is greater than or equal to 10.",
                );
                None
            }
            AmountParse::Valid { above: true, .. } => {
                add_error(
                    &mut errors,
                    "amount",
                    "Ensure this value is less than or equal to 150000.",
                );
                None
            }
            AmountParse::Valid { shillings, .. } => Some(shillings),
        },
    };
    let api_ref = match body.get("api_ref") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() > 140 => {
            add_error(
                &mut errors,
                "api_ref",
                "Ensure this field has no more than 140 characters.",
            );
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            add_error(&mut errors, "api_ref", "Not a valid string.");
            None
        }
    };
    match body.get("wallet_id") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(_) => add_error(&mut errors, "wallet_id", "Not a valid string."),
    }
    let customer_pays = match body.get("mobile_tarrif") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s == "BUSINESS-PAYS" => false,
        Some(Value::String(s)) if s == "CUSTOMER-PAYS" => true,
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned);
            add_error(
                &mut errors,
                "mobile_tarrif",
                &format!("\"{shown}\" is not a valid choice."),
            );
            false
        }
    };
    let (Some(phone), Some(shillings)) = (phone, shillings) else {
        return Err(field_errors(errors));
    };
    if !errors.is_empty() {
        return Err(field_errors(errors));
    }
    Ok(PushFields {
        phone,
        shillings,
        api_ref,
        customer_pays,
    })
}

/// The `invoice_id` of a status query body.
pub(super) fn invoice_id(body: &Map<String, Value>) -> Result<String, Reply> {
    match body.get("invoice_id") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::String(_)) => {
            let mut errors = Map::new();
            add_error(&mut errors, "invoice_id", "This field may not be blank.");
            Err(field_errors(errors))
        }
        _ => {
            let mut errors = Map::new();
            add_error(&mut errors, "invoice_id", "This field is required.");
            Err(field_errors(errors))
        }
    }
}

/// A request body as a JSON object, or the answer DRF gives when it is not one.
pub(super) fn json_object(body: &[u8]) -> Result<Map<String, Value>, Reply> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => {
            let kind = match other {
                Value::Array(_) => "list",
                Value::String(_) => "str",
                Value::Number(_) => "int",
                Value::Bool(_) => "bool",
                _ => "NoneType",
            };
            Err(field_errors(Map::from_iter([(
                "non_field_errors".to_owned(),
                json!([format!(
                    "Invalid data. Expected a dictionary, but got {kind}."
                )]),
            )])))
        }
        Err(e) => Err(detail(
            StatusCode::BAD_REQUEST,
            &format!("JSON parse error - {e}"),
        )),
    }
}

/// An amount as KulmiPay reads it: decimal text or a JSON number.
enum AmountParse {
    /// Whole shillings, rounded up, and whether the raw value was within the limits.
    Valid {
        shillings: u64,
        below: bool,
        above: bool,
    },
    Invalid,
}

fn parse_amount(value: &Value) -> AmountParse {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return AmountParse::Invalid,
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || whole.len() > 12
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return AmountParse::Invalid;
    }
    let Ok(whole) = whole.parse::<u64>() else {
        return AmountParse::Invalid;
    };
    let has_fraction = frac.bytes().any(|b| b != b'0');
    if negative {
        return AmountParse::Valid {
            shillings: 0,
            below: true,
            above: false,
        };
    }
    let shillings = whole + u64::from(has_fraction);
    AmountParse::Valid {
        shillings,
        below: whole < MIN_AMOUNT,
        above: whole > MAX_AMOUNT || (whole == MAX_AMOUNT && has_fraction),
    }
}

impl KulmiState {
    /// The invoice as KulmiPay shows it (status answers and webhooks), now.
    pub(super) fn invoice_json(&self, invoice: &Invoice, now: Instant) -> Value {
        let status = invoice.payment.status_at(now);
        let charges = invoice.value_cents.saturating_mul(15).div_ceil(1000);
        let net = if invoice.customer_pays {
            invoice.value_cents
        } else {
            invoice.value_cents.saturating_sub(charges)
        };
        let (mpesa_reference, failed_code, failed_reason, clearing) = match &status {
            PaymentStatus::Completed(c) => {
                (json!(c.receipt), Value::Null, Value::Null, "AVAILABLE")
            }
            PaymentStatus::Failed(f) => (
                Value::Null,
                json!(f.code.as_ref().map(|c| c.to_string())),
                json!(f.message),
                "FAILED",
            ),
            _ => (Value::Null, Value::Null, Value::Null, "PENDING"),
        };
        let failed_code_link = match &failed_code {
            Value::String(code) => json!(format!("https://developers.kulmipay.com/errors/{code}")),
            _ => Value::Null,
        };
        let id = invoice.payment.id.to_string();
        let mut map = Map::new();
        match invoice.generation {
            Generation::Express => map.insert("invoice_id".to_owned(), json!(id)),
            Generation::Collection => map.insert("id".to_owned(), json!(id)),
        };
        let fields = json!({
            "state": state_name(&status),
            "provider": "M-PESA",
            "charges": cents_text(charges),
            "net_amount": cents_text(net),
            "currency": "KES",
            "value": cents_text(invoice.value_cents),
            "account": invoice.payment.phone.international(),
            "api_ref": invoice.api_ref.clone().unwrap_or_else(|| "MPesa Express".to_owned()),
            "clearing_status": clearing,
            "mpesa_reference": mpesa_reference,
            "host": self.host(),
            "retry_count": 0,
            "failed_reason": failed_reason,
            "failed_code": failed_code,
            "failed_code_link": failed_code_link,
            "created_at": invoice.created_at,
            "updated_at": now_rfc3339(),
        });
        if let Value::Object(rest) = fields {
            map.extend(rest);
        }
        Value::Object(map)
    }

    /// The customer object of express answers.
    pub(super) fn customer_json(invoice: &Invoice) -> Value {
        json!({
            "customer_id": invoice.customer_id,
            "phone_number": invoice.payment.phone.international(),
            "email": null,
            "first_name": null,
            "last_name": null,
            "country": "KE",
            "zipcode": null,
            "provider": "M-PESA",
            "created_at": invoice.created_at,
            "updated_at": invoice.created_at,
        })
    }

    /// The answer to an accepted push, in the shape of its API generation.
    pub(super) fn push_answer(
        &self,
        invoice: &Invoice,
        payment: &SimulatedPayment,
        shillings: u64,
        now: Instant,
    ) -> Value {
        match invoice.generation {
            Generation::Express => json!({
                "id": invoice.session_id,
                "invoice": self.invoice_json(invoice, now),
                "customer": Self::customer_json(invoice),
                "payment_link": null,
                "customer_comment": null,
                "refundable": "false",
                "created_at": invoice.created_at,
                "updated_at": invoice.created_at,
            }),
            Generation::Collection => {
                let id = payment.id.to_string();
                json!({
                    "id": id,
                    "invoice": {
                        "id": id,
                        "state": state_name(&payment.status_at(now)),
                        "provider": "M-PESA",
                        "value": shillings,
                        "api_ref": invoice.api_ref,
                        "account": payment.phone.international(),
                        "created_at": invoice.created_at,
                    },
                    "customer": {
                        "phone_number": payment.phone.international(),
                        "provider": "M-PESA",
                    },
                    "signature": format!("eyJhbGciOiJIUzI1NiJ9.{}.emulator", invoice.session_id),
                })
            }
        }
    }

    /// The answer to a status query.
    pub(super) fn status_answer(&self, invoice: &Invoice, now: Instant) -> Value {
        json!({
            "invoice": self.invoice_json(invoice, now),
            "meta": {
                "id": invoice.session_id,
                "customer": Self::customer_json(invoice),
                "payment_link": null,
                "customer_comment": null,
                "created_at": invoice.created_at,
                "updated_at": now_rfc3339(),
            },
        })
    }
}

/// A random UUID-shaped id (KulmiPay's checkout session ids).
pub(super) fn uuid_like(rng: &mut fastrand::Rng) -> String {
    let hex = hex_id(rng, 32);
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_up_and_respect_limits() {
        let shillings = |v: Value| match parse_amount(&v) {
            AmountParse::Valid {
                shillings,
                below: false,
                above: false,
            } => Some(shillings),
            _ => None,
        };
        assert_eq!(shillings(json!("100")), Some(100));
        assert_eq!(shillings(json!("100.01")), Some(101));
        assert_eq!(shillings(json!(10)), Some(10));
        assert_eq!(shillings(json!(99.5)), Some(100));
        assert_eq!(shillings(json!("9.99")), None);
        assert_eq!(shillings(json!("150000.00")), Some(150_000));
        assert_eq!(shillings(json!("150000.01")), None);
        assert_eq!(shillings(json!("-5")), None);
        assert!(matches!(parse_amount(&json!("abc")), AmountParse::Invalid));
        assert!(matches!(parse_amount(&json!("1e3")), AmountParse::Invalid));
        assert!(matches!(parse_amount(&json!(true)), AmountParse::Invalid));
    }

    #[test]
    fn uuid_like_ids() {
        assert_eq!(uuid_like(&mut fastrand::Rng::with_seed(1)).len(), 36);
    }
}
