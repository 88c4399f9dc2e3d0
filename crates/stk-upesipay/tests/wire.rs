//! Wire payloads, answer and error mappings, callbacks and configuration, as snapshots.
#![allow(clippy::unwrap_used)]

use std::time::Duration;
use stk_http::Connector;

use stk_core::{CallbackRequest, CallbackUrl, Error, PaymentId, StkProvider, StkPushRequest};
use stk_http::RawResponse;
use stk_upesipay::{ABUSE_CODE, UpesiPay, UpesiPayConfig};

fn connector() -> UpesiPayConfig {
    UpesiPayConfig::builder()
        .api_token("t")
        .channel_id(1)
        .build()
        .unwrap()
}

const TOKEN: &str = "sekret-api-token-123";
const CB_TOKEN: &str = "sekret-callback-token-456";

fn provider(callback: bool) -> UpesiPay {
    let mut b = UpesiPayConfig::builder()
        .api_token(TOKEN)
        .channel_id(2133)
        .credential_id("cred-42");
    if callback {
        b = b
            .callback_url(CallbackUrl::parse("https://shop.example/mpesa/upesipay?shop=1").unwrap())
            .callback_token(CB_TOKEN);
    }
    UpesiPay::new(b.build().unwrap()).unwrap()
}

fn request() -> StkPushRequest {
    StkPushRequest::builder()
        .phone("+254 712 345 678")
        .amount(100)
        .reference("INV-009")
        .metadata("customer_name", "John Doe")
        .metadata("order", "9")
        .build()
        .unwrap()
}

#[test]
fn push_bodies() {
    insta::assert_json_snapshot!(
        "push_body_full",
        provider(true).config().push_body(&request()).unwrap()
    );
    let plain = StkPushRequest::builder()
        .phone("0700000001")
        .amount(1)
        .reference("A")
        .callback_url("https://own.example/cb")
        .build()
        .unwrap();
    let p = UpesiPay::new(
        UpesiPayConfig::builder()
            .api_token(TOKEN)
            .channel_id(7)
            .build()
            .unwrap(),
    )
    .unwrap();
    insta::assert_json_snapshot!("push_body_minimal", p.config().push_body(&plain).unwrap());
    // A request's own callback URL wins over the default, and gets the token too.
    let body = provider(true).config().push_body(&plain).unwrap();
    assert_eq!(
        body.callback_url.as_deref(),
        Some("https://own.example/cb?token=sekret-callback-token-456")
    );
    // The Debug form hides the token-carrying query.
    let debug = format!("{body:?}");
    assert!(!debug.contains(CB_TOKEN), "{debug}");
    assert!(
        debug.contains("https://own.example/cb?[redacted]"),
        "{debug}"
    );
}

fn line(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Ok(v) => format!("ok: {v:?}"),
        Err(e) => format!("{} (retryable={}): {e}", e.kind(), e.is_retryable()),
    }
}

