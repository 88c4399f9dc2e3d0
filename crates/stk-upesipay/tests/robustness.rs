//! Nothing from outside panics: arbitrary bytes and JSON into the response parsers and the
//! callback parser.
#![allow(clippy::unwrap_used)]

use std::sync::LazyLock;
use std::time::Duration;
use stk_http::Connector;

use proptest::prelude::*;
use serde_json::{Value, json};
use stk_core::{CallbackRequest, PaymentId, StkProvider};
use stk_http::RawResponse;
use stk_upesipay::{UpesiPay, UpesiPayConfig};

fn connector() -> UpesiPayConfig {
    UpesiPayConfig::builder()
        .api_token("t")
        .channel_id(1)
        .build()
        .unwrap()
}

/// Providers with and without a callback token, built once (building an HTTP client is
/// not cheap).
static PROVIDERS: LazyLock<[UpesiPay; 2]> = LazyLock::new(|| [provider(true), provider(false)]);

fn provider(token: bool) -> UpesiPay {
    let mut b = UpesiPayConfig::builder().api_token("t").channel_id(1);
    if token {
        b = b.callback_token("secret");
    }
    UpesiPay::new(b.build().unwrap()).unwrap()
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,16}".prop_map(Value::String),
        prop_oneof![
            Just("0"),
            Just("1032"),
            Just("SUCCESS"),
            Just("FAILED"),
            Just("QUEUED"),
            Just("Success"),
            Just("Failed"),
            Just("cancelled"),
            Just("")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("status".to_owned()),
                    Just("response".to_owned()),
                    Just("ResultCode".to_owned()),
                    Just("Status".to_owned()),
                    Just("reference".to_owned()),
                    Just("CheckoutRequestID".to_owned()),
                    Just("ExternalReference".to_owned()),
                    Just("MpesaReceiptNumber".to_owned()),
                    Just("Amount".to_owned()),
                    Just("error_message".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A callback-shaped envelope with arbitrary field values.
fn envelope() -> impl Strategy<Value = Value> {
    (
        json_value(),
        json_value(),
        json_value(),
        json_value(),
        json_value(),
        json_value(),
    )
        .prop_map(|(code, status, word, checkout, amount, receipt)| {
            json!({
                "forward_url": "",
                "response": {
                    "Amount": amount, "CheckoutRequestID": checkout, "ExternalReference": "X",
                    "MpesaReceiptNumber": receipt, "ResultCode": code, "Status": word,
                },
                "status": status,
            })
        })
}

proptest! {
    #[test]
    fn push_and_status_answers_never_panic(
        status in 100u16..600,
        after in proptest::option::of(0u64..100_000),
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let raw = RawResponse::new(status, after.map(Duration::from_secs), body);
        let pushed = connector().push_response(&raw);
        if raw.is_success() {
            // A 2xx answer is accepted, refused explicitly, or of unknown outcome: never
            // something that invites a blind retry.
            if let Err(e) = &pushed {
                prop_assert!(matches!(e.kind().as_str(), "outcome_unknown" | "rejected"), "{e}");
            }
        }
        let _ = connector().status_response(&PaymentId::new("X"), &raw);
            }

    #[test]
    fn json_answers_never_panic(status in prop_oneof![Just(200u16), Just(201), Just(400), Just(403), Just(404)], value in json_value()) {
        let raw = RawResponse::new(status, None, serde_json::to_vec(&value).unwrap());
        let _ = connector().push_response(&raw);
        if let Ok(s) = connector().status_response(&PaymentId::new("X"), &raw) {
            let _ = (s.status.to_string(), format!("{s:?}"));
        }
    }

    #[test]
    fn callbacks_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512), target in "\\PC{0,40}") {
        for p in PROVIDERS.iter() {
            let cb = CallbackRequest::new(body.clone()).path_and_query(target.clone());
            if let Err(e) = p.parse_callback(&cb) {
                prop_assert_eq!(e.kind(), "invalid_callback");
            }
        }
    }

    #[test]
    fn structured_callbacks_never_panic(value in prop_oneof![json_value(), envelope()]) {
        let body = serde_json::to_vec(&value).unwrap();
        match connector().parse_callback(&CallbackRequest::new(body.clone())) {
            Ok(event) => {
                prop_assert!(event.status.is_final());
                prop_assert!(event.checkout_request_id.is_some() || event.merchant_reference.is_some());
            }
            Err(e) => prop_assert_eq!(e.kind(), "invalid_callback"),
        }
        let cb = CallbackRequest::new(body).path_and_query("/cb?token=secret");
        let _ = PROVIDERS[0].parse_callback(&cb);
    }
}
