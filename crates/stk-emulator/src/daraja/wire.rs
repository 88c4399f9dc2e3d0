//! Daraja's wire format as the emulator speaks it: the `{"requestId", "errorCode",
//! "errorMessage"}` error body, push and query fields validated one by one in the documented
//! order (the first invalid one answers `400.002.02` "Bad Request - Invalid \<field\>"), the
//! `Password` check, and East Africa Time timestamps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use stk_core::{PhoneNumber, StkPushRequest};

use super::config::DarajaEmulatorConfig;
use crate::server::Reply;
use crate::util::simulated_push;

/// The longest `AccountReference` accepted.
const ACCOUNT_REFERENCE_MAX: usize = 12;
/// The longest `TransactionDesc` that does not fail the push (longer ones fail with 1025).
pub(super) const TRANSACTION_DESC_MAX: usize = 13;

/// A Daraja error body with this status; an empty `request_id` gets a generated one.
pub(super) fn error_reply(
    status: StatusCode,
    request_id: &str,
    code: &str,
    message: &str,
) -> Reply {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let request_id = if request_id.is_empty() {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        format!("{}-{}-1", 10_000 + n % 90_000, 40_000_000 + n)
    } else {
        request_id.to_owned()
    };
    Reply::json(
        status,
        json!({"requestId": request_id, "errorCode": code, "errorMessage": message}),
    )
}

/// `400.002.02` "Bad Request - Invalid \<field\>".
pub(super) fn invalid(field: &str) -> Reply {
    error_reply(
        StatusCode::BAD_REQUEST,
        "",
        "400.002.02",
        &format!("Bad Request - Invalid {field}"),
    )
}

/// `500.001.1001` "Wrong credentials": the password is not base64(shortcode + passkey +
/// timestamp).
fn wrong_credentials() -> Reply {
    error_reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        "",
        "500.001.1001",
        "Wrong credentials",
    )
}

/// `now` in East Africa Time (UTC+3, all year), `YYYYMMDDHHmmss`.
pub(super) fn eat_timestamp(now: SystemTime) -> String {
    jiff::Timestamp::try_from(now)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(3)))
        .strftime("%Y%m%d%H%M%S")
        .to_string()
}

/// A field as text: a string (trimmed) or a number.
fn text(body: &Map<String, Value>, field: &str) -> Option<String> {
    match body.get(field)? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An M-Pesa MSISDN as Daraja takes it: `2547XXXXXXXX` or `2541XXXXXXXX`.
fn msisdn(value: Option<String>) -> Option<PhoneNumber> {
    let s = value?;
    let ok = s.len() == 12
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s.starts_with("2547") || s.starts_with("2541"));
    ok.then(|| PhoneNumber::parse(&s).ok()).flatten()
}

