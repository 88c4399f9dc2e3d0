//! Nothing from outside panics the adapter: arbitrary bytes and arbitrary JSON into every
//! response parser and into `parse_callback`. Secrets never show in `Debug` or errors.
#![allow(clippy::unwrap_used)]

use std::sync::LazyLock;
use stk_http::Connector;

use proptest::prelude::*;
use serde_json::{Value, json};
use stk_core::{CallbackRequest, CallbackUrl, Error, PaymentId, PaymentStatus, StkProvider};
use stk_http::RawResponse;
use stk_lipia::{Lipia, LipiaConfig};

fn connector() -> LipiaConfig {
    LipiaConfig::builder().api_key("k").build().unwrap()
}

const KEY: &str = "lipia-live-key-0123456789";
const TOKEN: &str = "callback-token-s3cret";

/// Building a provider builds an HTTP client (TLS roots): do it once per flavour.
fn provider(token: bool) -> &'static Lipia {
    static OPEN: LazyLock<Lipia> = LazyLock::new(|| build(false));
    static GUARDED: LazyLock<Lipia> = LazyLock::new(|| build(true));
    if token { &GUARDED } else { &OPEN }
}

fn build(token: bool) -> Lipia {
    let mut b = LipiaConfig::builder()
        .api_key(KEY)
        .callback_url(CallbackUrl::parse("https://shop.example/cb").unwrap());
    if token {
        b = b.callback_token(TOKEN);
    }
    Lipia::new(b.build().unwrap()).unwrap()
}

/// Arbitrary JSON, biased towards Lipia's field names.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("success".to_owned()),
        Just("status".to_owned()),
        Just("message".to_owned()),
        Just("customerMessage".to_owned()),
        Just("data".to_owned()),
        Just("error".to_owned()),
        Just("code".to_owned()),
        Just("field".to_owned()),
        Just("value".to_owned()),
        Just("response".to_owned()),
        Just("Status".to_owned()),
        Just("ResultCode".to_owned()),
        Just("ResultDesc".to_owned()),
        Just("Amount".to_owned()),
        Just("MpesaReceiptNumber".to_owned()),
        Just("TransactionReference".to_owned()),
        Just("ResponseCode".to_owned()),
        Just("CheckoutRequestID".to_owned()),
        Just("ExternalReference".to_owned()),
        "[a-zA-Z]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just("SUCCESS"),
            Just("Failed"),
            Just("PENDING"),
            Just("0"),
            Just("1032"),
            Just("VALIDATION_ERROR"),
            Just("NOT_FOUND"),
            Just("")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn check_all(status: u16, body: &[u8]) {
    let id = PaymentId::new("64f1a2b3c4d5e6f7a8b9c0d1");
    let response = RawResponse::new(status, None, body.to_vec());
    if let Err(e) = connector().push_response(&response) {
        assert!(!e.kind().as_str().is_empty());
        if (200..300).contains(&status) && e.kind() == "outcome_unknown" {
            assert!(!e.is_retryable());
        }
    }
    match connector()
        .status_response(&id, &response)
        .map(|r| r.status)
    {
        Ok(PaymentStatus::Completed(_) | PaymentStatus::Failed(_) | PaymentStatus::Pending) => {}
        Ok(other) => panic!("Lipia has no {other:?}"),
        Err(e) => assert!(!e.kind().as_str().is_empty()),
    }
    for token in [false, true] {
        let cb = CallbackRequest::new(body.to_vec()).path_and_query("/cb?token=x");
        if let Err(e) = provider(token).parse_callback(&cb) {
            assert_eq!(e.kind(), "invalid_callback");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..256)) {
        check_all(status, &body);
    }

    #[test]
    fn arbitrary_json_never_panics(status in prop_oneof![Just(200u16), Just(201), Just(400), Just(404), 100u16..600], value in json_value()) {
        check_all(status, &serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn nested_json_in_lipia_shapes_never_panics(inner in json_value(), flag in json_value()) {
        for body in [
            json!({"success": true, "data": {"response": inner.clone(), "status": flag.clone()}}),
            json!({"success": true, "data": inner.clone()}),
            json!({"success": false, "error": inner.clone(), "customerMessage": flag.clone()}),
            json!({"response": inner.clone(), "status": flag.clone()}),
        ] {
            check_all(200, &serde_json::to_vec(&body).unwrap());
        }
    }

    #[test]
    fn callback_tokens_must_match_exactly(token in "\\PC{0,30}") {
        let body = serde_json::to_vec(&json!({"response": {"Status": "Success", "ResultCode": 0, "CheckoutRequestID": "ws_CO_1"}, "status": true})).unwrap();
        let mut target = url::Url::parse("https://x.invalid/cb").unwrap();
        target.query_pairs_mut().append_pair("token", &token);
        let cb = CallbackRequest::new(body).path_and_query(format!("/cb?{}", target.query().unwrap()));
        let result = provider(true).parse_callback(&cb);
        prop_assert_eq!(result.is_ok(), token == TOKEN);
    }
}

#[test]
fn secrets_never_in_debug_or_errors() {
    let p = provider(true);
    let shown = format!("{p:?} {:?}", p.config());
    assert!(!shown.contains(KEY), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
    let builder = LipiaConfig::builder().api_key(KEY).callback_token(TOKEN);
    let shown = format!("{builder:?}");
    assert!(!shown.contains(KEY) && !shown.contains(TOKEN), "{shown}");
    // A callback URL that carries the token is shown without its query.
    let config = LipiaConfig::builder()
        .api_key(KEY)
        .callback_url(
            CallbackUrl::parse(&format!("https://shop.example/cb?token={TOKEN}")).unwrap(),
        )
        .build()
        .unwrap();
    assert!(!format!("{config:?}").contains(TOKEN));
    // Config errors name the variable, never the value.
    let err = LipiaConfig::builder()
        .api_key("bad\nkey")
        .build()
        .and_then(Lipia::new)
        .unwrap_err();
    assert_eq!(err.kind(), "config");
    assert!(!err.to_string().contains("bad\nkey"));
    // Callback refusals do not echo the token.
    let cb = CallbackRequest::new(b"{}".to_vec()).path_and_query(format!("/cb?token={TOKEN}x"));
    let err: Error = p.parse_callback(&cb).unwrap_err();
    assert!(!err.to_string().contains(TOKEN));
}
