//! Daraja's wire format: serde structs mirroring the M-Pesa Express docs. Lenient on input
//! (every field optional, numbers accepted where strings are documented and vice versa,
//! unknown fields ignored), exact on output; and the request bodies built from a request, with
//! the `Password`/`Timestamp` pair from one clock read in East Africa Time.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use stk_core::{Error, FieldError, InvalidRequest, PaymentId, StkPushRequest};
use stk_http::serde_helpers::loose_string;

use crate::config::TokenPlacement;
use crate::{DarajaConfig, TOKEN_PARAM};

/// The longest `AccountReference` Daraja accepts (shown on the customer's prompt).
pub const ACCOUNT_REFERENCE_MAX: usize = 12;
/// The longest `TransactionDesc` Daraja accepts (longer text fails the push with 1025/9999).
pub const TRANSACTION_DESC_MAX: usize = 13;

/// `now` in East Africa Time (UTC+3, no daylight saving) as Daraja's `Timestamp`,
/// `YYYYMMDDHHmmss`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// // 2024-01-15 21:30:00 UTC is 00:30 the next day in Nairobi.
/// let t = UNIX_EPOCH + Duration::from_secs(1_705_354_200);
/// assert_eq!(stk_daraja::timestamp(t), "20240116003000");
/// ```
pub fn timestamp(now: SystemTime) -> String {
    // Kenya keeps UTC+3 all year: a fixed offset, no time-zone database needed.
    let eat = jiff::tz::TimeZone::fixed(jiff::tz::offset(3));
    // A clock before 1970 is taken as 1970, as before.
    jiff::Timestamp::try_from(now.max(UNIX_EPOCH))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(eat)
        .strftime("%Y%m%d%H%M%S")
        .to_string()
}

/// Daraja's `Password`: `base64(BusinessShortCode + Passkey + Timestamp)`. It reveals the
/// passkey to anyone who decodes it, so treat it as a secret.
pub fn password(shortcode: &str, passkey: &str, timestamp: &str) -> SecretString {
    SecretString::from(STANDARD.encode(format!("{shortcode}{passkey}{timestamp}")))
}

fn expose<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

/// The body of `POST /mpesa/stkpush/v1/processrequest`. `Debug` shows neither the password
/// nor the callback URL's path and query (which may carry the callback token).
#[derive(Clone, Serialize)]
#[non_exhaustive]
pub struct PushBody {
    /// The paybill, or the till's store number.
    #[serde(rename = "BusinessShortCode")]
    pub business_short_code: String,
    /// `base64(BusinessShortCode + Passkey + Timestamp)`.
    #[serde(rename = "Password", serialize_with = "expose")]
    pub password: SecretString,
    /// `YYYYMMDDHHmmss`, East Africa Time; the one used in the password.
    #[serde(rename = "Timestamp")]
    pub timestamp: String,
    /// `CustomerPayBillOnline` or `CustomerBuyGoodsOnline`.
    #[serde(rename = "TransactionType")]
    pub transaction_type: &'static str,
    /// Whole shillings.
    #[serde(rename = "Amount")]
    pub amount: u64,
    /// The paying phone, `2547XXXXXXXX` / `2541XXXXXXXX`.
    #[serde(rename = "PartyA")]
    pub party_a: String,
    /// Who receives the money: the shortcode, or the till number.
    #[serde(rename = "PartyB")]
    pub party_b: String,
    /// The phone that gets the prompt (the same as `PartyA`).
    #[serde(rename = "PhoneNumber")]
    pub phone_number: String,
    /// Where Daraja POSTs the result (with the callback token, when one is configured).
    #[serde(rename = "CallBackURL")]
    pub callback_url: String,
    /// The merchant reference, at most 12 characters.
    #[serde(rename = "AccountReference")]
    pub account_reference: String,
    /// The description (the reference when the request has none), at most 13 characters.
    #[serde(rename = "TransactionDesc")]
    pub transaction_desc: String,
}

/// A phone number for display: its first four and last two digits (`2547******78`).
fn masked(phone: &str) -> String {
    phone
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i < 4 || i + 2 >= phone.len() {
                c
            } else {
                '*'
            }
        })
        .collect()
}

