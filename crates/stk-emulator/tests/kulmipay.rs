//! The KulmiPay emulator on its own: documented validation errors, auth, 404s, the ledger.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use stk_emulator::{Endpoint, Fault, KulmiPayEmulator, KulmiPayEmulatorConfig};

async fn post(url: &str, auth: Option<&str>, body: &str) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drf_errors_and_ledger() {
    let emu = KulmiPayEmulator::start(KulmiPayEmulatorConfig::default())
        .await
        .unwrap();
    let push = format!("{}/payment/mpesa-stk-push/", emu.base_url());
    let status = format!("{}/payment/status/", emu.base_url());
    let auth = format!("Bearer {}", emu.secret_key());

    let (code, body) = post(&push, None, "{}").await;
    assert_eq!(
        (code, body),
        (
            401,
            json!({"detail": "Authentication credentials were not provided."})
        )
    );
    let (code, body) = post(&push, Some("Bearer nope"), "{}").await;
    assert_eq!((code, body), (401, json!({"detail": "Invalid api token"})));

    let cases = [
        (
            json!({"phone_number": "254712345678", "amount": "9.99"}),
            json!({"amount": ["Ensure this value is greater than or equal to 10."]}),
        ),
        (
            json!({"phone_number": "254712345678", "amount": 150001}),
            json!({"amount": ["Ensure this value is less than or equal to 150000."]}),
        ),
        (
            json!({"phone_number": "0712345678", "amount": "100"}),
            json!({"phone_number": ["Enter a valid phone number in the format 254XXXXXXXXX."]}),
        ),
        (
            json!({"amount": "100"}),
            json!({"phone_number": ["This field is required."]}),
        ),
        (
            json!({"phone_number": "254700000008", "amount": "100"}),
            json!({"phone_number": ["The phone number is not registered for M-PESA."]}),
        ),
        (
            json!({"phone_number": "254712345678", "amount": "100", "mobile_tarrif": "FREE"}),
            json!({"mobile_tarrif": ["\"FREE\" is not a valid choice."]}),
        ),
    ];
    for (request, expected) in cases {
        let (code, body) = post(&push, Some(&auth), &request.to_string()).await;
        assert_eq!((code, body), (400, expected), "{request}");
    }
    let (code, _) = post(
        &push,
        Some(&auth),
        r#"{"phone_number":"254700000009","amount":"100"}"#,
    )
    .await;
    assert_eq!(code, 503);
    assert!(emu.ledger().charges().is_empty());

    // Decimal amounts are rounded up.
    let (code, body) = post(
        &push,
        Some(&auth),
        r#"{"phone_number":"254712345678","amount":"99.01","api_ref":"R1"}"#,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["invoice"]["value"], "100.00");
    assert_eq!(body["invoice"]["state"], "PENDING");
    let id = body["invoice"]["invoice_id"].as_str().unwrap().to_owned();
    assert_eq!(emu.ledger().charges().len(), 1);
    assert_eq!(emu.ledger().charges()[0].amount, 100);

    let (code, body) = post(&status, Some(&auth), &json!({"invoice_id": id}).to_string()).await;
    assert_eq!(code, 200);
    assert_eq!(body["invoice"]["invoice_id"], id.as_str());
    assert!(body["meta"].is_object());
    let (code, body) = post(&status, Some(&auth), r#"{"invoice_id":"NOPE"}"#).await;
    assert_eq!((code, body), (404, json!({"detail": "Not found."})));

    // Faults are per endpoint and recorded.
    emu.faults().push_for(Endpoint::Status, Fault::Status(503));
    let (code, _) = post(
        &push,
        Some(&auth),
        r#"{"phone_number":"254712345678","amount":"100"}"#,
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = post(&status, Some(&auth), &json!({"invoice_id": id}).to_string()).await;
    assert_eq!(code, 503);
    let last = emu.ledger().requests().pop().unwrap();
    assert_eq!(last.fault, Some(Fault::Status(503)));
    assert_eq!(last.header("authorization"), Some("[redacted]"));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_api_needs_both_credentials() {
    let emu = KulmiPayEmulator::start(KulmiPayEmulatorConfig::default().port(0))
        .await
        .unwrap();
    let push = format!("{}/payment/collection/stk-push/", emu.base_url());
    let body = r#"{"phone_number":"254712345678","amount":1000,"api_ref":"ORDER-001"}"#;
    let (code, _) = post(&push, Some(&format!("Bearer {}", emu.api_token())), body).await;
    assert_eq!(code, 401);
    let resp = reqwest::Client::new()
        .post(&push)
        .header("authorization", format!("Bearer {}", emu.api_token()))
        .header("x-kulmi-secret-key", emu.secret_key())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("INV-"));
    assert_eq!(v["invoice"]["id"], v["id"]);
    assert_eq!(v["invoice"]["state"], "PENDING");
    assert_eq!(v["customer"]["phone_number"], "254712345678");
    assert!(v["signature"].is_string());
    let recorded = emu.ledger().requests();
    assert_eq!(recorded[1].header("x-kulmi-secret-key"), Some("[redacted]"));
    emu.shutdown().await;
}
