//! Nothing from outside panics the adapter: arbitrary bytes and arbitrary JSON into every
//! response parser and into `parse_callback`. Timestamps and passwords hold for any input.
//! Secrets never show in `Debug` or errors.
#![allow(clippy::unwrap_used)]

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use stk_core::{
    CallbackRequest, CallbackUrl, ErrorKind, PaymentId, PaymentStatus, StkProvider, StkPushRequest,
};
use stk_daraja::{Daraja, DarajaConfig, TokenPlacement};
use stk_http::{Connector, RawResponse};

const KEY: &str = "daraja-consumer-key-0123";
const SECRET: &str = "daraja-consumer-secret-4567";
const PASSKEY: &str = "live-passkey-89abcdef";
const TOKEN: &str = "callback-token-s3cret";

fn config(token: Option<TokenPlacement>) -> DarajaConfig {
    let mut b = DarajaConfig::builder()
        .consumer_key(KEY)
        .consumer_secret(SECRET)
        .environment(stk_daraja::Environment::Production)
        .shortcode("600100")
        .passkey(PASSKEY)
        .callback_url(CallbackUrl::parse("https://shop.example/cb").unwrap());
    if let Some(placement) = token {
        b = b.callback_token(TOKEN).callback_token_in(placement);
    }
    b.build().unwrap()
}

/// Building a provider builds an HTTP client (TLS roots): do it once per flavour.
fn provider(token: Option<TokenPlacement>) -> &'static Daraja {
    static OPEN: LazyLock<Daraja> = LazyLock::new(|| Daraja::new(config(None)).unwrap());
    static QUERY: LazyLock<Daraja> =
        LazyLock::new(|| Daraja::new(config(Some(TokenPlacement::Query))).unwrap());
    static PATH: LazyLock<Daraja> =
        LazyLock::new(|| Daraja::new(config(Some(TokenPlacement::Path))).unwrap());
    match token {
        None => &OPEN,
        Some(TokenPlacement::Path) => &PATH,
        Some(_) => &QUERY,
    }
}