impl fmt::Debug for PushBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let callback = url::Url::parse(&self.callback_url)
            .map(|u| format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")))
            .unwrap_or_else(|_| "[unparsed]".to_owned());
        f.debug_struct("PushBody")
            .field("business_short_code", &self.business_short_code)
            .field("password", &"[redacted]")
            .field("timestamp", &self.timestamp)
            .field("transaction_type", &self.transaction_type)
            .field("amount", &self.amount)
            .field("phone", &masked(&self.phone_number))
            .field("party_b", &self.party_b)
            .field("callback_url", &callback)
            .field("account_reference", &self.account_reference)
            .field("transaction_desc", &self.transaction_desc)
            .finish_non_exhaustive()
    }
}

impl PushBody {
    /// The body a push for `request` sends under `config`, with the `Password` and `Timestamp`
    /// of `now`. Refuses, before anything is sent, a request without a callback URL (neither
    /// its own nor the configured one), a reference over 12 characters or a description over
    /// 13.
    pub(crate) fn new(
        config: &DarajaConfig,
        request: &StkPushRequest,
        now: SystemTime,
    ) -> Result<Self, Error> {
        let account_reference = request.reference().as_str().to_owned();
        let len = account_reference.chars().count();
        if len > ACCOUNT_REFERENCE_MAX {
            return Err(FieldError::ReferenceTooLong {
                len,
                max: ACCOUNT_REFERENCE_MAX,
            }
            .into());
        }
        let transaction_desc = request
            .description()
            .map_or(account_reference.as_str(), |d| d.as_str())
            .to_owned();
        if transaction_desc.chars().count() > TRANSACTION_DESC_MAX {
            return Err(FieldError::Description {
                max: TRANSACTION_DESC_MAX,
            }
            .into());
        }
        let callback = config
            .callback
            .url_for(request)
            .ok_or(Error::InvalidRequest(InvalidRequest::Missing(
                "callback_url",
            )))?;
        let callback_url = match &config.callback.token {
            None => callback.as_str().to_owned(),
            Some(token) => match config.callback_token_in {
                TokenPlacement::Query => callback
                    .with_query_token(TOKEN_PARAM, token.expose_secret())
                    .into(),
                TokenPlacement::Path => with_path_token(callback.as_url(), token.expose_secret()),
            },
        };
        let timestamp = timestamp(now);
        let phone = request.phone().international();
        Ok(Self {
            business_short_code: config.shortcode.clone(),
            password: password(
                &config.shortcode,
                config.passkey.expose_secret(),
                &timestamp,
            ),
            timestamp,
            transaction_type: config.transaction_type.as_str(),
            amount: request.amount().shillings(),
            party_a: phone.clone(),
            party_b: config.party_b().to_owned(),
            phone_number: phone,
            callback_url,
            account_reference,
            transaction_desc,
        })
    }
}

/// `url` with `token` as an extra last path segment (unless it already ends with it).
fn with_path_token(url: &url::Url, token: &str) -> String {
    let mut url = url.clone();
    let already = url
        .path_segments()
        .and_then(|mut s| s.next_back().map(str::to_owned))
        .is_some_and(|last| percent_decoded(&last).as_deref() == Some(token));
    if !already {
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(token);
        }
    }
    url.into()
}

/// A percent-encoded path segment, decoded (`None` if it is not UTF-8 once decoded).
pub(crate) fn percent_decoded(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).ok()?);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The body of `POST /mpesa/stkpushquery/v1/query`. `Debug` never shows the password.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct QueryBody {
    /// The shortcode the push was made with.
    #[serde(rename = "BusinessShortCode")]
    pub business_short_code: String,
    /// `base64(BusinessShortCode + Passkey + Timestamp)`.
    #[serde(rename = "Password", serialize_with = "expose")]
    pub password: SecretString,
    /// `YYYYMMDDHHmmss`, East Africa Time.
    #[serde(rename = "Timestamp")]
    pub timestamp: String,
    /// The push's `CheckoutRequestID` (its payment id).
    #[serde(rename = "CheckoutRequestID")]
    pub checkout_request_id: String,
}

impl QueryBody {
    /// The query about `id` under `config`, with the password of `now`.
    pub(crate) fn new(config: &DarajaConfig, id: &PaymentId, now: SystemTime) -> Self {
        let timestamp = timestamp(now);
        Self {
            business_short_code: config.shortcode.clone(),
            password: password(
                &config.shortcode,
                config.passkey.expose_secret(),
                &timestamp,
            ),
            timestamp,
            checkout_request_id: id.as_str().to_owned(),
        }
    }
}

