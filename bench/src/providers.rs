//! The four adapters as the benchmarks use them: configs pointed at a loopback base URL, the
//! documented push answers the static server gives, the documented callbacks the load
//! generator sends, and the same push as pre-built JSON for the plain-reqwest floor.

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use stk_core::{CallbackUrl, StkProvider, StkPushRequest};
use stk_daraja::{Daraja, DarajaConfig};
use stk_http::Connector;
use stk_kulmipay::{KulmiPay, KulmiPayConfig};
use stk_lipia::{Lipia, LipiaConfig};
use stk_upesipay::{UpesiPay, UpesiPayConfig};

/// Every adapter, in report order.
pub(crate) const PROVIDERS: [&str; 4] = ["kulmipay", "upesipay", "lipia", "daraja"];

/// The callback secret each benchmark config verifies with.
pub(crate) const CALLBACK_SECRET: &str = "bench-callback-secret";

/// Daraja's documented OAuth answer.
const DARAJA_TOKEN: &str = r#"{"access_token":"c9SQxWWhmdVRlyh0zh8gZDTkubVF","expires_in":"3599"}"#;

/// The documented answer to a push, by the request path under `/{provider}/`.
pub(crate) fn static_answer(path: &str) -> Option<&'static str> {
    let answer = match path.trim_start_matches('/').split_once('/')? {
        ("kulmipay", _) => {
            r#"{"id":"3c90c3cc-0d44-4b50-8888-8dd25736052a","invoice":{"invoice_id":"GQ7KZ2XPNM","state":"PENDING","provider":"M-PESA","charges":"0.00","net_amount":"100.00","currency":"KES","value":"100.00","account":"254712345678","api_ref":"ORDER-1001","host":"https://example.com","failed_reason":null,"failed_code":null,"created_at":"2024-01-15T10:30:00Z","updated_at":"2024-01-15T10:30:00Z"},"customer":{"customer_id":"7VX9QY","phone_number":"254712345678","email":null,"first_name":null,"last_name":null,"country":null}}"#
        }
        ("upesipay", _) => {
            r#"{"success":true,"status":"QUEUED","reference":"E8UWT7CLUW","CheckoutRequestID":"ws_CO_02012026164321519708344109"}"#
        }
        ("lipia", _) => {
            r#"{"success":true,"status":"success","message":"STK push initiated successfully","customerMessage":"STK push initiated successfully","data":{"TransactionReference":"64f1a2b3c4d5e6f7g8h9i0j1","ResponseCode":0,"ResponseDescription":"Success. Request accepted for processing"},"timestamp":"2024-01-15T10:30:00.000Z"}"#
        }
        ("daraja", rest) if rest.starts_with("oauth/") => DARAJA_TOKEN,
        ("daraja", _) => {
            r#"{"MerchantRequestID":"68444-143235050-2","CheckoutRequestID":"ws_CO_22112022152650652748458100","ResponseCode":"0","ResponseDescription":"Success. Request accepted for processing","CustomerMessage":"Success. Request accepted for processing"}"#
        }
        _ => return None,
    };
    Some(answer)
}

fn callback_url() -> Result<CallbackUrl, String> {
    CallbackUrl::parse("https://shop.example/stk/callback").map_err(|e| e.to_string())
}

fn kulmipay(base: &str) -> Result<KulmiPayConfig, String> {
    KulmiPayConfig::builder()
        .secret_key("ISSecretKey_test_bench")
        .webhook_challenge(CALLBACK_SECRET)
        .base_url(format!("{base}/kulmipay/"))
        .build()
        .map_err(|e| e.to_string())
}

fn upesipay(base: &str) -> Result<UpesiPayConfig, String> {
    UpesiPayConfig::builder()
        .api_token("bench-token")
        .channel_id(1)
        .callback_url(callback_url()?)
        .callback_token(CALLBACK_SECRET)
        .base_url(format!("{base}/upesipay/"))
        .build()
        .map_err(|e| e.to_string())
}

fn lipia(base: &str) -> Result<LipiaConfig, String> {
    LipiaConfig::builder()
        .api_key("bench-key")
        .callback_url(callback_url()?)
        .callback_token(CALLBACK_SECRET)
        .base_url(format!("{base}/lipia/"))
        .build()
        .map_err(|e| e.to_string())
}

fn daraja(base: &str) -> Result<DarajaConfig, String> {
    DarajaConfig::builder()
        .consumer_key("bench-consumer-key")
        .consumer_secret("bench-consumer-secret")
        .shortcode("174379")
        .passkey("bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919")
        .callback_url(callback_url()?)
        .callback_token(CALLBACK_SECRET)
        .base_url(format!("{base}/daraja/"))
        .build()
        .map_err(|e| e.to_string())
}