/// Arbitrary JSON, biased towards Daraja's field names and values.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("Body".to_owned()),
        Just("stkCallback".to_owned()),
        Just("CallbackMetadata".to_owned()),
        Just("Item".to_owned()),
        Just("Name".to_owned()),
        Just("Value".to_owned()),
        Just("ResultCode".to_owned()),
        Just("ResultDesc".to_owned()),
        Just("ResponseCode".to_owned()),
        Just("CheckoutRequestID".to_owned()),
        Just("MerchantRequestID".to_owned()),
        Just("requestId".to_owned()),
        Just("errorCode".to_owned()),
        Just("errorMessage".to_owned()),
        Just("access_token".to_owned()),
        Just("expires_in".to_owned()),
        "[a-zA-Z]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just("0"),
            Just("1032"),
            Just("4999"),
            Just("500.001.1001"),
            Just("404.001.03"),
            Just("400.002.02"),
            Just("Amount"),
            Just("MpesaReceiptNumber"),
            Just("Balance"),
            Just("ws_CO_1"),
            Just("Wrong credentials"),
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
    let id = PaymentId::new("ws_CO_1");
    let c = provider(None).config();
    let response = RawResponse::new(status, None, body.to_vec());
    if let Err(e) = c.push_response(&response) {
        assert!(!e.kind().as_str().is_empty());
        if (200..300).contains(&status) {
            // A 2xx answer never says "safe to push again".
            assert!(!e.is_retryable(), "{e}");
        }
    }
    match c.status_response(&id, &response).map(|r| r.status) {
        Ok(PaymentStatus::Completed(_) | PaymentStatus::Failed(_) | PaymentStatus::Pending) => {}
        Ok(other) => panic!("Daraja has no {other:?}"),
        Err(e) => assert!(!e.kind().as_str().is_empty()),
    }
    let _ = c.authorization_rejected(stk_core::Operation::Initiate, &response);
    for token in [
        None,
        Some(TokenPlacement::Query),
        Some(TokenPlacement::Path),
    ] {
        let cb = CallbackRequest::new(body.to_vec()).path_and_query("/cb/x?token=x");
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
    fn arbitrary_json_never_panics(status in prop_oneof![Just(200u16), Just(400), Just(404), Just(500), 100u16..600], value in json_value()) {
        check_all(status, &serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn nested_json_in_daraja_shapes_never_panics(inner in json_value(), other in json_value()) {
        for body in [
            json!({"Body": {"stkCallback": inner.clone()}}),
            json!({"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 0, "CallbackMetadata": inner.clone()}}}),
            json!({"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": other.clone(), "CallbackMetadata": {"Item": [inner.clone(), {"Name": "Amount", "Value": other.clone()}]}}}}),
            json!({"requestId": inner.clone(), "errorCode": other.clone(), "errorMessage": inner.clone()}),
            json!({"ResponseCode": other.clone(), "CheckoutRequestID": inner.clone(), "ResultCode": other.clone()}),
        ] {
            for status in [200, 400, 404, 500] {
                check_all(status, &serde_json::to_vec(&body).unwrap());
            }
        }
    }

    #[test]
    fn callback_amounts_are_whole_shillings_or_refused(value in prop_oneof![
        any::<u32>().prop_map(|n| json!(n)),
        "[0-9]{1,6}(\\.[0-9]{0,3})?".prop_map(Value::String),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
    ]) {
        let body = json!({"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 0,
            "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": value.clone()}]}}}});
        let parsed = provider(None).parse_callback(&CallbackRequest::new(serde_json::to_vec(&body).unwrap()));
        let text = value.as_str().map(str::trim);
        // Whole shillings in Amount's grammar: digits, optionally `.0`/`.00`, above zero.
        let whole = value
            .as_u64()
            .or_else(|| value.as_f64().filter(|f| f.fract() == 0.0 && *f < 1e15).map(|f| f as u64))
            .or_else(|| {
                let whole = match text?.split_once('.') {
                    Some((w, f)) if (1..=2).contains(&f.len()) && f.bytes().all(|b| b == b'0') => w,
                    Some(_) => return None,
                    None => text?,
                };
                whole.parse().ok()
            })
            .filter(|&n| n > 0);
        match parsed {
            Ok(event) => {
                let PaymentStatus::Completed(done) = event.status else { panic!("completed") };
                // A whole float of 1e15 or more may be read (exactly) or refused: the oracle
                // above does not decide it, but it is never read as another amount.
                let big_whole = value.as_f64().filter(|f| f.fract() == 0.0 && *f >= 1e15);
                match done.amount {
                    Some(amount) if big_whole.is_some() => {
                        prop_assert_eq!(Some(u128::from(amount.shillings())), big_whole.map(|f| f as u128));
                    }
                    Some(amount) => prop_assert_eq!(Some(amount.shillings()), whole),
                    // Only an absent or blank amount is no amount.
                    None => prop_assert!(value.is_null() || text.is_some_and(str::is_empty)),
                }
            }
            // Refused: never a readable whole amount.
            Err(e) => {
                prop_assert_eq!(e.kind(), ErrorKind::InvalidCallback);
                prop_assert_eq!(whole, None, "{} refused: {}", value, e);
            }
        }
    }

    #[test]
    fn callback_tokens_must_match_exactly(token in "\\PC{0,30}") {
        let body = serde_json::to_vec(&json!({"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 1032}}})).unwrap();
        let mut target = url::Url::parse("https://x.invalid/cb").unwrap();
        target.query_pairs_mut().append_pair("token", &token);
        let cb = CallbackRequest::new(body.clone()).path_and_query(format!("/cb?{}", target.query().unwrap()));
        prop_assert_eq!(provider(Some(TokenPlacement::Query)).parse_callback(&cb).is_ok(), token == TOKEN);
        let mut target = url::Url::parse("https://x.invalid/cb/").unwrap();
        target.path_segments_mut().unwrap().pop_if_empty().push(&token);
        let cb = CallbackRequest::new(body).path_and_query(target.path().to_owned());
        prop_assert_eq!(provider(Some(TokenPlacement::Path)).parse_callback(&cb).is_ok(), token == TOKEN);
    }

    #[test]
    fn timestamps_are_eat_and_ordered(secs in 0u64..8_000_000_000) {
        let at = |s: u64| stk_daraja::timestamp(UNIX_EPOCH + Duration::from_secs(s));
        let t = at(secs);
        prop_assert_eq!(t.len(), 14);
        prop_assert!(t.bytes().all(|b| b.is_ascii_digit()));
        let field = |r: std::ops::Range<usize>| t[r].parse::<u32>().unwrap();
        prop_assert!((1..=12).contains(&field(4..6)));
        prop_assert!((1..=31).contains(&field(6..8)));
        prop_assert!(field(8..10) < 24 && field(10..12) < 60 && field(12..14) < 60);
        prop_assert!(at(secs + 1) > t);
        // UTC+3: UTC midnight is 03:00 in Nairobi, the same day; 21:00 UTC is the next
        // day's midnight.
        let midnight = secs - secs % 86_400;
        prop_assert_eq!(&at(midnight)[8..], "030000");
        prop_assert_eq!(&at(midnight + 21 * 3600)[8..], "000000");
        prop_assert_eq!(&at(midnight + 21 * 3600)[..8], &at(midnight + 86_400)[..8]);
    }

    #[test]
    fn passwords_decode_to_shortcode_passkey_timestamp(passkey in "\\PC{1,64}", secs in 0u64..4_000_000_000) {
        let timestamp = stk_daraja::timestamp(UNIX_EPOCH + Duration::from_secs(secs));
        let password = stk_daraja::password("174379", &passkey, &timestamp);
        let decoded = STANDARD.decode(password.expose_secret()).unwrap();
        prop_assert_eq!(String::from_utf8(decoded).unwrap(), format!("174379{passkey}{timestamp}"));
    }
}

#[test]
fn secrets_never_in_debug_or_errors() {
    let secrets = [KEY, SECRET, PASSKEY, TOKEN];
    let assert_hidden = |shown: &str| {
        for secret in secrets {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    };
    for token in [
        None,
        Some(TokenPlacement::Query),
        Some(TokenPlacement::Path),
    ] {
        let p = provider(token);
        assert_hidden(&format!("{p:?} {:?}", p.config()));
        let request = StkPushRequest::builder()
            .phone("0712345678")
            .amount(10)
            .reference("ORDER-1")
            .build()
            .unwrap();
        let body = p.config().push_body(&request).unwrap();
        let shown = format!("{body:?}");
        assert_hidden(&shown);
        assert!(!shown.contains(body.password.expose_secret()), "{shown}");
        assert!(!shown.contains("254712345678"), "{shown}");
        let stk_http::Request::PostJson(query) =
            p.config().status_request(&PaymentId::new("ws_CO_1"))
        else {
            panic!("POST")
        };
        assert!(!format!("{query:?}").contains(query.password.expose_secret()));
    }
    let builder = DarajaConfig::builder()
        .consumer_key(KEY)
        .consumer_secret(SECRET)
        .passkey(PASSKEY)
        .callback_token(TOKEN);
    assert_hidden(&format!("{builder:?}"));
    // A callback URL that carries the token is shown without its query.
    let config = DarajaConfig::builder()
        .consumer_key(KEY)
        .consumer_secret(SECRET)
        .callback_url(
            CallbackUrl::parse(&format!("https://shop.example/cb?token={TOKEN}")).unwrap(),
        )
        .build()
        .unwrap();
    assert_hidden(&format!("{config:?}"));
    // Config errors name the variable, never the value.
    let err = DarajaConfig::builder()
        .consumer_key(KEY)
        .consumer_secret(SECRET)
        .environment(stk_daraja::Environment::Production)
        .shortcode("60A100")
        .build()
        .unwrap_err();
    assert_hidden(&err.to_string());
    // Callback refusals do not echo the token.
    for placement in [TokenPlacement::Query, TokenPlacement::Path] {
        let cb = CallbackRequest::new(b"{}".to_vec())
            .path_and_query(format!("/cb/{TOKEN}x?token={TOKEN}x"));
        let err = provider(Some(placement)).parse_callback(&cb).unwrap_err();
        assert_hidden(&err.to_string());
    }
}

#[test]
fn body_timestamps_come_from_one_clock_read() {
    // Password and Timestamp always agree, whenever the second turns.
    let c = provider(None).config();
    let request = StkPushRequest::builder()
        .phone("0712345678")
        .amount(10)
        .reference("ORDER-1")
        .build()
        .unwrap();
    let before = stk_daraja::timestamp(SystemTime::now());
    for _ in 0..200 {
        let body = c.push_body(&request).unwrap();
        let decoded = STANDARD.decode(body.password.expose_secret()).unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            format!("600100{PASSKEY}{}", body.timestamp)
        );
        assert!(body.timestamp >= before);
    }
}