/// Daraja's error body: `{"requestId", "errorCode", "errorMessage"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub(crate) struct ErrorBody {
    /// Daraja's id for the request (on a query: the `CheckoutRequestID`).
    #[serde(default, rename = "requestId", deserialize_with = "loose_string")]
    pub request_id: Option<String>,
    /// `400.002.02`, `404.001.03`, `500.001.1001`, …
    #[serde(default, rename = "errorCode", deserialize_with = "loose_string")]
    pub error_code: Option<String>,
    /// The error text.
    #[serde(default, rename = "errorMessage", deserialize_with = "loose_string")]
    pub error_message: Option<String>,
}

/// The answer to `GET /oauth/v1/generate`: `{"access_token", "expires_in": "3599"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub(crate) struct TokenResponse {
    /// The bearer token.
    #[serde(default, deserialize_with = "loose_string")]
    pub access_token: Option<String>,
    /// Seconds the token lives, as a string (or a number).
    #[serde(default, deserialize_with = "loose_string")]
    pub expires_in: Option<String>,
}

/// The answer to an accepted push.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
#[allow(non_snake_case)]
pub(crate) struct PushResponse {
    /// Daraja's id for the request.
    #[serde(default, deserialize_with = "loose_string")]
    pub MerchantRequestID: Option<String>,
    /// The handle for queries and callbacks.
    #[serde(default, deserialize_with = "loose_string")]
    pub CheckoutRequestID: Option<String>,
    /// `"0"`: accepted for processing (not paid).
    #[serde(default, deserialize_with = "loose_string")]
    pub ResponseCode: Option<String>,
    /// The response text.
    #[serde(default, deserialize_with = "loose_string")]
    pub ResponseDescription: Option<String>,
    /// A message for the customer.
    #[serde(default, deserialize_with = "loose_string")]
    pub CustomerMessage: Option<String>,
}

/// The answer to a query about a payment that has a result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
#[allow(non_snake_case)]
pub(crate) struct QueryResponse {
    /// `"0"`: the query was accepted.
    #[serde(default, deserialize_with = "loose_string")]
    pub ResponseCode: Option<String>,
    /// The response text.
    #[serde(default, deserialize_with = "loose_string")]
    pub ResponseDescription: Option<String>,
    /// The push's `MerchantRequestID`.
    #[serde(default, deserialize_with = "loose_string")]
    pub MerchantRequestID: Option<String>,
    /// The push's `CheckoutRequestID`.
    #[serde(default, deserialize_with = "loose_string")]
    pub CheckoutRequestID: Option<String>,
    /// The M-Pesa result code (`0` paid).
    #[serde(default, deserialize_with = "loose_string")]
    pub ResultCode: Option<String>,
    /// The M-Pesa result text.
    #[serde(default, deserialize_with = "loose_string")]
    pub ResultDesc: Option<String>,
}

/// A callback body: `{"Body": {"stkCallback": {…}}}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[non_exhaustive]
pub(crate) struct CallbackEnvelope {
    /// `Body`.
    #[serde(default, rename = "Body")]
    pub body: Option<CallbackBody>,
}

/// `Body` of a callback.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[non_exhaustive]
pub(crate) struct CallbackBody {
    /// `stkCallback`.
    #[serde(default, rename = "stkCallback")]
    pub stk_callback: Option<StkCallback>,
}

/// `Body.stkCallback`: the result of one push.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[non_exhaustive]
#[allow(non_snake_case)]
pub(crate) struct StkCallback {
    /// The push's `MerchantRequestID`.
    #[serde(default, deserialize_with = "loose_string")]
    pub MerchantRequestID: Option<String>,
    /// The push's `CheckoutRequestID`.
    #[serde(default, deserialize_with = "loose_string")]
    pub CheckoutRequestID: Option<String>,
    /// The M-Pesa result code (an integer on the wire; `0` paid).
    #[serde(default, deserialize_with = "loose_string")]
    pub ResultCode: Option<String>,
    /// The M-Pesa result text.
    #[serde(default, deserialize_with = "loose_string")]
    pub ResultDesc: Option<String>,
    /// Present on success only (a malformed one refuses the callback: the amount is in it).
    #[serde(default)]
    pub CallbackMetadata: Option<CallbackMetadata>,
}