/// `Amount`: a whole number of shillings, at least 1 (a JSON integer, `100.0`, or integer
/// text).
fn amount(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64().or_else(|| {
            let text = n.to_string();
            let (whole, fraction) = text.split_once('.')?;
            fraction
                .bytes()
                .all(|b| b == b'0')
                .then(|| whole.parse().ok())
                .flatten()
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

/// Checks `BusinessShortCode`, `Timestamp` and `Password`, the fields a push and a query
/// share.
fn check_credentials(
    config: &DarajaEmulatorConfig,
    body: &Map<String, Value>,
) -> Result<(), Reply> {
    if text(body, "BusinessShortCode").as_deref() != Some(config.shortcode.as_str()) {
        return Err(invalid("BusinessShortCode"));
    }
    let timestamp = text(body, "Timestamp").unwrap_or_default();
    if timestamp.len() != 14 || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("Timestamp"));
    }
    let expected = STANDARD.encode(format!("{}{}{timestamp}", config.shortcode, config.passkey));
    let sent = text(body, "Password").unwrap_or_default();
    if !stk_core::secrets_match(sent.as_bytes(), expected.as_bytes()) {
        return Err(wrong_credentials());
    }
    Ok(())
}

/// The fields of a valid push.
#[derive(Debug)]
pub(super) struct PushFields {
    /// The push as the simulation runs it.
    pub(super) request: StkPushRequest,
    /// `Amount`, in whole shillings.
    pub(super) amount: u64,
    /// `CallBackURL`.
    pub(super) callback_url: String,
    /// `AccountReference`.
    pub(super) account_reference: String,
    /// Whether `TransactionDesc` is too long (the push then fails with 1025).
    pub(super) description_too_long: bool,
}

/// Validates a push body as Daraja does; the first invalid field is reported.
pub(super) fn push_fields(
    config: &DarajaEmulatorConfig,
    body: &Map<String, Value>,
) -> Result<PushFields, Reply> {
    check_credentials(config, body)?;
    let transaction_type = text(body, "TransactionType").unwrap_or_default();
    let party_b_expected = match transaction_type.as_str() {
        "CustomerPayBillOnline" => config.shortcode.as_str(),
        "CustomerBuyGoodsOnline" => config.till.as_deref().unwrap_or(&config.shortcode),
        _ => return Err(invalid("TransactionType")),
    };
    let amount = amount(body.get("Amount")).ok_or_else(|| invalid("Amount"))?;
    msisdn(text(body, "PartyA")).ok_or_else(|| invalid("PartyA"))?;
    if text(body, "PartyB").as_deref() != Some(party_b_expected) {
        return Err(invalid("PartyB"));
    }
    let phone = msisdn(text(body, "PhoneNumber")).ok_or_else(|| invalid("PhoneNumber"))?;
    let callback_url = text(body, "CallBackURL")
        .filter(|u| reqwest::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
        .ok_or_else(|| invalid("CallBackURL"))?;
    let account_reference = text(body, "AccountReference")
        .filter(|r| (1..=ACCOUNT_REFERENCE_MAX).contains(&r.chars().count()))
        .ok_or_else(|| invalid("AccountReference"))?;
    let description = text(body, "TransactionDesc")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| invalid("TransactionDesc"))?;
    let request = simulated_push(phone, amount, Some(&account_reference), "DARAJA")
        .ok_or_else(|| invalid("Amount"))?;
    Ok(PushFields {
        request,
        amount,
        callback_url,
        account_reference,
        description_too_long: description.chars().count() > TRANSACTION_DESC_MAX,
    })
}

/// Validates a query body; returns its `CheckoutRequestID`.
pub(super) fn query_fields(
    config: &DarajaEmulatorConfig,
    body: &Map<String, Value>,
) -> Result<String, Reply> {
    check_credentials(config, body)?;
    text(body, "CheckoutRequestID")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| invalid("CheckoutRequestID"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        assert!(msisdn(Some("254712345678".into())).is_some());
        assert!(msisdn(Some("254112345678".into())).is_some());
        assert!(msisdn(Some("0712345678".into())).is_none());
        assert!(msisdn(Some("+254712345678".into())).is_none());
        assert_eq!(amount(Some(&json!(100))), Some(100));
        assert_eq!(amount(Some(&json!(100.0))), Some(100));
        assert_eq!(amount(Some(&json!("7"))), Some(7));
        assert_eq!(amount(Some(&json!(1.5))), None);
        assert_eq!(amount(Some(&json!(0))), None);
        assert_eq!(
            eat_timestamp(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_704_056_400)),
            "20240101000000"
        );
    }

    #[test]
    fn the_password_must_match() {
        let config = DarajaEmulatorConfig::default();
        let timestamp = "20240101000000";
        let password =
            STANDARD.encode(format!("{}{}{timestamp}", config.shortcode, config.passkey));
        let body = |password: &str| {
            json!({"BusinessShortCode": 174379, "Timestamp": timestamp, "Password": password, "CheckoutRequestID": "ws_CO_1"})
                .as_object()
                .cloned()
                .unwrap()
        };
        assert_eq!(query_fields(&config, &body(&password)).unwrap(), "ws_CO_1");
        let refused = query_fields(&config, &body("bm9wZQ==")).unwrap_err();
        assert_eq!(refused.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(refused.body["errorCode"], "500.001.1001");
    }
}