/// The SDK's provider for `name`, talking to `base` (`http://127.0.0.1:PORT`).
pub(crate) fn sdk(name: &str, base: &str) -> Result<Box<dyn StkProvider>, String> {
    let err = |e: stk_core::Error| e.to_string();
    Ok(match name {
        "kulmipay" => Box::new(KulmiPay::new(kulmipay(base)?).map_err(err)?),
        "upesipay" => Box::new(UpesiPay::new(upesipay(base)?).map_err(err)?),
        "lipia" => Box::new(Lipia::new(lipia(base)?).map_err(err)?),
        "daraja" => Box::new(Daraja::new(daraja(base)?).map_err(err)?),
        other => return Err(format!("unknown provider {other:?}")),
    })
}

/// The push a merchant sends: built (and validated) per call, as an application would.
pub(crate) fn request() -> Result<StkPushRequest, String> {
    StkPushRequest::builder()
        .phone("0712345678")
        .amount(100)
        .reference("ORDER1001")
        .description("Order 1001")
        .build()
        .map_err(|e| e.to_string())
}

/// What plain reqwest posts: the URL, the headers and the JSON body the SDK would send,
/// built once.
pub(crate) struct RawPush {
    /// The push endpoint.
    pub(crate) url: String,
    /// Content type and authorization.
    pub(crate) headers: HeaderMap,
    /// The serialized body.
    pub(crate) body: Vec<u8>,
}

/// [`RawPush`] for `name` against `base`.
pub(crate) fn raw_push(name: &str, base: &str) -> Result<RawPush, String> {
    fn build<C: Connector>(config: C, base: &str, bearer: Option<&str>) -> Result<RawPush, String> {
        let request = request()?;
        let body = config.push_body(&request).map_err(|e| e.to_string())?;
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let mut headers = config.headers().map_err(|e| e.to_string())?;
        if let Some(token) = bearer {
            let value =
                HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?;
            headers.insert(AUTHORIZATION, value);
        }
        let url = format!("{base}/{}/{}", C::NAME, config.endpoints().push);
        Ok(RawPush { url, headers, body })
    }
    match name {
        "kulmipay" => build(kulmipay(base)?, base, None),
        "upesipay" => build(upesipay(base)?, base, None),
        "lipia" => build(lipia(base)?, base, None),
        "daraja" => build(daraja(base)?, base, Some("c9SQxWWhmdVRlyh0zh8gZDTkubVF")),
        other => Err(format!("unknown provider {other:?}")),
    }
}

/// A documented callback for `name` (payment `i`), as the provider posts it, with the
/// verification each config expects (KulmiPay's challenge, the others' URL token).
pub(crate) fn callback(name: &str, i: u64) -> Result<(String, Vec<u8>), String> {
    let token = format!("?token={CALLBACK_SECRET}");
    let (target, body) = match name {
        "kulmipay" => (
            "/kulmipay".to_owned(),
            format!(
                r#"{{"invoice_id":"INV{i:07}","state":"COMPLETE","provider":"M-PESA","charges":"0.00","net_amount":"100.00","currency":"KES","value":"100.00","account":"254712345678","api_ref":"ORDER{i}","mpesa_reference":"RKT{i:07}","host":"x","retry_count":0,"failed_reason":null,"failed_code":null,"failed_code_link":null,"created_at":"2024-01-15T10:30:00Z","updated_at":"2024-01-15T10:31:00Z","challenge":"{CALLBACK_SECRET}"}}"#
            ),
        ),
        "upesipay" => (
            format!("/upesipay{token}"),
            format!(
                r#"{{"forward_url":"","response":{{"Amount":100,"CheckoutRequestID":"ws_CO_{i:016}","ExternalReference":"ORDER{i}","MerchantRequestID":"3202-{i}-1","MpesaReceiptNumber":"SAE{i:07}","Phone":"+254712345678","ResultCode":0,"ResultDesc":"The service request is processed successfully.","Status":"Success"}},"status":true}}"#
            ),
        ),
        "lipia" => (
            format!("/lipia{token}"),
            format!(
                r#"{{"response":{{"Amount":100,"ExternalReference":"ORDER{i}","MerchantRequestID":"29115-{i}-1","CheckoutRequestID":"ws_CO_{i:016}","MpesaReceiptNumber":"NEF{i:07}","Phone":"254712345678","ResultCode":0,"ResultDesc":"The service request is processed successfully.","Status":"Success"}},"status":true}}"#
            ),
        ),
        "daraja" => (
            format!("/daraja{token}"),
            format!(
                r#"{{"Body":{{"stkCallback":{{"MerchantRequestID":"29115-{i}-1","CheckoutRequestID":"ws_CO_{i:016}","ResultCode":0,"ResultDesc":"The service request is processed successfully.","CallbackMetadata":{{"Item":[{{"Name":"Amount","Value":100.00}},{{"Name":"MpesaReceiptNumber","Value":"NLJ{i:07}"}},{{"Name":"TransactionDate","Value":20191219102115}},{{"Name":"PhoneNumber","Value":254712345678}}]}}}}}}}}"#
            ),
        ),
        other => return Err(format!("unknown provider {other:?}")),
    };
    Ok((target, body.into_bytes()))
}
