//! Snapshots of wire payloads and error mappings; config and secret handling.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use stk_http::Connector;

use stk_core::{Error, PaymentId, StkProvider, StkPushRequest};

/// A provider answer as the HTTP layer hands it over.
fn raw(status: u16, retry_after: Option<&str>, body: &[u8]) -> stk_http::RawResponse {
    stk_http::RawResponse::new(
        status,
        retry_after.and_then(stk_http::parse_retry_after),
        body,
    )
}
use stk_kulmipay::{ApiGeneration, KulmiPay, KulmiPayConfig, MobileTariff};

fn connector(api: ApiGeneration) -> KulmiPayConfig {
    KulmiPayConfig::builder()
        .api(api)
        .secret_key("ISSecretKey_test_x")
        .api_token("t")
        .build()
        .unwrap()
}

use stk_emulator::Endpoint;

fn request() -> StkPushRequest {
    StkPushRequest::builder()
        .phone("0712 345 678")
        .amount(1500)
        .reference("ORDER-1001")
        .build()
        .unwrap()
}

fn provider(api: ApiGeneration) -> KulmiPay {
    KulmiPay::new(
        KulmiPayConfig::builder()
            .api(api)
            .secret_key("ISSecretKey_test_s3cret")
            .api_token("tok3n")
            .wallet_id("WALLET-1")
            .mobile_tariff(MobileTariff::CustomerPays)
            .build()
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn push_bodies() {
    insta::assert_json_snapshot!(
        "push_body_express",
        provider(ApiGeneration::Express)
            .config()
            .push_body(&request())
            .unwrap()
    );
    insta::assert_json_snapshot!(
        "push_body_collection",
        provider(ApiGeneration::Collection)
            .config()
            .push_body(&request())
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_as_the_emulator_received_them() {
    let h = common::Harness::start(false).await;
    for api in [ApiGeneration::Express, ApiGeneration::Collection] {
        let p = h.provider(api);
        let accepted = p.initiate(&request()).await.unwrap();
        p.status(&accepted.payment_id).await.unwrap();
    }
    let mut seen = Vec::new();
    for r in h.emulator.ledger().requests() {
        assert_ne!(r.endpoint, Endpoint::Other);
        let mut headers: Vec<_> = r
            .headers
            .iter()
            .filter(|(n, _)| {
                matches!(
                    n.as_str(),
                    "authorization" | "x-kulmi-secret-key" | "content-type" | "accept"
                )
            })
            .cloned()
            .collect();
        headers.sort();
        let mut body = r.json().unwrap();
        if body.get("invoice_id").is_some() {
            body["invoice_id"] = serde_json::json!("[id]");
        }
        seen.push(serde_json::json!({"method": r.method, "path": r.path, "headers": headers, "body": body}));
    }
    insta::assert_json_snapshot!(seen);
    h.emulator.shutdown().await;
}

#[test]
fn error_mappings() {
    let cases: Vec<(&str, u16, Option<&str>, &[u8])> = vec![
        ("initiate", 400, None, br#"{"amount":["Ensure this value is greater than or equal to 10."]}"#),
        ("initiate", 400, None, br#"{"phone_number":["The phone number is not registered for M-PESA."],"api_ref":["Not a valid string."]}"#),
        ("initiate", 401, None, br#"{"detail":"Invalid api token"}"#),
        ("initiate", 401, None, br#"{"detail":"Authentication credentials were not provided."}"#),
        ("initiate", 403, None, br#"{"detail":"Business not eligible"}"#),
        ("initiate", 404, None, b"<html>Not Found</html>"),
        ("status", 404, None, br#"{"detail":"Not found."}"#),
        ("initiate", 429, Some("30"), br#"{"detail":"Request was throttled."}"#),
        ("status", 429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), b""),
        ("initiate", 500, None, b"Internal Server Error"),
        ("initiate", 503, None, br#"{"detail":"M-PESA is temporarily unavailable. Please try again later."}"#),
        ("status", 502, None, b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
        ("initiate", 302, None, b""),
        ("initiate", 418, None, b"teapot"),
    ];
    let id = PaymentId::new("GQ7KZ2XPNM");
    let lines: Vec<String> = cases
        .into_iter()
        .map(|(op, status, retry, body)| {
            let e = match op {
                "status" => connector(ApiGeneration::Express)
                    .status_response(&id, &raw(status, retry, body))
                    .unwrap_err(),
                _ => connector(ApiGeneration::Express)
                    .push_response(&raw(status, retry, body))
                    .unwrap_err(),
            };
            format!(
                "{op:<8} {status} -> {:<19} retryable={:<5} {e}",
                e.kind(),
                e.is_retryable()
            )
        })
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn success_mappings() {
    let express = br#"{"id":"3c90c3cc-0d44-4b50-8888-8dd25736052a","invoice":{"invoice_id":"GQ7KZ2XPNM","state":"PENDING","value":"1500.00"},"customer":{}}"#;
    let accepted = connector(ApiGeneration::Express)
        .push_response(&raw(200, None, express))
        .unwrap();
    assert_eq!(accepted.payment_id.as_str(), "GQ7KZ2XPNM");
    // The express session id is not an invoice id.
    let no_invoice_id =
        br#"{"id":"3c90c3cc-0d44-4b50-8888-8dd25736052a","invoice":{"state":"PENDING"}}"#;
    assert_eq!(
        connector(ApiGeneration::Express)
            .push_response(&raw(201, None, no_invoice_id))
            .unwrap_err()
            .kind(),
        "outcome_unknown"
    );
    // Collection: invoice.id, then the top-level id.
    let collection = br#"{"id":"INV-1","invoice":{"id":"INV-1","state":"PENDING","value":1000},"signature":"x"}"#;
    assert_eq!(
        connector(ApiGeneration::Collection)
            .push_response(&raw(200, None, collection))
            .unwrap()
            .payment_id
            .as_str(),
        "INV-1"
    );
    let top_only = br#"{"id":"INV-2","invoice":{"state":"PENDING"}}"#;
    assert_eq!(
        connector(ApiGeneration::Collection)
            .push_response(&raw(200, None, top_only))
            .unwrap()
            .payment_id
            .as_str(),
        "INV-2"
    );

    let id = PaymentId::new("GQ7KZ2XPNM");
    let statuses: Vec<serde_json::Value> = [
        r#"{"invoice":{"invoice_id":"GQ7KZ2XPNM","state":"PENDING"}}"#,
        r#"{"invoice":{"invoice_id":"GQ7KZ2XPNM","state":"PROCESSING"}}"#,
        r#"{"invoice":{"invoice_id":"GQ7KZ2XPNM","state":"COMPLETE","value":"1500.00","charges":"33.00","net_amount":"1467.00","mpesa_reference":"RKT123ABC","updated_at":"2024-01-15T10:31:00Z"},"meta":{}}"#,
        r#"{"invoice":{"invoice_id":"GQ7KZ2XPNM","state":"FAILED","failed_code":"1032","failed_reason":"Request Cancelled by user."}}"#,
        r#"{"invoice":{"invoice_id":"GQ7KZ2XPNM","state":"FAILED","failed_code":1037,"failed_reason":"DS timeout"}}"#,
        r#"{"invoice":{"invoice_id":"GQ7KZ2XPNM","state":"FAILED","failed_code":null,"failed_reason":"Declined"}}"#,
        r#"{"invoice":{"invoice_id":"GQ7KZ2XPNM","state":"RETRY_QUEUED"}}"#,
    ]
    .iter()
    .map(|body| serde_json::to_value(connector(ApiGeneration::Express).status_response(&id, &raw(200, None, body.as_bytes())).unwrap()).unwrap())
    .collect();
    insta::assert_json_snapshot!(statuses);
}

#[test]
fn debug_and_errors_never_show_secrets() {
    let config = KulmiPayConfig::builder()
        .api(ApiGeneration::Collection)
        .secret_key("ISSecretKey_test_TOPSECRET")
        .api_token("TOKENSECRET")
        .webhook_challenge("CHALLENGESECRET")
        .build()
        .unwrap();
    let p = KulmiPay::new(config.clone()).unwrap();
    for text in [
        format!("{config:?}"),
        format!("{p:?}"),
        format!(
            "{:?}",
            KulmiPayConfig::builder().secret_key("ISSecretKey_test_TOPSECRET")
        ),
    ] {
        for secret in ["TOPSECRET", "TOKENSECRET", "CHALLENGESECRET"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert!(format!("{p:?}").contains("sandbox.kulmipay.com"));
}

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn config_from_lookup() {
    let c = KulmiPayConfig::from_lookup(lookup(&[("KULMIPAY_SECRET_KEY", "ISSecretKey_live_abc")]))
        .unwrap();
    assert_eq!(c.api, ApiGeneration::Express);
    assert_eq!(
        c.client.base_url.as_str(),
        "https://app.kulmipay.com/api/v1/"
    );
    let c = KulmiPayConfig::from_lookup(lookup(&[
        ("KULMIPAY_SECRET_KEY", "ISSecretKey_test_abc"),
        ("KULMIPAY_API", "collection"),
        ("KULMIPAY_API_TOKEN", "t"),
        ("KULMIPAY_BASE_URL", "http://127.0.0.1:9999/api/v1"),
        ("KULMIPAY_WALLET_ID", "W1"),
        ("KULMIPAY_MOBILE_TARIFF", "customer-pays"),
        ("KULMIPAY_WEBHOOK_CHALLENGE", "ch"),
    ]))
    .unwrap();
    assert_eq!(c.api, ApiGeneration::Collection);
    assert_eq!(c.client.base_url.as_str(), "http://127.0.0.1:9999/api/v1/");
    assert_eq!(c.wallet_id.as_deref(), Some("W1"));
    assert_eq!(c.mobile_tariff, Some(MobileTariff::CustomerPays));

    let errors: Vec<String> = [
        vec![],
        vec![
            ("KULMIPAY_SECRET_KEY", "ISSecretKey_test_abc"),
            ("KULMIPAY_API", "legacy"),
        ],
        vec![
            ("KULMIPAY_SECRET_KEY", "ISSecretKey_test_abc"),
            ("KULMIPAY_API", "collection"),
        ],
        vec![("KULMIPAY_SECRET_KEY", "no-marker-key")],
        vec![
            ("KULMIPAY_SECRET_KEY", "ISSecretKey_test_abc"),
            ("KULMIPAY_BASE_URL", "not a url"),
        ],
        vec![
            ("KULMIPAY_SECRET_KEY", "ISSecretKey_test_abc"),
            ("KULMIPAY_BASE_URL", "ftp://x/"),
        ],
        vec![
            ("KULMIPAY_SECRET_KEY", "ISSecretKey_test_abc"),
            ("KULMIPAY_MOBILE_TARIFF", "FREE"),
        ],
    ]
    .iter()
    .map(|vars| {
        let e = KulmiPayConfig::from_lookup(lookup(vars)).unwrap_err();
        assert!(matches!(e, Error::Config { .. }));
        e.to_string()
    })
    .collect();
    insta::assert_snapshot!(errors.join("\n"));
}

#[test]
fn a_per_request_callback_url_is_refused_not_dropped() {
    let request = StkPushRequest::builder()
        .phone("0712345678")
        .amount(100)
        .reference("ORDER-1")
        .callback_url("https://shop.example/cb")
        .build()
        .unwrap();
    let err = connector(ApiGeneration::Express)
        .push_body(&request)
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_request", "{err}");
    assert!(err.to_string().contains("dashboard"), "{err}");
}
