//! The UpesiPay emulator on its own, over raw HTTP: auth, validation errors, the documented
//! answers, status lookups, callbacks, the abuse protection, and the ledger.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use stk_emulator::{Endpoint, UpesiPayAbuseRules, UpesiPayEmulator, UpesiPayEmulatorConfig};

async fn send(req: reqwest::RequestBuilder) -> (u16, Option<String>, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().await.unwrap();
    (
        status,
        retry,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn push(
    emu: &UpesiPayEmulator,
    auth: Option<&str>,
    body: Value,
) -> (u16, Option<String>, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/payments", emu.base_url()))
        .json(&body);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    send(req).await
}

async fn status(emu: &UpesiPayEmulator, reference: &str) -> (u16, Value) {
    let (code, _, body) = send(
        reqwest::Client::new()
            .get(
                reqwest::Url::parse_with_params(
                    &format!("{}/transaction-status", emu.base_url()),
                    &[("reference", reference)],
                )
                .unwrap(),
            )
            .header("authorization", format!("Basic {}", emu.token())),
    )
    .await;
    (code, body)
}

fn valid(phone: &str) -> Value {
    json!({"amount": 100, "phone_number": phone, "channel_id": 2133, "provider": "m-pesa", "external_reference": "INV-009"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_validation_and_answers() {
    let emu = UpesiPayEmulator::start(UpesiPayEmulatorConfig::default().delay(Duration::ZERO))
        .await
        .unwrap();
    let auth = format!("Basic {}", emu.token());
    let (code, _, body) = push(&emu, None, valid("0712345678")).await;
    assert_eq!(code, 401);
    assert!(body["error_message"].is_string());
    let (code, _, body) = push(&emu, Some("Basic nope"), valid("0712345678")).await;
    assert_eq!(
        (code, body),
        (
            401,
            json!({"error_message": "Invalid authentication token."})
        )
    );
    let (code, _, _) = push(
        &emu,
        Some(&format!("Bearer {}", emu.token())),
        valid("0712345678"),
    )
    .await;
    assert_eq!(code, 401);

    let cases = [
        (
            json!({"phone_number": "0712345678", "channel_id": 2133, "provider": "m-pesa"}),
            "The amount field is required.",
        ),
        (
            json!({"amount": "100", "phone_number": "0712345678", "channel_id": 2133, "provider": "m-pesa"}),
            "The amount must be an integer.",
        ),
        (
            json!({"amount": 10.5, "phone_number": "0712345678", "channel_id": 2133, "provider": "m-pesa"}),
            "The amount must be an integer.",
        ),
        (
            json!({"amount": 0, "phone_number": "0712345678", "channel_id": 2133, "provider": "m-pesa"}),
            "The amount must be at least 1.",
        ),
        (
            json!({"amount": 150001, "phone_number": "0712345678", "channel_id": 2133, "provider": "m-pesa"}),
            "The amount may not be greater than 150000.",
        ),
        (
            json!({"amount": 100, "channel_id": 2133, "provider": "m-pesa"}),
            "The phone number field is required.",
        ),
        (
            json!({"amount": 100, "phone_number": "0812345678", "channel_id": 2133, "provider": "m-pesa"}),
            "The phone number is not a valid Kenyan mobile number.",
        ),
        (
            json!({"amount": 100, "phone_number": "0712345678", "provider": "m-pesa"}),
            "The channel id field is required.",
        ),
        (
            json!({"amount": 100, "phone_number": "0712345678", "channel_id": "2133", "provider": "m-pesa"}),
            "The channel id must be an integer.",
        ),
        (
            json!({"amount": 100, "phone_number": "0712345678", "channel_id": 1, "provider": "m-pesa"}),
            "The selected channel id is invalid.",
        ),
        (
            json!({"amount": 100, "phone_number": "0712345678", "channel_id": 2133}),
            "The provider field is required.",
        ),
        (
            json!({"amount": 100, "phone_number": "0712345678", "channel_id": 2133, "provider": "sasapay"}),
            "The selected provider is invalid. Use 'm-pesa'.",
        ),
        (
            json!({"amount": 100, "phone_number": "0712345678", "channel_id": 2133, "provider": "m-pesa", "callback_url": 5}),
            "The callback_url must be a string.",
        ),
        (
            json!({"amount": 100, "phone_number": "0700000008", "channel_id": 2133, "provider": "m-pesa"}),
            "The phone number is not registered for M-PESA.",
        ),
        (json!([1, 2]), "Invalid request"),
    ];
    for (body, message) in cases {
        let (code, _, answer) = push(&emu, Some(&auth), body.clone()).await;
        assert_eq!(
            (code, answer),
            (400, json!({"error_message": message})),
            "{body}"
        );
    }
    let (code, _, answer) = push(&emu, Some(&auth), valid("0700000009")).await;
    assert_eq!(code, 503, "{answer}");
    assert!(emu.ledger().charges().is_empty());

    // The documented 201 answer; the local and international forms both work.
    let (code, _, answer) = push(&emu, Some(&auth), valid("0712345678")).await;
    assert_eq!(code, 201);
    assert_eq!(answer["success"], json!(true));
    assert_eq!(answer["status"], json!("QUEUED"));
    let reference = answer["reference"].as_str().unwrap().to_owned();
    assert_eq!(reference.len(), 10);
    assert!(
        reference
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    );
    let checkout = answer["CheckoutRequestID"].as_str().unwrap().to_owned();
    assert!(checkout.starts_with("ws_CO_") && checkout[6..].chars().all(|c| c.is_ascii_digit()));
    let (code, _, _) = push(&emu, Some(&auth), valid("254712345678")).await;
    assert_eq!(code, 201);

    // Status by reference, CheckoutRequestID and receipt; 404 for unknown ones.
    let (code, by_ref) = status(&emu, &reference).await;
    assert_eq!(code, 200);
    for key in [
        "transaction_date",
        "provider",
        "success",
        "merchant",
        "payment_reference",
        "third_party_reference",
        "status",
        "reference",
        "CheckoutRequestID",
        "provider_reference",
    ] {
        assert!(by_ref.get(key).is_some(), "{key} missing from {by_ref}");
    }
    assert_eq!(by_ref["status"], json!("SUCCESS"));
    assert_eq!(by_ref["payment_reference"], json!("INV-009"));
    let receipt = by_ref["provider_reference"].as_str().unwrap().to_owned();
    assert_eq!(status(&emu, &checkout).await, (200, by_ref.clone()));
    let (code, by_receipt) = status(&emu, &receipt).await;
    assert_eq!((code, &by_receipt["reference"]), (200, &json!(reference)));
    let (code, body) = status(&emu, "NOPE").await;
    assert_eq!(
        (code, body),
        (404, json!({"error_message": "Transaction not found."}))
    );
    let (code, _, _) = send(
        reqwest::Client::new()
            .get(format!("{}/transaction-status", emu.base_url()))
            .header("authorization", &auth),
    )
    .await;
    assert_eq!(code, 400);
    let (code, _, _) = send(reqwest::Client::new().get(format!(
        "{}/transaction-status?reference={reference}",
        emu.base_url()
    )))
    .await;
    assert_eq!(code, 401);

    // The ledger classifies and redacts.
    assert_eq!(emu.ledger().charges().len(), 2);
    assert!(emu.ledger().requests_to(Endpoint::Status).len() >= 5);
    for r in emu.ledger().requests() {
        if let Some(a) = r.header("authorization") {
            assert_eq!(a, "[redacted]");
        }
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_use_the_documented_envelope() {
    let received: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |uri: axum::http::Uri, body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap();
                sink.lock().unwrap().push((uri.to_string(), v));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let emu = UpesiPayEmulator::start(UpesiPayEmulatorConfig::default())
        .await
        .unwrap();
    let auth = format!("Basic {}", emu.token());
    let mut refs = Vec::new();
    for phone in ["0712345678", "0700000001"] {
        let mut body = valid(phone);
        body["callback_url"] = json!(format!("http://{addr}/cb?token=abc"));
        let (code, _, answer) = push(&emu, Some(&auth), body).await;
        assert_eq!(code, 201);
        refs.push(answer["CheckoutRequestID"].as_str().unwrap().to_owned());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while received.lock().unwrap().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "callbacks not delivered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = received.lock().unwrap().clone();
    let find = |checkout: &str| {
        got.iter()
            .find(|(_, v)| v["response"]["CheckoutRequestID"] == checkout)
            .cloned()
            .unwrap()
    };
    let (uri, ok) = find(&refs[0]);
    assert_eq!(uri, "/cb?token=abc");
    assert_eq!(ok["forward_url"], json!(""));
    assert_eq!(ok["status"], json!(true));
    let r = &ok["response"];
    assert_eq!(r["Status"], json!("Success"));
    assert_eq!(r["ResultCode"], json!(0));
    assert_eq!(r["Amount"], json!(100));
    assert_eq!(r["ExternalReference"], json!("INV-009"));
    assert_eq!(r["Phone"], json!("+254712345678"));
    assert_eq!(r["MpesaReceiptNumber"].as_str().unwrap().len(), 10);
    assert!(r["MerchantRequestID"].is_string());
    assert!(r["ResultDesc"].is_string());
    let (_, failed) = find(&refs[1]);
    assert_eq!(failed["status"], json!(false));
    assert_eq!(failed["response"]["Status"], json!("Failed"));
    assert_eq!(failed["response"]["ResultCode"], json!(1032));
    assert_eq!(failed["response"]["MpesaReceiptNumber"], json!(""));
    // The ledger records a delivery once the receiver's answer is back, just after the
    // receiver saw the body: wait for it rather than race it.
    while emu.ledger().webhooks().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "deliveries not recorded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let deliveries = emu.ledger().webhooks();
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    assert!(
        deliveries
            .iter()
            .all(|d| d.attempt == 1 && d.status == Some(200))
    );
    // `callback_for` shows the same body as delivered.
    let reference = emu.ledger().charges()[0].id.clone();
    let cb = emu.callback_for(&reference).unwrap();
    assert_eq!(cb.path_and_query.as_deref(), Some("/cb?token=abc"));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_twelfth_push_to_a_number_after_eleven_failures_is_refused_with_403() {
    let emu = UpesiPayEmulator::start(UpesiPayEmulatorConfig::default().delay(Duration::ZERO))
        .await
        .unwrap();
    let auth = format!("Basic {}", emu.token());
    for n in 0..11 {
        let (code, _, answer) = push(&emu, Some(&auth), valid("0700000001")).await;
        assert_eq!(code, 201, "push {n}: {answer}");
    }
    let (code, retry, answer) = push(&emu, Some(&auth), valid("0700000001")).await;
    assert_eq!(code, 403);
    let message = answer["error_message"].as_str().unwrap();
    assert!(message.starts_with("STK Abuse Protection"), "{message}");
    assert!(
        !message.contains("0700000001"),
        "numbers are masked: {message}"
    );
    let retry: u64 = retry.unwrap().parse().unwrap();
    assert!(retry > 23 * 3600 && retry <= 24 * 3600);
    assert_eq!(emu.ledger().charges().len(), 11);
    // Another number is fine; the block clears after 24 h on the emulator's clock.
    assert_eq!(push(&emu, Some(&auth), valid("0712345678")).await.0, 201);
    emu.advance_clock(Duration::from_secs(24 * 3600));
    assert_eq!(push(&emu, Some(&auth), valid("0700000001")).await.0, 201);

    // Disabled rules never block.
    let open = UpesiPayEmulator::start(
        UpesiPayEmulatorConfig::default()
            .delay(Duration::ZERO)
            .abuse_rules(UpesiPayAbuseRules::disabled()),
    )
    .await
    .unwrap();
    let auth = format!("Basic {}", open.token());
    for _ in 0..13 {
        assert_eq!(push(&open, Some(&auth), valid("0700000001")).await.0, 201);
    }
    emu.shutdown().await;
    open.shutdown().await;
}
