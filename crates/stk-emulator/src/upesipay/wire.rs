//! UpesiPay's wire format as the emulator speaks it: push fields validated one by one (the
//! first invalid one answers `{"error_message": …}`), the status answer, and the shapes of
//! its ids and dates.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use stk_core::{PaymentStatus, PhoneNumber};
use tokio::time::Instant;

use super::{MAX_AMOUNT, Txn, UpesiState};
use crate::server::Reply;

/// UpesiPay's error answer: `{"error_message": message}`.
pub(super) fn error(status: StatusCode, message: &str) -> Reply {
    Reply::json(status, json!({ "error_message": message }))
}

/// The fields of a valid push request.
#[derive(Debug)]
pub(super) struct PushFields {
    /// `amount`, in whole shillings.
    pub(super) amount: u64,
    /// `phone_number`.
    pub(super) phone: PhoneNumber,
    /// `external_reference`, the merchant reference.
    pub(super) external_reference: Option<String>,
    /// `customer_name`.
    pub(super) customer_name: Option<String>,
    /// `callback_url`, a valid URL.
    pub(super) callback_url: Option<String>,
}

/// Validates a push body as UpesiPay does (`channel_id` must be the account's channel); the
/// first invalid field is reported.
pub(super) fn push_fields(body: &Map<String, Value>, channel_id: u64) -> Result<PushFields, Reply> {
    let bad = |m: &str| error(StatusCode::BAD_REQUEST, m);
    let amount = match body.get("amount") {
        None | Some(Value::Null) => return Err(bad("The amount field is required.")),
        Some(v) => match integer(v) {
            None => return Err(bad("The amount must be an integer.")),
            Some(a) if a < 1 => return Err(bad("The amount must be at least 1.")),
            Some(a) if a > i128::from(MAX_AMOUNT) => {
                return Err(bad("The amount may not be greater than 150000."));
            }
            Some(a) => u64::try_from(a).unwrap_or(MAX_AMOUNT),
        },
    };
    let phone = match body.get("phone_number") {
        None | Some(Value::Null) => return Err(bad("The phone number field is required.")),
        Some(Value::String(s)) => match PhoneNumber::parse(s) {
            Ok(p) => p,
            Err(_) => return Err(bad("The phone number is not a valid Kenyan mobile number.")),
        },
        Some(_) => return Err(bad("The phone number must be a string.")),
    };
    match body.get("channel_id") {
        None | Some(Value::Null) => return Err(bad("The channel id field is required.")),
        Some(v) => match integer(v) {
            None => return Err(bad("The channel id must be an integer.")),
            Some(c) if c != i128::from(channel_id) => {
                return Err(bad("The selected channel id is invalid."));
            }
            Some(_) => {}
        },
    }
    match body.get("provider") {
        None | Some(Value::Null) => return Err(bad("The provider field is required.")),
        Some(Value::String(s)) if s == "m-pesa" => {}
        Some(_) => return Err(bad("The selected provider is invalid. Use 'm-pesa'.")),
    }
    let (external_reference, customer_name, callback_url) = optional_fields(body)?;
    if let Some(url) = &callback_url {
        if reqwest::Url::parse(url).is_err() {
            return Err(bad("The callback url must be a valid URL."));
        }
    }
    Ok(PushFields {
        amount,
        phone,
        external_reference,
        customer_name,
        callback_url,
    })
}

/// A whole number from a JSON integer (UpesiPay documents `Integer`); integral floats such
/// as `100.0` are accepted too.
fn integer(value: &Value) -> Option<i128> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| f as i128)
            }),
        _ => None,
    }
}

fn optional_string(body: &Map<String, Value>, field: &str) -> Result<Option<String>, Reply> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(error(
            StatusCode::BAD_REQUEST,
            &format!("The {field} must be a string."),
        )),
    }
}

type OptionalFields = (Option<String>, Option<String>, Option<String>);

