//! Wire payloads and error mappings (insta snapshots), Lipia's Safaricom-only rule, the
//! `success:true`-on-failure status semantics, callback shapes, tokens and acknowledgement.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;
use stk_http::Connector;

use serde_json::{Value, json};
use stk_core::{
    CallbackRequest, CallbackUrl, Error, FailureReason, PaymentId, PaymentStatus, PollPolicy,
    StkProvider, StkPushRequest, wait_for_final,
};
use stk_http::RawResponse;
use stk_lipia::{CALLBACK_ACK, Lipia, LipiaConfig};
use stk_mock::Scenario;

fn connector() -> LipiaConfig {
    LipiaConfig::builder().api_key("k").build().unwrap()
}

use stk_emulator::{Endpoint, LipiaCallbackShape};

fn poll() -> PollPolicy {
    PollPolicy::default()
        .intervals(Duration::from_millis(10), Duration::from_millis(50))
        .deadline(Duration::from_secs(10))
}

fn offline(token: Option<&str>) -> Lipia {
    let mut b = LipiaConfig::builder()
        .api_key("test-key")
        .callback_url(CallbackUrl::parse("https://shop.example/mpesa/lipia").unwrap());
    if let Some(t) = token {
        b = b.callback_token(t);
    }
    Lipia::new(b.build().unwrap()).unwrap()
}

fn without_timestamp(mut v: Value) -> Value {
    if let Some(t) = v.get_mut("timestamp") {
        assert!(t.as_str().is_some_and(|s| s.ends_with('Z')), "{t}");
        *t = json!("[timestamp]");
    }
    v
}

#[test]
fn push_bodies() {
    let full = StkPushRequest::builder()
        .phone("0712 345 678")
        .amount(1500)
        .reference("ORDER-1001")
        .description("Two mandazi")
        .metadata("order_id", "1001")
        .metadata("customer_name", "John Doe")
        .build()
        .unwrap();
    let own_callback = StkPushRequest::builder()
        .phone("+254112345678")
        .amount(1)
        .reference("ORDER-1002")
        .callback_url("https://shop.example/other?token=mine")
        .build()
        .unwrap();
    insta::assert_json_snapshot!(
        "push_body_with_metadata_and_token",
        offline(Some("cb-secret"))
            .config()
            .push_body(&full)
            .unwrap()
    );
    insta::assert_json_snapshot!(
        "push_body_own_callback_keeps_its_token",
        offline(Some("cb-secret"))
            .config()
            .push_body(&own_callback)
            .unwrap()
    );
    let bare = Lipia::new(LipiaConfig::builder().api_key("k").build().unwrap()).unwrap();
    insta::assert_json_snapshot!(
        "push_body_minimal",
        bare.config().push_body(&own_callback.clone()).unwrap()
    );
    let minimal = StkPushRequest::builder()
        .phone("0700000000")
        .amount(10)
        .reference("R")
        .build()
        .unwrap();
    let body = serde_json::to_value(bare.config().push_body(&minimal).unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"phone_number": "254700000000", "amount": 10, "external_reference": "R"})
    );
}

fn raw(status: u16, body: &str) -> RawResponse {
    RawResponse::new(status, Some(Duration::from_secs(30)), body)
}

