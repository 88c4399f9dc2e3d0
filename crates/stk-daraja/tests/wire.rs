//! Wire payloads and error mappings (insta snapshots): the push and query bodies with their
//! one-clock-read `Password`/`Timestamp`, the checks made before sending, Daraja's error
//! bodies (from the mapping and from the emulator), callbacks, tokens, the IP allowlist and
//! the acknowledgement.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use stk_core::{CallbackRequest, CallbackUrl, Error, PaymentId, StkProvider, StkPushRequest};
use stk_daraja::{
    CALLBACK_ACK, Daraja, DarajaConfig, DarajaConfigBuilder, SAFARICOM_CALLBACK_IPS,
    SANDBOX_PASSKEY, TokenPlacement,
};
use stk_emulator::Endpoint;
use stk_http::{Connector, RawResponse};

fn builder() -> DarajaConfigBuilder {
    DarajaConfig::builder()
        .consumer_key("ck")
        .consumer_secret("cs")
        .callback_url(CallbackUrl::parse("https://shop.example/mpesa/daraja").unwrap())
}

fn connector() -> DarajaConfig {
    builder().build().unwrap()
}

/// A body as JSON, its `Timestamp` and `Password` checked (EAT digits; base64 of shortcode +
/// passkey + that timestamp) and replaced by placeholders.
fn checked(body: impl serde::Serialize, passkey: &str) -> Value {
    let mut v = serde_json::to_value(body).unwrap();
    let timestamp = v["Timestamp"].as_str().unwrap().to_owned();
    assert_eq!(timestamp.len(), 14);
    assert!(timestamp.bytes().all(|b| b.is_ascii_digit()));
    let decoded = STANDARD.decode(v["Password"].as_str().unwrap()).unwrap();
    let shortcode = v["BusinessShortCode"].as_str().unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        format!("{shortcode}{passkey}{timestamp}")
    );
    v["Timestamp"] = json!("[timestamp]");
    v["Password"] = json!("[base64(shortcode + passkey + timestamp)]");
    v
}