/// `external_reference`, `customer_name` and `callback_url`; `credential_id` is checked too.
fn optional_fields(body: &Map<String, Value>) -> Result<OptionalFields, Reply> {
    let external_reference = optional_string(body, "external_reference")?;
    let customer_name = optional_string(body, "customer_name")?;
    let callback_url = optional_string(body, "callback_url")?;
    optional_string(body, "credential_id")?;
    Ok((external_reference, customer_name, callback_url))
}

/// UpesiPay's word for a status.
pub(super) fn status_word(status: &PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Completed(_) => "SUCCESS",
        PaymentStatus::Failed(_) => "FAILED",
        _ => "QUEUED",
    }
}

/// `2026-01-15T10:30:00.123456Z` → `2026-01-15T10:30:00Z`, as UpesiPay's samples show.
pub(super) fn seconds_only(rfc3339: &str) -> String {
    match rfc3339.split_once('.') {
        Some((head, _)) => format!("{head}Z"),
        None => rfc3339.to_owned(),
    }
}

/// A result code as UpesiPay sends it: a JSON number (`-1` if not numeric).
pub(super) fn code_number(code: &stk_core::ResultCode) -> i64 {
    code.as_str().parse::<i64>().unwrap_or(-1)
}

impl UpesiState {
    /// The answer to a status query: the transaction now.
    pub(super) fn status_json(&self, txn: &Txn, now: Instant) -> Value {
        let status = txn.payment.status_at(now);
        let receipt = match &status {
            PaymentStatus::Completed(c) => c.receipt.clone().unwrap_or_default(),
            _ => String::new(),
        };
        let mut value = json!({
            "transaction_date": seconds_only(&txn.created_at),
            "provider": "m-pesa",
            "success": !matches!(status, PaymentStatus::Failed(_)),
            "merchant": txn.customer_name.clone().unwrap_or_else(|| "Emulator Merchant".to_owned()),
            "payment_reference": txn.external_reference.clone().unwrap_or_default(),
            "third_party_reference": receipt,
            "status": status_word(&status),
            "reference": txn.payment.id.to_string(),
            "CheckoutRequestID": txn.checkout_request_id,
            "provider_reference": receipt,
        });
        // Not in UpesiPay's (success-only) sample: the M-Pesa result of a final payment, as
        // the callback carries it, so a failure's reason survives a status query.
        if let (Value::Object(map), Some((code, text))) =
            (&mut value, txn.payment.script.scenario.result())
        {
            if status.is_final() {
                map.insert("ResultCode".to_owned(), json!(code_number(&code)));
                map.insert("ResultDesc".to_owned(), json!(text));
            }
        }
        value
    }
}

/// `ws_CO_` + `ddMMyyyyHHmmss` + a three-digit sequence + the national number, the shape of
/// UpesiPay's sample `ws_CO_02012026164321519708344109`.
pub(super) fn checkout_id(rfc3339: &str, sequence: u32, phone: &PhoneNumber) -> String {
    let digits: String = rfc3339.chars().filter(char::is_ascii_digit).collect();
    let part = |from: usize, to: usize| digits.get(from..to).unwrap_or("00").to_owned();
    let local = phone.local();
    format!(
        "ws_CO_{}{}{}{}{}{}{:03}{}",
        part(6, 8),
        part(4, 6),
        part(0, 4),
        part(8, 10),
        part(10, 12),
        part(12, 14),
        sequence % 1000,
        local.get(1..).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_dates() {
        let phone = PhoneNumber::parse("0708344109").unwrap();
        let id = checkout_id("2026-01-02T16:43:21.519000Z", 7, &phone);
        assert_eq!(id, "ws_CO_02012026164321007708344109");
        assert_eq!(integer(&json!(100)), Some(100));
        assert_eq!(integer(&json!(100.0)), Some(100));
        assert_eq!(integer(&json!(100.5)), None);
        assert_eq!(integer(&json!("100")), None);
        assert_eq!(
            seconds_only("2026-01-02T08:41:14.123Z"),
            "2026-01-02T08:41:14Z"
        );
    }
}