#[test]
fn error_mappings() {
    let id = PaymentId::new("64f1a2b3c4d5e6f7a8b9c0d1");
    let validation = r#"{"success":false,"status":"error","message":"Validation failed","customerMessage":"Please check your input and try again","error":{"code":"VALIDATION_ERROR","field":"phone_number","location":"body","value":"0733000000","expected":"valid safaricom kenyan number"},"timestamp":"2024-01-15T10:30:00.000Z"}"#;
    let payment = r#"{"success":false,"status":"error","message":"Failed to initiate STK push","customerMessage":"We could not reach your phone","error":{"code":"PAYMENT_ERROR","details":"x"},"timestamp":"2024-01-15T10:30:00.000Z"}"#;
    let unauthorized = r#"{"success":false,"status":"error","message":"Invalid API key","customerMessage":"Authentication failed","error":{"code":"UNAUTHORIZED"}}"#;
    let not_found = r#"{"success":false,"status":"error","message":"Transaction not found","customerMessage":"We could not find this transaction","error":{"code":"NOT_FOUND"}}"#;
    let push_cases: Vec<(&str, u16, &str)> = vec![
        ("validation 400", 400, validation),
        ("validation 422", 422, validation),
        ("validation in a 200", 200, validation),
        ("payment error 400", 400, payment),
        ("payment error 402", 402, payment),
        ("unauthorized 401", 401, unauthorized),
        ("unauthorized code in a 400", 400, unauthorized),
        ("404 (wrong base URL)", 404, not_found),
        (
            "429 with Retry-After",
            429,
            r#"{"success":false,"error":{"code":"RATE_LIMITED"}}"#,
        ),
        (
            "503 envelope",
            503,
            r#"{"success":false,"message":"M-Pesa is down","error":{"code":"SERVICE_UNAVAILABLE"}}"#,
        ),
        ("502 html", 502, "<html><body>Bad gateway</body></html>"),
        ("400 plain text", 400, "bad request"),
        ("302", 302, ""),
        (
            "200 ResponseCode 1",
            200,
            r#"{"success":true,"customerMessage":"Try again","data":{"TransactionReference":"ab","ResponseCode":1,"ResponseDescription":"Rejected by M-Pesa"}}"#,
        ),
        (
            "200 without data",
            200,
            r#"{"success":true,"message":"ok"}"#,
        ),
        ("201 empty body", 201, ""),
    ];
    let mut lines = Vec::new();
    for (name, status, body) in push_cases {
        let r = connector().push_response(&raw(status, body));
        lines.push(describe("initiate", name, &r));
    }
    let status_cases: Vec<(&str, u16, &str)> = vec![
        ("404 envelope", 404, not_found),
        ("not found code in a 200", 200, not_found),
        ("validation 400", 400, validation),
        ("401", 401, unauthorized),
        (
            "200 without Status",
            200,
            r#"{"success":true,"data":{"response":{"ResultCode":0}}}"#,
        ),
        (
            "200 pending",
            200,
            r#"{"success":true,"data":{"response":{"Status":"PENDING","ResultCode":0},"status":false}}"#,
        ),
        (
            "200 failed",
            200,
            r#"{"success":true,"data":{"response":{"Status":"FAILED","ResultCode":"1037","ResultDesc":"DS timeout user cannot be reached"},"status":false}}"#,
        ),
        (
            "200 success",
            200,
            r#"{"success":true,"data":{"response":{"Status":"Success","ResultCode":0,"MpesaReceiptNumber":"NEF61H8J60","Amount":"100.00","TransactionDate":"2024-01-15T10:31:00Z"},"status":true}}"#,
        ),
    ];
    for (name, status, body) in status_cases {
        let r = connector().status_response(&id, &raw(status, body));
        lines.push(describe("status", name, &r));
    }
    insta::assert_snapshot!(lines.join("\n"));
}