#[test]
fn push_answers() {
    let cases: Vec<(u16, Option<u64>, &str)> = vec![
        (
            201,
            None,
            r#"{"success":true,"status":"QUEUED","reference":"E8UWT7CLUW","CheckoutRequestID":"ws_CO_02012026164321519708344109"}"#,
        ),
        (200, None, r#"{"success":true,"reference":"E8UWT7CLUW"}"#),
        (201, None, r#"{"success":true,"status":"QUEUED"}"#),
        (
            200,
            None,
            r#"{"success":false,"message":"Insufficient wallet balance","error_code":"E102"}"#,
        ),
        (201, None, "<html>ok</html>"),
        (400, None, r#"{"error_message":"Invalid request"}"#),
        (
            400,
            None,
            r#"{"error_message":"STK Abuse Protection: phone number 2547******01 is blocked"}"#,
        ),
        (
            401,
            None,
            r#"{"error_message":"Invalid authentication token."}"#,
        ),
        (
            403,
            None,
            r#"{"error_message":"General Abuse Protection: this account is restricted from sending STK push requests for 240 more minutes."}"#,
        ),
        (403, None, r#"{"error_message":"Forbidden"}"#),
        (404, None, "<html>Not Found</html>"),
        (
            422,
            None,
            r#"{"message":"The phone number field is required."}"#,
        ),
        (429, Some(30), r#"{"error_message":"Too many requests"}"#),
        (
            503,
            None,
            r#"{"error_message":"M-PESA is temporarily unavailable."}"#,
        ),
        (502, None, "<html><body>Bad gateway</body></html>"),
    ];
    let lines: Vec<String> = cases
        .into_iter()
        .map(|(status, after, body)| {
            let raw = RawResponse::new(status, after.map(Duration::from_secs), body);
            format!("{status} -> {}", line(connector().push_response(&raw)))
        })
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn status_answers() {
    let id = PaymentId::new("E8UWT7CLUW");
    let cases: Vec<(u16, &str)> = vec![
        (
            200,
            r#"{"transaction_date":"2026-01-02T08:41:14Z","provider":"m-pesa","success":true,"merchant":"Ron Doe","payment_reference":"","third_party_reference":"SKQ96C7K7H","status":"SUCCESS","reference":"6b71cb8b-1","CheckoutRequestID":"","provider_reference":"SKQ96C7K7H"}"#,
        ),
        (
            200,
            r#"{"status":"success","third_party_reference":"SKQ96C7K7H","provider_reference":""}"#,
        ),
        (200, r#"{"status":"QUEUED","reference":"E8UWT7CLUW"}"#),
        (
            200,
            r#"{"status":"FAILED","ResultCode":1032,"ResultDesc":"Request cancelled by user"}"#,
        ),
        (
            200,
            r#"{"status":"FAILED","ResultCode":"2001","ResultDesc":"The initiator information is invalid."}"#,
        ),
        (200, r#"{"status":"FAILED"}"#),
        (200, r#"{"status":"cancelled"}"#),
        (200, r#"{"status":"timeout"}"#),
        (200, r#"{"status":"REVERSED"}"#),
        (200, r#"{"status":""}"#),
        (200, r#"{"reference":"E8UWT7CLUW"}"#),
        (200, "not json"),
        (404, r#"{"error_message":"Transaction not found."}"#),
        (401, r#"{"error_message":"Unauthorized"}"#),
        (500, r#"{"error_message":"Server Error"}"#),
    ];
    let lines: Vec<String> = cases
        .into_iter()
        .map(|(status, body)| {
            let raw = RawResponse::new(status, None, body);
            format!(
                "{status} {body} -> {}",
                line(connector().status_response(&id, &raw))
            )
        })
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn callbacks() {
    let p = provider(true);
    let ok_target = format!("/mpesa/upesipay?shop=1&token={CB_TOKEN}");
    let documented = r#"{"forward_url":"","response":{"Amount":10,"CheckoutRequestID":"ws_CO_02012026164321519708344109","ExternalReference":"INV-009","MerchantRequestID":"3202-70921557-1","MpesaReceiptNumber":"SAE3YULR0Y","Phone":"+254709099876","ResultCode":0,"ResultDesc":"The service request is processed successfully.","Status":"Success"},"status":true}"#;
    let failed = r#"{"forward_url":"","response":{"Amount":10,"CheckoutRequestID":"ws_CO_1","ExternalReference":"INV-009","MerchantRequestID":"1-2-1","MpesaReceiptNumber":"","Phone":"+254700000001","ResultCode":1032,"ResultDesc":"Request cancelled by user","Status":"Failed"},"status":false}"#;
    let cases: Vec<(&str, String, &str)> = vec![
        ("documented success", ok_target.clone(), documented),
        ("failure", ok_target.clone(), failed),
        ("no token", "/mpesa/upesipay?shop=1".to_owned(), documented),
        (
            "wrong token",
            "/mpesa/upesipay?token=guess".to_owned(),
            documented,
        ),
        (
            "status only, failed",
            ok_target.clone(),
            r#"{"response":{"CheckoutRequestID":"ws_CO_1","Status":"Failed"},"status":false}"#,
        ),
        (
            "contradiction",
            ok_target.clone(),
            r#"{"response":{"CheckoutRequestID":"ws_CO_1","ResultCode":0,"Status":"Failed"},"status":false}"#,
        ),
        (
            "no ids",
            ok_target.clone(),
            r#"{"response":{"ResultCode":0,"Status":"Success"},"status":true}"#,
        ),
        (
            "no response",
            ok_target.clone(),
            r#"{"forward_url":"","status":true}"#,
        ),
        ("not json", ok_target.clone(), "\u{0}\u{1}garbage"),
    ];
    let lines: Vec<String> = cases
        .into_iter()
        .map(|(name, target, body)| {
            let cb = CallbackRequest::new(body.as_bytes().to_vec()).path_and_query(target);
            let result = p.parse_callback(&cb);
            if let Err(e) = &result {
                assert!(!e.to_string().contains(CB_TOKEN));
            }
            format!("{name}: {}", line(result))
        })
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
    // Without a configured token, the body alone decides.
    let open = provider(false);
    let cb = CallbackRequest::new(documented.as_bytes().to_vec());
    assert_eq!(
        open.parse_callback(&cb).unwrap().status.as_str(),
        "completed"
    );
}

#[test]
fn abuse_answers_are_rejections_not_auth_failures() {
    let raw = RawResponse::new(
        403,
        Some(Duration::from_secs(86_000)),
        r#"{"error_message":"STK Abuse Protection: phone number 2547******01 is blocked from receiving STK push requests from this account for 1434 more minutes after more than 10 successive failed or cancelled requests."}"#,
    );
    let e = connector().push_response(&raw).unwrap_err();
    assert!(matches!(&e, Error::Rejected { code: Some(c), .. } if c == ABUSE_CODE));
    assert!(!e.is_retryable());
}

#[test]
fn config_from_lookup() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let errors: Vec<String> = [
        &[][..],
        &[("UPESIPAY_API_TOKEN", TOKEN)][..],
        &[
            ("UPESIPAY_API_TOKEN", TOKEN),
            ("UPESIPAY_CHANNEL_ID", "abc"),
        ][..],
        &[("UPESIPAY_API_TOKEN", "  "), ("UPESIPAY_CHANNEL_ID", "1")][..],
        &[
            ("UPESIPAY_API_TOKEN", TOKEN),
            ("UPESIPAY_CHANNEL_ID", "1"),
            ("UPESIPAY_BASE_URL", "ftp://x"),
        ][..],
        &[
            ("UPESIPAY_API_TOKEN", TOKEN),
            ("UPESIPAY_CHANNEL_ID", "1"),
            ("UPESIPAY_CALLBACK_URL", "http://shop.example/cb"),
        ][..],
    ]
    .into_iter()
    .map(|pairs| {
        let e = UpesiPayConfig::from_lookup(env(pairs)).unwrap_err();
        assert_eq!(e.kind(), "config");
        assert!(!e.to_string().contains(TOKEN));
        e.to_string()
    })
    .collect();
    insta::assert_snapshot!(errors.join("\n"));

    let config = UpesiPayConfig::from_lookup(env(&[
        ("UPESIPAY_API_TOKEN", TOKEN),
        ("UPESIPAY_CHANNEL_ID", " 2133 "),
        ("UPESIPAY_BASE_URL", "http://127.0.0.1:9/api/v2"),
        ("UPESIPAY_CALLBACK_URL", "https://shop.example/cb"),
        ("UPESIPAY_CALLBACK_TOKEN", CB_TOKEN),
        ("UPESIPAY_CREDENTIAL_ID", "cred-1"),
    ]))
    .unwrap();
    assert_eq!(config.channel_id, 2133);
    assert_eq!(
        config.client.base_url.as_str(),
        "http://127.0.0.1:9/api/v2/"
    );
    let default = UpesiPayConfig::from_lookup(env(&[
        ("UPESIPAY_API_TOKEN", TOKEN),
        ("UPESIPAY_CHANNEL_ID", "1"),
    ]))
    .unwrap();
    assert_eq!(
        default.client.base_url.as_str(),
        "https://upesipay.com/api/v2/"
    );

    // Secrets never show in Debug.
    let p = UpesiPay::new(config.clone()).unwrap();
    for text in [
        format!("{config:?}"),
        format!("{p:?}"),
        format!(
            "{:?}",
            UpesiPayConfig::builder()
                .api_token(TOKEN)
                .callback_token(CB_TOKEN)
        ),
    ] {
        assert!(!text.contains(TOKEN), "{text}");
        assert!(!text.contains(CB_TOKEN), "{text}");
    }
    insta::assert_snapshot!(format!("{config:#?}"));
}

#[test]
fn a_token_given_with_its_basic_prefix_is_sent_once_prefixed() {
    for given in [
        "abc",
        "Basic abc",
        "basic abc",
        "  Basic   abc  ",
        "BASIC abc",
    ] {
        let config = UpesiPayConfig::builder()
            .api_token(given)
            .channel_id(1)
            .build()
            .unwrap();
        let headers = config.headers().unwrap();
        let value = headers.get("authorization").unwrap().to_str().unwrap();
        assert_eq!(value, "Basic abc", "{given:?}");
    }
}
