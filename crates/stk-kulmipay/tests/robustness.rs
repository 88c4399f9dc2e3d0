//! Property tests: arbitrary bytes and arbitrary JSON never panic the response parsers or
//! `parse_callback`; signed and challenged callbacks verify.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Value, json};
use stk_core::{CallbackRequest, PaymentId, PaymentStatus, StkProvider};
use stk_http::Connector;

/// A provider answer as the HTTP layer hands it over.
fn raw(status: u16, retry_after: Option<&str>, body: &[u8]) -> stk_http::RawResponse {
    stk_http::RawResponse::new(
        status,
        retry_after.and_then(stk_http::parse_retry_after),
        body,
    )
}
use stk_kulmipay::{
    ApiGeneration, KulmiPay, KulmiPayConfig, SIGNATURE_HEADER, SIGNATURE_HEADER_SPACED, sign,
};

fn connector(api: ApiGeneration) -> KulmiPayConfig {
    KulmiPayConfig::builder()
        .api(api)
        .secret_key("ISSecretKey_test_x")
        .api_token("t")
        .build()
        .unwrap()
}

fn provider(challenge: Option<&str>) -> KulmiPay {
    let mut b = KulmiPayConfig::builder().secret_key("ISSecretKey_test_x");
    if let Some(c) = challenge {
        b = b.webhook_challenge(c);
    }
    KulmiPay::new(b.build().unwrap()).unwrap()
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".*".prop_map(Value::from),
        prop_oneof![
            Just("PENDING"),
            Just("PROCESSING"),
            Just("COMPLETE"),
            Just("FAILED"),
            Just("invoice_id"),
            Just("1032"),
            Just("")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("invoice".to_owned()),
            Just("invoice_id".to_owned()),
            Just("id".to_owned()),
            Just("state".to_owned()),
            Just("failed_code".to_owned()),
            Just("failed_reason".to_owned()),
            Just("mpesa_reference".to_owned()),
            Just("challenge".to_owned()),
            Just("value".to_owned()),
            Just("detail".to_owned()),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn statuses() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(200u16),
        Just(201),
        Just(400),
        Just(401),
        Just(404),
        Just(429),
        Just(500),
        100u16..600
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn parsers_never_panic_on_bytes(body in prop::collection::vec(any::<u8>(), 0..512), status in statuses(), retry in proptest::option::of(".{0,12}")) {
        let id = PaymentId::new("X");
        let _ = connector(ApiGeneration::Express).push_response(&raw(status, retry.as_deref(), &body));
        let _ = connector(ApiGeneration::Collection).push_response(&raw(status, retry.as_deref(), &body));
        let _ = connector(ApiGeneration::Express).status_response(&id, &raw(status, retry.as_deref(), &body));
        let p = provider(Some("c"));
        let err = p.parse_callback(&CallbackRequest::new(body.clone()).header(SIGNATURE_HEADER, "zz")).unwrap_err();
        prop_assert_eq!(err.kind(), "invalid_callback");
        let _ = provider(None).parse_callback(&CallbackRequest::new(body));
    }

    #[test]
    fn parsers_never_panic_on_json(value in arb_json(), status in statuses()) {
        let body = serde_json::to_vec(&value).unwrap();
        let id = PaymentId::new("X");
        for api in [ApiGeneration::Express, ApiGeneration::Collection] {
            if let Err(e) = connector(api).push_response(&raw(status, None, &body)) {
                // A 2xx answer we cannot read means the charge may exist.
                if (200..300).contains(&status) {
                    prop_assert_eq!(e.kind(), "outcome_unknown");
                }
            }
        }
        let _ = connector(ApiGeneration::Express).status_response(&id, &raw(status, None, &body));
        let _ = provider(Some("c")).parse_callback(&CallbackRequest::new(body.clone()));
        let _ = provider(None).parse_callback(&CallbackRequest::new(body));
    }

    #[test]
    fn unknown_states_are_never_final(state in "[A-Z_]{0,12}") {
        prop_assume!(!["COMPLETE", "COMPLETED", "FAILED"].contains(&state.as_str()));
        let body = json!({"invoice": {"invoice_id": "X", "state": state}});
        let status = connector(ApiGeneration::Express).status_response(&PaymentId::new("X"), &raw(200, None, &serde_json::to_vec(&body).unwrap())).unwrap();
        prop_assert!(!status.status.is_final());
    }
}

fn event_body(challenge: Option<&str>, state: &str) -> Vec<u8> {
    let mut v = json!({
        "invoice_id": "GQ7KZ2XPNM", "state": state, "provider": "M-PESA", "charges": "33.00",
        "net_amount": "1467.00", "currency": "KES", "value": "1500.00", "account": "254712345678",
        "api_ref": "ORDER-1001", "clearing_status": "AVAILABLE", "mpesa_reference": "RKT123ABC",
        "host": "x", "retry_count": 0, "failed_reason": null, "failed_code": null,
        "failed_code_link": null, "created_at": "2024-01-15T10:30:00Z", "updated_at": "2024-01-15T10:31:00Z"
    });
    if let Some(c) = challenge {
        v["challenge"] = json!(c);
    }
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn callbacks_verify_challenge_and_signature() {
    let p = provider(Some("secret"));
    let body = event_body(Some("secret"), "COMPLETE");
    let event = p
        .parse_callback(&CallbackRequest::new(body.clone()))
        .unwrap();
    assert_eq!(event.payment_id, Some(PaymentId::new("GQ7KZ2XPNM")));
    assert_eq!(event.merchant_reference.as_deref(), Some("ORDER-1001"));
    let PaymentStatus::Completed(done) = &event.status else {
        panic!("{event:?}")
    };
    assert_eq!(done.receipt.as_deref(), Some("RKT123ABC"));
    assert_eq!(done.net_amount.as_deref(), Some("1467.00"));

    // Signed, under either header spelling.
    for header in [
        SIGNATURE_HEADER,
        SIGNATURE_HEADER_SPACED,
        "x-kulmipay-signature",
    ] {
        let cb = CallbackRequest::new(body.clone()).header(header, sign("secret", &body));
        assert!(p.parse_callback(&cb).is_ok(), "{header}");
        let bad = CallbackRequest::new(body.clone()).header(header, sign("other", &body));
        assert_eq!(
            p.parse_callback(&bad).unwrap_err().kind(),
            "invalid_callback"
        );
    }
    // Missing or wrong challenge.
    for body in [
        event_body(None, "COMPLETE"),
        event_body(Some("secreT"), "COMPLETE"),
        event_body(Some(""), "FAILED"),
    ] {
        assert_eq!(
            p.parse_callback(&CallbackRequest::new(body))
                .unwrap_err()
                .kind(),
            "invalid_callback"
        );
    }
    // Without a configured challenge nothing can be verified, but parsing works.
    assert!(
        provider(None)
            .parse_callback(&CallbackRequest::new(event_body(None, "PROCESSING")))
            .is_ok()
    );
    // No id or no state.
    let no_id = serde_json::to_vec(&json!({"state": "COMPLETE", "challenge": "secret"})).unwrap();
    assert_eq!(
        p.parse_callback(&CallbackRequest::new(no_id))
            .unwrap_err()
            .kind(),
        "invalid_callback"
    );
}