#[test]
fn push_bodies() {
    let full = StkPushRequest::builder()
        .phone("0712 345 678")
        .amount(1500)
        .reference("ORDER-1001")
        .description("Two mandazi")
        .build()
        .unwrap();
    let minimal = StkPushRequest::builder()
        .phone("+254112345678")
        .amount(1)
        .reference("R1")
        .callback_url("https://shop.example/other")
        .build()
        .unwrap();
    let query_token = builder().callback_token("cb-secret").build().unwrap();
    insta::assert_json_snapshot!(
        "push_body_paybill_query_token",
        checked(query_token.push_body(&full).unwrap(), SANDBOX_PASSKEY)
    );
    let till = builder()
        .environment(stk_daraja::Environment::Production)
        .shortcode("600100")
        .passkey("live-passkey")
        .till("5123456")
        .callback_token("cb-secret")
        .callback_token_in(TokenPlacement::Path)
        .build()
        .unwrap();
    insta::assert_json_snapshot!(
        "push_body_till_path_token_own_callback",
        checked(till.push_body(&minimal).unwrap(), "live-passkey")
    );
    let stk_http::Request::PostJson(query) = connector().status_request(&PaymentId::new("ws_CO_1"))
    else {
        panic!("the query is a POST")
    };
    insta::assert_json_snapshot!("query_body", checked(query, SANDBOX_PASSKEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daraja_rules_are_checked_before_anything_is_sent() {
    let h = common::Harness::start().await;
    let provider = h.provider();
    let no_callback = Daraja::new(
        DarajaConfig::builder()
            .consumer_key(h.emulator.consumer_key())
            .consumer_secret(h.emulator.consumer_secret())
            .base_url(h.emulator.base_url())
            .build()
            .unwrap(),
    )
    .unwrap();
    let request = |reference: &str, description: Option<&str>| {
        let mut b = StkPushRequest::builder()
            .phone("0712345678")
            .amount(10)
            .reference(reference);
        if let Some(d) = description {
            b = b.description(d);
        }
        b.build().unwrap()
    };
    let mut lines = Vec::new();
    for (case, provider, request) in [
        ("reference of 13", &provider, request("ORDER-1234567", None)),
        (
            "description of 14",
            &provider,
            request("ORDER-1", Some("Fourteen chars")),
        ),
        ("no callback URL", &no_callback, request("ORDER-1", None)),
    ] {
        let err = provider.initiate(&request).await.unwrap_err();
        assert_eq!(err.kind(), "invalid_request", "{case}: {err}");
        lines.push(format!("{case}: {err}"));
    }
    // Not even a token was requested.
    assert!(h.emulator.ledger().requests().is_empty());
    // At the limits: 12 and 13 characters go through.
    provider
        .initiate(&request("ORDER-123456", Some("Thirteen char")))
        .await
        .unwrap();
    insta::assert_snapshot!("refused_before_sending", lines.join("\n"));
    h.emulator.shutdown().await;
}

fn raw(status: u16, body: &str) -> RawResponse {
    RawResponse::new(status, Some(Duration::from_secs(30)), body)
}

fn shown<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Ok(v) => format!("ok: {v:?}"),
        Err(e) => format!("{} | {e}", e.kind()),
    }
}

#[test]
fn error_mappings() {
    let c = connector();
    let id = PaymentId::new("ws_CO_191220191020363925");
    let err = |code: &str, message: &str| {
        format!(
            r#"{{"requestId":"16813-1590513-1","errorCode":"{code}","errorMessage":"{message}"}}"#
        )
    };
    let accepted = r#"{"MerchantRequestID":"68444-143235050-2","CheckoutRequestID":"ws_CO_22112022152650652748458100","ResponseCode":"0","ResponseDescription":"Success. Request accepted for processing","CustomerMessage":"Success. Request accepted for processing"}"#;
    let push_cases: Vec<(&str, u16, String)> = vec![
        ("accepted", 200, accepted.to_owned()),
        ("accepted, ResponseCode as a number", 200, accepted.replace(r#""0""#, "0")),
        ("ResponseCode 1", 200, accepted.replace(r#""ResponseCode":"0","ResponseDescription":"Success. Request accepted for processing""#, r#""ResponseCode":"1","ResponseDescription":"Unable to process the request""#)),
        ("2xx without CheckoutRequestID", 200, r#"{"ResponseCode":"0"}"#.to_owned()),
        ("2xx without ResponseCode", 200, r#"{"CheckoutRequestID":"ws_CO_1"}"#.to_owned()),
        ("2xx garbage", 200, "<html>".to_owned()),
        ("invalid phone", 400, err("400.002.02", "Bad Request - Invalid PhoneNumber")),
        ("invalid access token (after the one refresh)", 404, err("404.001.03", "Invalid Access Token")),
        ("401.002.01", 401, err("401.002.01", "Error Occurred - Invalid Access Token")),
        ("invalid authentication header", 404, err("404.001.04", "Invalid Authentication Header")),
        ("wrong credentials", 500, err("500.001.1001", "Wrong credentials")),
        ("unable to lock subscriber", 500, err("500.001.1001", "Unable to lock subscriber, a transaction is already in process for the current subscriber")),
        ("500.001.1001 other", 500, err("500.001.1001", "System busy")),
        ("internal server error", 500, err("500.003.1001", "Internal Server Error")),
        ("another 4xx code", 400, err("400.003.01", "Bad Request - Invalid Initiator")),
        ("404 without a code (wrong base URL)", 404, "Not Found".to_owned()),
        ("429", 429, err("429.001.01", "Too many requests")),
        ("503 HTML", 503, "<html>down</html>".to_owned()),
        ("302", 302, String::new()),
    ];
    let mut lines = Vec::new();
    for (case, status, body) in &push_cases {
        lines.push(format!(
            "initiate {case} (HTTP {status}) => {}",
            shown(c.push_response(&raw(*status, body)))
        ));
    }
    let result = |code: &str, desc: &str| {
        format!(
            r#"{{"ResponseCode":"0","ResponseDescription":"The service request has been accepted successsfully","MerchantRequestID":"22205-34066-1","CheckoutRequestID":"ws_CO_191220191020363925","ResultCode":"{code}","ResultDesc":"{desc}"}}"#
        )
    };
    let status_cases: Vec<(&str, u16, String)> = vec![
        (
            "being processed",
            500,
            err("500.001.1001", "The transaction is being processed"),
        ),
        (
            "paid",
            200,
            result("0", "The service request is processed successfully."),
        ),
        (
            "cancelled",
            200,
            result("1032", "Request cancelled by user"),
        ),
        (
            "timeout",
            200,
            result("1037", "DS timeout user cannot be reached"),
        ),
        (
            "insufficient funds",
            200,
            result("1", "The balance is insufficient for the transaction"),
        ),
        (
            "wrong PIN",
            200,
            result("2001", "The initiator information is invalid."),
        ),
        ("expired", 200, result("1019", "Transaction has expired")),
        (
            "still under processing",
            200,
            result("4999", "The transaction is still under processing"),
        ),
        ("non-numeric code", 200, result("SFC_IC0003", "Rejected")),
        (
            "ResultCode as a number",
            200,
            result("0", "ok").replace(r#""ResultCode":"0""#, r#""ResultCode":0"#),
        ),
        (
            "about another payment",
            200,
            result("0", "ok").replace("ws_CO_191220191020363925", "ws_CO_OTHER"),
        ),
        (
            "2xx without ResultCode",
            200,
            r#"{"ResponseCode":"0"}"#.to_owned(),
        ),
        (
            "unknown CheckoutRequestID",
            400,
            err("400.002.02", "Bad Request - Invalid CheckoutRequestID"),
        ),
        (
            "wrong credentials",
            500,
            err("500.001.1001", "Wrong credentials"),
        ),
        (
            "invalid access token",
            404,
            err("404.001.03", "Invalid Access Token"),
        ),
        (
            "bare 500",
            500,
            r#"{"requestId":"x","errorMessage":"The transaction is being processed"}"#.to_owned(),
        ),
        ("404 without a code", 404, String::new()),
    ];
    for (case, status, body) in &status_cases {
        lines.push(format!(
            "status {case} (HTTP {status}) => {}",
            shown(c.status_response(&id, &raw(*status, body)))
        ));
    }
    insta::assert_snapshot!("error_mappings", lines.join("\n"));
}

#[test]
fn callbacks() {
    let c = connector();
    let success = r#"{"Body":{"stkCallback":{"MerchantRequestID":"677-6442255-1","CheckoutRequestID":"ws_CO_110520202014057155","ResultCode":0,"ResultDesc":"The service request is processed successfully.","CallbackMetadata":{"Item":[{"Name":"Amount","Value":1.0},{"Name":"MpesaReceiptNumber","Value":"OEB44R5U3U"},{"Name":"Balance"},{"Name":"TransactionDate","Value":20200511201419},{"Name":"PhoneNumber","Value":254794721438}]}}}}"#;
    let cancelled = r#"{"Body":{"stkCallback":{"MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"ws_CO_191220191020363925","ResultCode":1032,"ResultDesc":"Request cancelled by user"}}}"#;
    let cases: Vec<(&str, String)> = vec![
        ("documented success", success.to_owned()),
        ("cancelled, no metadata", cancelled.to_owned()),
        ("ResultCode as text", cancelled.replace("1032", r#""1032""#)),
        ("integer Amount, Balance null, items reordered", r#"{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_2","ResultCode":0,"ResultDesc":"ok","CallbackMetadata":{"Item":[{"Name":"PhoneNumber","Value":254712345678},{"Name":"Balance","Value":null},{"Name":"MpesaReceiptNumber","Value":"QKL1234567"},{"Name":"Amount","Value":150000},{"Name":"TransactionDate","Value":20240115103000}]}}}}"#.to_owned()),
        ("fractional Amount is refused", success.replace("1.0", "1.5")),
        ("malformed items skipped", r#"{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_3","ResultCode":0,"CallbackMetadata":{"Item":[{"Value":1},"x",{"Name":"MpesaReceiptNumber","Value":"QKL7654321"}]}}}}"#.to_owned()),
        ("metadata of the wrong shape is refused", r#"{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_4","ResultCode":0,"CallbackMetadata":[1,2]}}}"#.to_owned()),
        ("an item named twice is refused", r#"{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_5","ResultCode":0,"CallbackMetadata":{"Item":[{"Name":"Amount","Value":1},{"Name":"Amount","Value":150000}]}}}}"#.to_owned()),
        ("expired", cancelled.replace("1032", "1019").replace("Request cancelled by user", "Transaction has expired")),
        ("no CheckoutRequestID", r#"{"Body":{"stkCallback":{"ResultCode":0}}}"#.to_owned()),
        ("no ResultCode", r#"{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_5"}}}"#.to_owned()),
        ("not Daraja's shape", r#"{"response":{"ResultCode":0}}"#.to_owned()),
        ("not JSON", "ResultCode=0".to_owned()),
    ];
    let mut out = serde_json::Map::new();
    for (case, body) in cases {
        let value = match c.parse_callback(&CallbackRequest::new(body.into_bytes())) {
            Ok(event) => serde_json::to_value(event).unwrap(),
            Err(e) => json!({"error": e.kind(), "message": e.to_string()}),
        };
        out.insert(case.to_owned(), value);
    }
    insta::assert_json_snapshot!("callback_events", Value::Object(out));
}

#[test]
fn callback_tokens_and_addresses() {
    let body = br#"{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":1032,"ResultDesc":"Request cancelled by user"}}}"#.to_vec();
    let at = |target: Option<&str>| {
        let cb = CallbackRequest::new(body.clone());
        match target {
            Some(t) => cb.path_and_query(t),
            None => cb,
        }
    };
    let query = builder().callback_token("s3cret").build().unwrap();
    assert!(query.parse_callback(&at(Some("/cb?token=s3cret"))).is_ok());
    for target in [Some("/cb?token=guess"), Some("/cb"), None] {
        let err = query.parse_callback(&at(target)).unwrap_err();
        assert_eq!(err.kind(), "invalid_callback", "{target:?}");
        assert!(!err.to_string().contains("s3cret"));
    }
    let path = builder()
        .callback_token("s3 cret")
        .callback_token_in(TokenPlacement::Path)
        .build()
        .unwrap();
    assert!(path.parse_callback(&at(Some("/cb/s3%20cret"))).is_ok());
    assert!(path.parse_callback(&at(Some("/cb/s3%20cret/?x=1"))).is_ok());
    for target in [
        Some("/cb/guess"),
        Some("/cb?token=s3%20cret"),
        Some("/s3%20cret/cb"),
        None,
    ] {
        let err = path.parse_callback(&at(target)).unwrap_err();
        assert_eq!(err.kind(), "invalid_callback", "{target:?}");
    }
    // Without a token, anything parses: confirm by query.
    assert!(connector().parse_callback(&at(None)).is_ok());

    // The allowlist needs the peer address, which CallbackRequest does not carry.
    let open = connector();
    assert!(
        open.verify_callback_peer("10.0.0.1".parse().unwrap())
            .is_ok()
    );
    let guarded = builder()
        .callback_allowlist(SAFARICOM_CALLBACK_IPS)
        .build()
        .unwrap();
    assert!(
        guarded
            .verify_callback_peer("196.201.214.200".parse().unwrap())
            .is_ok()
    );
    assert!(
        guarded
            .verify_callback_peer("::ffff:196.201.213.44".parse().unwrap())
            .is_ok()
    );
    let err = guarded
        .verify_callback_peer("203.0.113.9".parse().unwrap())
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_callback");
    let own = builder()
        .callback_allowlist(["203.0.113.9".parse().unwrap()])
        .build()
        .unwrap();
    assert!(
        own.verify_callback_peer("203.0.113.9".parse().unwrap())
            .is_ok()
    );
    assert!(stk_daraja::is_safaricom_callback_ip(
        "196.201.212.74".parse().unwrap()
    ));

    assert_eq!(open.callback_ack(), CALLBACK_ACK);
    assert_eq!(
        (
            CALLBACK_ACK.status,
            CALLBACK_ACK.content_type,
            CALLBACK_ACK.body
        ),
        (
            200,
            "application/json",
            r#"{"ResultCode":0,"ResultDesc":"Accepted"}"#
        )
    );
}

/// Replaces the values that vary per run (generated ids, tokens, dates) in an emulator answer.
fn stable(mut v: Value) -> Value {
    for key in [
        "requestId",
        "access_token",
        "MerchantRequestID",
        "CheckoutRequestID",
    ] {
        if let Some(field) = v.get_mut(key) {
            *field = json!(format!("[{key}]"));
        }
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_answers_as_documented() {
    let h = common::Harness::start().await;
    let base = h.emulator.base_url().to_owned();
    let http = reqwest::Client::new();
    let basic =
        |key: &str, secret: &str| format!("Basic {}", STANDARD.encode(format!("{key}:{secret}")));
    let good = basic(h.emulator.consumer_key(), h.emulator.consumer_secret());
    let get_token = |grant: &'static str, auth: String| {
        let http = http.clone();
        let url = format!("{base}/oauth/v1/generate?grant_type={grant}");
        async move {
            let r = http
                .get(url)
                .header("authorization", auth)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let mut answers = serde_json::Map::new();
    let (status, token) = get_token("client_credentials", good.clone()).await;
    assert_eq!(status, 200);
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    answers.insert("token".into(), json!([status, stable(token)]));
    let (status, v) = get_token("password", good.clone()).await;
    answers.insert("token, wrong grant_type".into(), json!([status, stable(v)]));
    let (status, v) = get_token("client_credentials", basic("ck", "wrong")).await;
    answers.insert(
        "token, wrong consumer secret".into(),
        json!([status, stable(v)]),
    );

    let now = std::time::SystemTime::now();
    let timestamp = stk_daraja::timestamp(now);
    let password = STANDARD.encode(format!("174379{SANDBOX_PASSKEY}{timestamp}"));
    let push = json!({
        "BusinessShortCode": "174379", "Password": password, "Timestamp": timestamp,
        "TransactionType": "CustomerPayBillOnline", "Amount": 1, "PartyA": "254712345678",
        "PartyB": "174379", "PhoneNumber": "254712345678", "CallBackURL": h.callback_url,
        "AccountReference": "ORDER-1", "TransactionDesc": "Payment"
    });
    let post = |path: &'static str, auth: Option<String>, body: Value| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let mut r = http.post(url).json(&body);
            if let Some(a) = auth {
                r = r.header("authorization", a);
            }
            let r = r.send().await.unwrap();
            (
                r.status().as_u16(),
                stable(r.json::<Value>().await.unwrap()),
            )
        }
    };
    const PUSH: &str = "/mpesa/stkpush/v1/processrequest";
    const QUERY: &str = "/mpesa/stkpushquery/v1/query";
    let with = |field: &str, value: Value| {
        let mut b = push.clone();
        b[field] = value;
        b
    };
    let with_phone = |phone: &str| {
        let mut b = with("PhoneNumber", json!(phone));
        b["PartyA"] = json!(phone);
        b
    };
    let cases: Vec<(&str, Option<String>, Value)> = vec![
        ("push, no Authorization", None, push.clone()),
        (
            "push, unknown token",
            Some("Bearer nope".into()),
            push.clone(),
        ),
        (
            "push, wrong Password",
            Some(bearer.clone()),
            with("Password", json!("bm9wZQ==")),
        ),
        (
            "push, wrong shortcode",
            Some(bearer.clone()),
            with("BusinessShortCode", json!("600000")),
        ),
        (
            "push, local phone form",
            Some(bearer.clone()),
            with("PhoneNumber", json!("0712345678")),
        ),
        (
            "push, AccountReference of 13",
            Some(bearer.clone()),
            with("AccountReference", json!("ORDER-1234567")),
        ),
        (
            "push, fractional Amount",
            Some(bearer.clone()),
            with("Amount", json!(1.5)),
        ),
        (
            "push, PartyB not the shortcode",
            Some(bearer.clone()),
            with("PartyB", json!("5123456")),
        ),
        (
            "push, unknown TransactionType",
            Some(bearer.clone()),
            with("TransactionType", json!("CustomerPayBill")),
        ),
        (
            "push, scripted refusal",
            Some(bearer.clone()),
            with_phone("254700000008"),
        ),
        (
            "push, scripted outage",
            Some(bearer.clone()),
            with_phone("254700000009"),
        ),
        (
            "push, TransactionDesc of 20 (accepted, fails later)",
            Some(bearer.clone()),
            with("TransactionDesc", json!("Payment for order 12")),
        ),
        ("push", Some(bearer.clone()), push.clone()),
    ];
    for (case, auth, body) in cases {
        let (status, v) = post(PUSH, auth, body).await;
        answers.insert(case.into(), json!([status, v]));
    }
    let charges = h.emulator.ledger().charges();
    assert_eq!(charges.len(), 2);
    let (overlong, accepted) = (charges[0].id.clone(), charges[1].id.clone());
    let query = |id: &str| json!({"BusinessShortCode": "174379", "Password": password, "Timestamp": timestamp, "CheckoutRequestID": id});
    let (status, v) = post(QUERY, Some(bearer.clone()), query(&accepted)).await;
    answers.insert("query, pending".into(), json!([status, v]));
    let (status, v) = post(QUERY, Some(bearer.clone()), query("ws_CO_NOPE")).await;
    answers.insert(
        "query, unknown CheckoutRequestID".into(),
        json!([status, v]),
    );
    let callback = h.wait_callback(&PaymentId::new(&accepted)).await.unwrap();
    assert_eq!(
        callback.path_and_query.as_deref(),
        Some(common::CALLBACK_PATH)
    );
    let (status, v) = post(QUERY, Some(bearer.clone()), query(&accepted)).await;
    answers.insert("query, paid".into(), json!([status, v]));
    h.wait_callback(&PaymentId::new(&overlong)).await.unwrap();
    let (status, v) = post(QUERY, Some(bearer.clone()), query(&overlong)).await;
    answers.insert(
        "query, the overlong TransactionDesc".into(),
        json!([status, v]),
    );
    let mut body: Value = serde_json::from_slice(&callback.body).unwrap();
    let cb = &mut body["Body"]["stkCallback"];
    cb["MerchantRequestID"] = json!("[MerchantRequestID]");
    cb["CheckoutRequestID"] = json!("[CheckoutRequestID]");
    for item in cb["CallbackMetadata"]["Item"].as_array_mut().unwrap() {
        match item["Name"].as_str().unwrap() {
            "MpesaReceiptNumber" => item["Value"] = json!("[receipt]"),
            "TransactionDate" => {
                assert!(item["Value"].as_u64().unwrap() > 20_240_000_000_000);
                item["Value"] = json!("[EAT YYYYMMDDHHmmss, integer]");
            }
            _ => {}
        }
    }
    answers.insert("callback, paid".into(), body);
    assert_eq!(h.emulator.ledger().requests_to(Endpoint::Token).len(), 3);
    insta::assert_json_snapshot!("emulator_answers", Value::Object(answers));
    h.emulator.shutdown().await;
}