/// `CallbackMetadata`: `{"Item": [{"Name", "Value"?}, …]}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[non_exhaustive]
#[allow(non_snake_case)]
pub(crate) struct CallbackMetadata {
    /// The items, as sent (malformed ones are skipped by [`Self::items`]).
    #[serde(default)]
    pub Item: Option<Vec<Value>>,
}

impl CallbackMetadata {
    /// The items as name → optional value (`Balance` often comes without a `Value`; `null`
    /// counts as none). Items without a string `Name` are skipped; a name given twice is an
    /// error naming it (which `Amount` is meant is a guess).
    pub(crate) fn items(&self) -> Result<BTreeMap<&str, Option<&Value>>, String> {
        let mut items = BTreeMap::new();
        for item in self.Item.iter().flatten() {
            let Some(name) = item.get("Name").and_then(Value::as_str) else {
                continue;
            };
            let value = item.get("Value").filter(|v| !v.is_null());
            if items.insert(name.trim(), value).is_some() {
                return Err(format!(
                    "CallbackMetadata names the item {:?} twice",
                    name.trim()
                ));
            }
        }
        Ok(items)
    }
}

/// A metadata value as text: strings as sent, integral numbers without a fraction
/// (`20200511201419`, `1.0` → `1`), other numbers as JSON writes them.
pub(crate) fn item_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => {
            let text = n.to_string();
            Some(integral(&text).unwrap_or(text))
        }
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `123`, `123.0`, `123.00` → `123`; anything else (fractions, exponents, signs) → `None`.
/// Text only: no floating point touches an amount.
pub(crate) fn integral(text: &str) -> Option<String> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let ok = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b == b'0');
    ok.then(|| whole.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn east_africa_time_is_utc_plus_three() {
        let at = |secs| timestamp(UNIX_EPOCH + std::time::Duration::from_secs(secs));
        assert_eq!(at(0), "19700101030000");
        // 2024-02-28 21:00:00 UTC → 2024-02-29 00:00 in Nairobi (a leap day).
        assert_eq!(at(1_709_154_000), "20240229000000");
        // 2023-12-31 20:59:59 UTC → 23:59:59, one second before the new year.
        assert_eq!(at(1_704_056_399), "20231231235959");
        assert_eq!(at(1_704_056_400), "20240101000000");
        assert_eq!(
            timestamp(UNIX_EPOCH - std::time::Duration::from_secs(5)),
            at(0)
        );
    }

    #[test]
    fn password_is_base64_of_the_three() {
        let p = password("174379", "passkey", "20240101000000");
        assert_eq!(
            STANDARD.decode(p.expose_secret()).unwrap(),
            b"174379passkey20240101000000"
        );
    }

    #[test]
    fn integral_numbers() {
        assert_eq!(integral("1"), Some("1".into()));
        assert_eq!(integral("1.0"), Some("1".into()));
        assert_eq!(integral("150000.00"), Some("150000".into()));
        assert_eq!(integral("1.5"), None);
        assert_eq!(integral("-1"), None);
        assert_eq!(integral("1e3"), None);
        assert_eq!(integral(""), None);
        assert_eq!(
            item_text(&serde_json::json!(20200511201419_u64)).as_deref(),
            Some("20200511201419")
        );
        assert_eq!(item_text(&serde_json::json!(1.0)).as_deref(), Some("1"));
        assert_eq!(
            item_text(&serde_json::json!(" OEB44R5U3U ")).as_deref(),
            Some("OEB44R5U3U")
        );
        assert_eq!(item_text(&serde_json::json!(null)), None);
    }

    #[test]
    fn path_tokens() {
        let url = url::Url::parse("https://shop.example/mpesa/daraja").unwrap();
        assert_eq!(
            with_path_token(&url, "s3cret"),
            "https://shop.example/mpesa/daraja/s3cret"
        );
        let slash = url::Url::parse("https://shop.example/cb/").unwrap();
        assert_eq!(
            with_path_token(&slash, "a b"),
            "https://shop.example/cb/a%20b"
        );
        let done = url::Url::parse("https://shop.example/cb/s3cret").unwrap();
        assert_eq!(
            with_path_token(&done, "s3cret"),
            "https://shop.example/cb/s3cret"
        );
        assert_eq!(percent_decoded("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decoded("a+b&c").as_deref(), Some("a+b&c"));
        assert_eq!(percent_decoded("%E2%82%AC%2").as_deref(), Some("€%2"));
        assert_eq!(percent_decoded("%FF"), None);
    }
}