fn describe<T: std::fmt::Debug>(op: &str, name: &str, r: &Result<T, Error>) -> String {
    match r {
        Ok(v) => format!("{op:<8} {name:<28} -> ok {v:?}"),
        Err(
            e @ Error::Rejected {
                code,
                customer_message,
                ..
            },
        ) => format!(
            "{op:<8} {name:<28} -> rejected code={code:?} customer={customer_message:?}\n{:<40}{e}",
            ""
        ),
        Err(e) => format!("{op:<8} {name:<28} -> {}\n{:<40}{e}", e.kind(), ""),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safaricom_rule_rejects_an_airtel_number() {
    let h = common::Harness::start(LipiaCallbackShape::Nested).await;
    // The wire: Lipia's documented validation envelope.
    let raw = reqwest::Client::new()
        .post(format!("{}/payments/stk-push", h.emulator.base_url()))
        .bearer_auth(h.emulator.api_key())
        .json(&json!({"phone_number": "0733000000", "amount": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    let body: Value = raw.json().await.unwrap();
    insta::assert_json_snapshot!("airtel_validation_envelope", without_timestamp(body));

    // The adapter: rejected, VALIDATION_ERROR, field/value/expected in the message, nothing
    // charged.
    let provider = h.provider();
    let request = StkPushRequest::builder()
        .phone("0733000000")
        .amount(100)
        .reference("AIRTEL-1")
        .build()
        .unwrap();
    let err = provider.initiate(&request).await.unwrap_err();
    let Error::Rejected {
        code,
        message,
        customer_message,
        ..
    } = &err
    else {
        panic!("expected rejected, got {err}")
    };
    assert_eq!(code.as_deref(), Some("VALIDATION_ERROR"));
    assert_eq!(
        customer_message.as_deref(),
        Some("Please check your input and try again")
    );
    assert!(message.contains("phone_number"), "{message}");
    assert!(
        message.contains("valid safaricom kenyan number"),
        "{message}"
    );
    assert!(
        !message.contains("733000000"),
        "the number is masked: {message}"
    );
    assert!(!err.is_retryable());
    assert!(h.emulator.ledger().charges().is_empty());
    insta::assert_snapshot!("airtel_rejected", err.to_string());

    // Every documented Safaricom form is accepted.
    for phone in [
        "254712345678",
        "254112345678",
        "+254712345678",
        "0712345678",
        "0112345678",
    ] {
        let r = reqwest::Client::new()
            .post(format!("{}/payments/stk-push", h.emulator.base_url()))
            .bearer_auth(h.emulator.api_key())
            .json(&json!({"phone_number": phone, "amount": 1, "external_reference": 42}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{phone}");
    }
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_as_the_emulator_receives_and_answers_it() {
    let h = common::Harness::start(LipiaCallbackShape::Nested).await;
    let provider = h.provider();
    let request = StkPushRequest::builder()
        .phone(Scenario::Cancel.phone())
        .amount(250)
        .reference("ORDER-W1")
        .description("Chapati")
        .build()
        .unwrap();
    let accepted = provider.initiate(&request).await.unwrap();
    assert_eq!(accepted.payment_id.as_str().len(), 24);
    assert!(
        accepted
            .payment_id
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
    );
    assert_eq!(
        accepted.customer_message.as_deref(),
        Some("STK push initiated successfully")
    );

    let sent = h.emulator.ledger().requests_to(Endpoint::Initiate);
    let sent = sent.last().unwrap();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/api/v2/payments/stk-push");
    assert_eq!(sent.header("authorization"), Some("[redacted]"));
    let mut body = sent.json().unwrap();
    let url = body["callback_url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&h.callback_url) && url.ends_with("?token=emulator-callback-token"),
        "{url}"
    );
    body["callback_url"] = json!("[receiver]?token=emulator-callback-token");
    insta::assert_json_snapshot!("push_as_received", body);

    // Status: FAILED still has success:true; the adapter maps on Status.
    wait_for_final(&provider, &accepted.payment_id, &poll())
        .await
        .unwrap();
    let raw: Value = reqwest::Client::new()
        .get(format!(
            "{}/payments/status?reference={}",
            h.emulator.base_url(),
            accepted.payment_id
        ))
        .bearer_auth(h.emulator.api_key())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["success"], json!(true));
    assert_eq!(raw["data"]["status"], json!(false));
    assert_eq!(raw["data"]["response"]["Status"], json!("FAILED"));
    assert_eq!(raw["data"]["response"]["ResultCode"], json!(1032));
    assert_eq!(
        raw["data"]["response"]["Metadata"],
        json!({"description": "Chapati"})
    );
    let PaymentStatus::Failed(f) = provider.status(&accepted.payment_id).await.unwrap() else {
        panic!("failed")
    };
    assert_eq!(f.reason, FailureReason::Cancelled);

    // The callback: nested, acknowledged with 200 `ok`.
    let cb = h.wait_callback(&accepted.payment_id).await.unwrap();
    let mut cb_body: Value = serde_json::from_slice(&cb.body).unwrap();
    assert_eq!(cb_body["status"], json!(false));
    assert_eq!(cb_body["response"]["Status"], json!("Failed"));
    assert_eq!(cb_body["response"]["MpesaReceiptNumber"], json!(""));
    for key in ["CheckoutRequestID", "MerchantRequestID"] {
        assert!(
            cb_body["response"][key]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
        cb_body["response"][key] = json!(format!("[{key}]"));
    }
    insta::assert_json_snapshot!("failed_callback_as_received", cb_body);
    let event = provider.parse_callback(&cb).unwrap();
    assert_eq!(event.payment_id, None);
    assert_eq!(
        event.checkout_request_id,
        h.emulator.checkout_request_id(accepted.payment_id.as_str())
    );
    assert_eq!(event.merchant_reference.as_deref(), Some("ORDER-W1"));
    assert!(
        matches!(event.status, PaymentStatus::Failed(ref f) if f.reason == FailureReason::Cancelled)
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !h
        .emulator
        .callback_attempts()
        .iter()
        .any(|a| a.reference == accepted.payment_id.as_str())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no callback attempt recorded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let attempts = h.emulator.callback_attempts();
    let attempt = attempts
        .iter()
        .find(|a| a.reference == accepted.payment_id.as_str())
        .unwrap();
    assert!(attempt.acknowledged);
    assert_eq!((attempt.status, attempt.body.as_str()), (Some(200), "ok"));

    // The emulator's own view of the callback parses the same.
    let again = provider
        .parse_callback(
            &h.emulator
                .callback_for(accepted.payment_id.as_str())
                .unwrap(),
        )
        .unwrap();
    assert_eq!(again.dedup_key(), event.dedup_key());
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_callbacks_are_recorded_and_retried() {
    let h = common::Harness::start_with(LipiaCallbackShape::Nested, common::Answer::JsonBody).await;
    let provider = h.provider();
    let request = StkPushRequest::builder()
        .phone(Scenario::Complete.phone())
        .amount(100)
        .reference("ORDER-NOACK")
        .build()
        .unwrap();
    let accepted = provider.initiate(&request).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let attempts = loop {
        let attempts: Vec<_> = h
            .emulator
            .callback_attempts()
            .into_iter()
            .filter(|a| a.reference == accepted.payment_id.as_str())
            .collect();
        if attempts.len() == 3 {
            break attempts;
        }
        assert!(tokio::time::Instant::now() < deadline, "{attempts:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        attempts
            .iter()
            .all(|a| !a.acknowledged && a.status == Some(200))
    );
    assert_eq!(CALLBACK_ACK.status, 200);
    assert_eq!(
        (CALLBACK_ACK.content_type, CALLBACK_ACK.body),
        ("text/plain", "ok")
    );
    h.emulator.shutdown().await;
}

fn nested(status: &str, code: Value, receipt: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "response": {
            "Amount": 100, "ExternalReference": "order_123", "MerchantRequestID": "29115-34620561-1",
            "CheckoutRequestID": "ws_CO_191220191020363925", "MpesaReceiptNumber": receipt,
            "Phone": "254712345678", "ResultCode": code, "ResultDesc": "text",
            "Metadata": {"order_id": "12345"}, "Status": status
        },
        "status": status == "Success"
    }))
    .unwrap()
}

#[test]
fn callback_shapes_and_tokens() {
    let flat_ok = json!({
        "TransactionReference": "64f1a2b3c4d5e6f7a8b9c0d1", "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.", "Amount": 100,
        "MpesaReceiptNumber": "NEF61H8J60", "PhoneNumber": "254712345678",
        "ExternalReference": "order_123", "CheckoutRequestID": "ws_CO_1"
    });
    let flat_failed = json!({"TransactionReference": "64f1a2b3c4d5e6f7a8b9c0d1", "ResultCode": "2001", "ResultDesc": "The initiator information is invalid.", "MpesaReceiptNumber": ""});
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("nested success", nested("Success", json!(0), "NEF61H8J60")),
        ("nested failed", nested("Failed", json!(1), "")),
        ("nested lowercase", nested("failed", json!(1037), "")),
        ("flat success", serde_json::to_vec(&flat_ok).unwrap()),
        ("flat failed", serde_json::to_vec(&flat_failed).unwrap()),
    ];
    let open = offline(None);
    let mut events = Vec::new();
    for (name, body) in &bodies {
        let event = open
            .parse_callback(&CallbackRequest::new(body.clone()))
            .unwrap();
        events.push(json!({"case": name, "event": event}));
    }
    insta::assert_json_snapshot!("callback_events", events);

    // Refused: not JSON, no status, no identifier.
    for bad in [
        &b"ok"[..],
        b"[]",
        b"{}",
        br#"{"response":{"Status":"Success"}}"#,
        br#"{"response":{"CheckoutRequestID":"x"}}"#,
    ] {
        let err = open
            .parse_callback(&CallbackRequest::new(bad.to_vec()))
            .unwrap_err();
        assert_eq!(
            err.kind(),
            "invalid_callback",
            "{}",
            String::from_utf8_lossy(bad)
        );
    }

    // With a token: required in the query, compared exactly.
    let guarded = offline(Some("cb-secret"));
    let body = nested("Success", json!(0), "NEF61H8J60");
    let at = |target: &str| CallbackRequest::new(body.clone()).path_and_query(target);
    assert!(
        guarded
            .parse_callback(&at("/mpesa/lipia?token=cb-secret"))
            .is_ok()
    );
    assert!(
        guarded
            .parse_callback(&at("/mpesa/lipia?a=1&token=cb-secret"))
            .is_ok()
    );
    for target in [
        "/mpesa/lipia",
        "/mpesa/lipia?token=cb-secre",
        "/mpesa/lipia?token=",
        "/mpesa/lipia/cb-secret",
    ] {
        let err = guarded.parse_callback(&at(target)).unwrap_err();
        assert_eq!(err.kind(), "invalid_callback", "{target}");
        assert!(!err.to_string().contains("cb-secret"));
    }
    let err = guarded
        .parse_callback(&CallbackRequest::new(body))
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_callback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_envelopes_for_auth_validation_and_unknown_references() {
    let h = common::Harness::start(LipiaCallbackShape::Nested).await;
    let client = reqwest::Client::new();
    let base = h.emulator.base_url().to_owned();
    let push = |body: Value, key: Option<&str>| {
        let mut r = client.post(format!("{base}/payments/stk-push")).json(&body);
        if let Some(key) = key {
            r = r.bearer_auth(key);
        }
        r.send()
    };
    let key = Some(h.emulator.api_key());
    let mut lines = Vec::new();
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        (
            "no key",
            json!({"phone_number": "0712345678", "amount": 1}),
            None,
        ),
        (
            "wrong key",
            json!({"phone_number": "0712345678", "amount": 1}),
            Some("nope"),
        ),
        (
            "amount 0",
            json!({"phone_number": "0712345678", "amount": 0}),
            key,
        ),
        (
            "amount 1.5",
            json!({"phone_number": "0712345678", "amount": 1.5}),
            key,
        ),
        ("no phone", json!({"amount": 10}), key),
        (
            "telkom",
            json!({"phone_number": "0771234567", "amount": 10}),
            key,
        ),
        (
            "metadata list",
            json!({"phone_number": "0712345678", "amount": 10, "metadata": [1]}),
            key,
        ),
        (
            "scripted reject",
            json!({"phone_number": "0700000008", "amount": 10}),
            key,
        ),
        (
            "scripted outage",
            json!({"phone_number": "0700000009", "amount": 10}),
            key,
        ),
    ];
    for (name, body, key) in cases {
        let r = push(body, key).await.unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["success"], json!(false), "{name}");
        lines.push(format!(
            "{name:<16} {status} {} {}",
            v["error"]["code"].as_str().unwrap(),
            v["error"]
                .get("field")
                .map_or(String::new(), |f| format!("field={f}"))
        ));
    }
    for (name, url) in [
        (
            "unknown ref",
            format!("{base}/payments/status?reference=ffffffffffffffffffffffff"),
        ),
        ("no ref", format!("{base}/payments/status")),
        ("unknown route", format!("{base}/payments/nope")),
    ] {
        let r = client
            .get(url)
            .bearer_auth(h.emulator.api_key())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        lines.push(format!(
            "{name:<16} {status} {}",
            v["error"]["code"].as_str().unwrap()
        ));
    }
    insta::assert_snapshot!(lines.join("\n"));
    // Numeric external references are accepted and echoed.
    let r = push(
        json!({"phone_number": "254712345678", "amount": "5", "external_reference": 12345}),
        key,
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["ResponseCode"], json!(0));
    let reference = v["data"]["TransactionReference"].as_str().unwrap();
    let status: Value = client
        .get(format!("{base}/payments/status?reference={reference}"))
        .bearer_auth(h.emulator.api_key())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        status["data"]["response"]["ExternalReference"],
        json!(12345)
    );
    assert_eq!(status["data"]["response"]["Status"], json!("PENDING"));
    assert_eq!(status["data"]["status"], json!(false));
    assert_eq!(h.emulator.ledger().charges_for_reference("12345").len(), 1);
    h.emulator.shutdown().await;
}

#[test]
fn repeated_json_keys_are_refused_not_guessed() {
    // Which of two `TransactionReference`s is the payment? Nobody can tell: outcome unknown.
    let answer = r#"{"success":true,"data":{"TransactionReference":"aaa","ResponseCode":0,"TransactionReference":"bbb"}}"#;
    let err = connector().push_response(&raw(200, answer)).unwrap_err();
    assert_eq!(err.kind(), "outcome_unknown", "{err}");
    // A callback claiming two amounts is not a callback.
    let callback = br#"{"response":{"Amount":1,"Amount":150000,"ExternalReference":"R","CheckoutRequestID":"ws_CO_1","Status":"Success","ResultCode":0}}"#;
    let err = connector()
        .parse_callback(&stk_core::CallbackRequest::new(callback.to_vec()))
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_callback", "{err}");
}
