//! Lipia's wire format as the emulator speaks it: the `{success, status, message,
//! customerMessage, data | error, timestamp}` envelope, push fields validated one by one (the
//! first invalid one answers a `VALIDATION_ERROR`), its Safaricom-only phone rule, and the
//! payment record shared by status answers and callbacks.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use stk_core::{PaymentStatus, PhoneNumber, StkPushRequest};
use tokio::time::Instant;

use super::{LipiaState, Payment};
use crate::server::Reply;
use crate::util::{now_rfc3339, simulated_push};

/// The `expected` text of Lipia's phone-number validation error.
pub const EXPECTED_SAFARICOM: &str = "valid safaricom kenyan number";

/// Lipia's envelope for a successful call.
pub(super) fn ok_envelope(message: &str, customer_message: &str, data: Value) -> Value {
    json!({
        "success": true,
        "status": "success",
        "message": message,
        "customerMessage": customer_message,
        "data": data,
        "timestamp": now_rfc3339(),
    })
}

/// Lipia's error envelope.
pub(super) fn error_reply(
    status: StatusCode,
    message: &str,
    customer_message: &str,
    error: Value,
) -> Reply {
    Reply::json(
        status,
        json!({
            "success": false,
            "status": "error",
            "message": message,
            "customerMessage": customer_message,
            "error": error,
            "timestamp": now_rfc3339(),
        }),
    )
}

/// A `VALIDATION_ERROR` for one field.
pub(super) fn validation_error(
    field: &str,
    location: &str,
    value: &Value,
    expected: &str,
) -> Reply {
    error_reply(
        StatusCode::BAD_REQUEST,
        "Validation failed",
        "Please check your input and try again",
        json!({
            "code": "VALIDATION_ERROR",
            "field": field,
            "location": location,
            "value": value,
            "expected": expected,
        }),
    )
}

/// The fields of a valid push request.
#[derive(Debug)]
pub(super) struct PushFields {
    /// The push as the simulation runs it.
    pub(super) request: StkPushRequest,
    /// `amount`, in whole shillings.
    pub(super) amount: u64,
    /// `external_reference` as sent (a string, a number or `null`).
    pub(super) external_reference: Value,
    /// `external_reference` as text, if any.
    pub(super) reference_text: Option<String>,
    /// `callback_url`, a valid URL.
    pub(super) callback_url: Option<String>,
    /// `metadata` (an object; `{}` when absent).
    pub(super) metadata: Value,
}

/// Validates a push body as Lipia does; the first invalid field is reported.
pub(super) fn push_fields(body: &Map<String, Value>) -> Result<PushFields, Reply> {
    let phone_value = body.get("phone_number").cloned().unwrap_or(Value::Null);
    let phone = match &phone_value {
        Value::String(s) => safaricom_phone(s),
        Value::Number(n) => safaricom_phone(&n.to_string()),
        _ => None,
    };
    let Some(phone) = phone else {
        return Err(validation_error(
            "phone_number",
            "body",
            &phone_value,
            EXPECTED_SAFARICOM,
        ));
    };
    let amount_value = body.get("amount").cloned().unwrap_or(Value::Null);
    let Some(amount) = parse_amount(&amount_value) else {
        return Err(validation_error(
            "amount",
            "body",
            &amount_value,
            "positive integer, minimum 1",
        ));
    };
    let external_reference = match body.get("external_reference") {
        None | Some(Value::Null) => Value::Null,
        Some(v @ (Value::String(_) | Value::Number(_))) => v.clone(),
        Some(v) => {
            return Err(validation_error(
                "external_reference",
                "body",
                v,
                "string or number",
            ));
        }
    };
    let callback_url = match body.get("callback_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if reqwest::Url::parse(s.trim()).is_ok() => {
            Some(s.trim().to_owned())
        }
        Some(v) => return Err(validation_error("callback_url", "body", v, "valid URL")),
    };
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => json!({}),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(v) => return Err(validation_error("metadata", "body", v, "object")),
    };
    let reference_text = match &external_reference {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let Some(request) = simulated_push(phone, amount, reference_text.as_deref(), "LIPIA") else {
        return Err(validation_error(
            "amount",
            "body",
            &amount_value,
            "amount within M-Pesa limits",
        ));
    };
    Ok(PushFields {
        request,
        amount,
        external_reference,
        reference_text,
        callback_url,
        metadata,
    })
}

/// Lipia's phone rule: `2547…`, `2541…`, `+2547…`, `+2541…`, `07…` or `01…`, nine digits
/// after the prefix's `7`/`1`, and a Safaricom number.
pub(super) fn safaricom_phone(input: &str) -> Option<PhoneNumber> {
    let s = input.trim();
    let national = s
        .strip_prefix("+254")
        .or_else(|| s.strip_prefix("254"))
        .or_else(|| s.strip_prefix('0'))?;
    let well_formed = national.len() == 9
        && national.bytes().all(|b| b.is_ascii_digit())
        && (national.starts_with('7') || national.starts_with('1'));
    if !well_formed {
        return None;
    }
    PhoneNumber::parse(s).ok().filter(PhoneNumber::is_safaricom)
}

/// `amount`: a positive integer (a JSON integer, or integer text), at least 1.
fn parse_amount(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f <= 1e12)
                .map(|f| f as u64)
        }),
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        }
        _ => None,
    }
    .filter(|n| *n >= 1)
}

/// A result code as Lipia sends it: a JSON number when numeric.
fn code_json(code: &str) -> Value {
    code.parse::<i64>()
        .map_or_else(|_| json!(code), Value::from)
}

impl LipiaState {
    /// The fields shared by the status `response` and the nested callback.
    pub(super) fn record_json(
        payment: &Payment,
        now: Instant,
    ) -> (Map<String, Value>, &'static str, bool) {
        let status = payment.payment.status_at(now);
        let (receipt, code, desc, state, ok) = match &status {
            PaymentStatus::Completed(c) => (
                c.receipt.clone().unwrap_or_default(),
                json!(0),
                json!("The service request is processed successfully."),
                "SUCCESS",
                true,
            ),
            PaymentStatus::Failed(f) => (
                String::new(),
                f.code.as_ref().map_or(json!(1), |c| code_json(c.as_str())),
                json!(f.message),
                "FAILED",
                false,
            ),
            _ => (
                String::new(),
                json!(0),
                json!("Request accepted for processing"),
                "PENDING",
                false,
            ),
        };
        let mut map = Map::new();
        map.insert(
            "Amount".to_owned(),
            json!(payment.payment.amount.shillings()),
        );
        map.insert(
            "ExternalReference".to_owned(),
            payment.external_reference.clone(),
        );
        map.insert(
            "MerchantRequestID".to_owned(),
            json!(payment.merchant_request_id),
        );
        map.insert("MpesaReceiptNumber".to_owned(), json!(receipt));
        map.insert(
            "Phone".to_owned(),
            json!(payment.payment.phone.international()),
        );
        map.insert("ResultCode".to_owned(), code);
        map.insert("ResultDesc".to_owned(), desc);
        map.insert("Metadata".to_owned(), payment.metadata.clone());
        (map, state, ok)
    }

    /// The answer to a status query: the payment now.
    pub(super) fn status_answer(payment: &Payment, now: Instant) -> Value {
        let (mut record, state, ok) = Self::record_json(payment, now);
        record.insert("Status".to_owned(), json!(state));
        record.insert("TransactionDate".to_owned(), json!(payment.created_at));
        let (message, customer) = match state {
            "SUCCESS" => ("Payment completed successfully", "Payment received"),
            "FAILED" => ("Payment failed", "Payment was not completed"),
            _ => ("Payment is pending", "Waiting for the customer to pay"),
        };
        json!({
            "success": true,
            "message": message,
            "customerMessage": customer,
            "data": {"response": Value::Object(record), "status": ok},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_rule_takes_the_documented_forms_and_safaricom_only() {
        for ok in [
            "254712345678",
            "254112345678",
            "+254712345678",
            "+254112345678",
            "0712345678",
            "0112345678",
            " 0700000000 ",
        ] {
            assert!(safaricom_phone(ok).is_some(), "{ok}");
        }
        for bad in [
            "0733000000",   // Airtel
            "254733000000", // Airtel
            "0771234567",   // Telkom
            "712345678",    // no prefix
            "07123456789",  // too long
            "0812345678",   // not mobile
            "07 1234 5678", // spaces inside
            "",
        ] {
            assert!(safaricom_phone(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn amounts_are_positive_integers() {
        assert_eq!(parse_amount(&json!(1)), Some(1));
        assert_eq!(parse_amount(&json!("100")), Some(100));
        assert_eq!(parse_amount(&json!(100.0)), Some(100));
        assert_eq!(parse_amount(&json!(0)), None);
        assert_eq!(parse_amount(&json!(-5)), None);
        assert_eq!(parse_amount(&json!(10.5)), None);
        assert_eq!(parse_amount(&json!("1.5")), None);
        assert_eq!(parse_amount(&json!(true)), None);
    }

    #[test]
    fn result_codes() {
        assert_eq!(code_json("1032"), json!(1032));
        assert_eq!(code_json("SFC_IC0003"), json!("SFC_IC0003"));
    }
}
