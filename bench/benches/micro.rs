//! Micro benchmarks, ns per operation (criterion): phone and amount parsing next to naive
//! baselines, and per provider the pure steps of the adapter: push body built and
//! serialized, push and status answers mapped, a callback verified and parsed.
//!
//! `cargo bench -p stk-bench --bench micro` (about a minute); `-- --test` runs each once.
//! Results: `target/criterion/<group>/<bench>/new/estimates.json`. Nothing asserts a timing.
#![allow(missing_docs, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use stk_core::{Amount, CallbackRequest, CallbackUrl, PaymentId, PhoneNumber, StkPushRequest};
use stk_daraja::DarajaConfig;
use stk_http::{Connector, RawResponse};
use stk_kulmipay::{KulmiPayConfig, SIGNATURE_HEADER, sign};
use stk_lipia::LipiaConfig;
use stk_upesipay::UpesiPayConfig;

/// A mix of forms, valid and not.
const PHONES: &[&str] = &[
    "0712345678",
    "+254 712 345 678",
    "254712345678",
    "0112-345-678",
    "0812345678",
    "hello",
];

const AMOUNTS: &[&str] = &["100", "1,500", "150000", "250.00", "1.5", "0", "-5", "ten"];

/// The callback secret every config verifies with.
const SECRET: &str = "bench-callback-secret";

/// Baseline: keep digits, turn a leading 0 into 254 (no validation, allocates).
fn baseline_phone(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(char::is_ascii_digit).collect();
    let out = match digits.strip_prefix('0') {
        Some(rest) => format!("254{rest}"),
        None => digits,
    };
    (out.len() == 12).then_some(out)
}

/// Baseline: amounts through a float, as many SDKs do.
fn baseline_amount(input: &str) -> Option<u64> {
    let v: f64 = input.trim().parse().ok()?;
    (v >= 1.0 && v.fract() == 0.0).then_some(v as u64)
}

/// Benchmarks `f` over `inputs`, one input per iteration (cycling), so the time is per call.
fn each<T>(c: &mut Criterion, group: &str, name: &str, inputs: &[&str], f: impl Fn(&str) -> T) {
    let mut i = 0;
    c.benchmark_group(group).bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % inputs.len();
            f(black_box(inputs[i]))
        });
    });
}

fn parsing(c: &mut Criterion) {
    each(c, "phone", "parse", PHONES, |s| PhoneNumber::parse(s).ok());
    each(c, "phone", "baseline", PHONES, baseline_phone);
    each(c, "amount", "parse", AMOUNTS, |s| s.parse::<Amount>().ok());
    each(c, "amount", "baseline", AMOUNTS, baseline_amount);
}

/// The push every adapter builds (as `bench/src/providers.rs`).
fn request() -> StkPushRequest {
    StkPushRequest::builder()
        .phone("0712345678")
        .amount(100)
        .reference("ORDER1001")
        .description("Order 1001")
        .build()
        .expect("a valid request")
}

fn callback_url() -> CallbackUrl {
    CallbackUrl::parse("https://shop.example/stk/callback").expect("a valid URL")
}

/// One adapter's documented samples.
struct Samples<C> {
    config: C,
    push_answer: &'static str,
    status_id: &'static str,
    status_answer: &'static str,
    callback: CallbackRequest,
}

/// Benchmarks one adapter's steps, after checking each succeeds on its sample.
fn adapter<C: Connector>(c: &mut Criterion, s: Samples<C>) {
    let request = request();
    let push = RawResponse::new(200, None, s.push_answer);
    let id = PaymentId::new(s.status_id);
    let status = RawResponse::new(200, None, s.status_answer);
    let name = C::NAME;
    let body = s.config.push_body(&request).expect("push body");
    serde_json::to_vec(&body).expect("serializable");
    s.config.push_response(&push).expect("push answer maps");
    let done = s.config.status_response(&id, &status).expect("status maps");
    assert!(
        done.status.is_final(),
        "{name}: the status sample is not final"
    );
    let event = s
        .config
        .parse_callback(&s.callback)
        .expect("callback verifies");
    assert!(event.status.is_final(), "{name}: the callback is not final");

    let mut group = c.benchmark_group(name);
    group.bench_function("push_body", |b| {
        b.iter(|| {
            s.config
                .push_body(black_box(&request))
                .map(|body| serde_json::to_vec(&body))
        });
    });
    group.bench_function("push_response", |b| {
        b.iter(|| s.config.push_response(black_box(&push)));
    });
    group.bench_function("status_response", |b| {
        b.iter(|| s.config.status_response(&id, black_box(&status)));
    });
    group.bench_function("callback", |b| {
        b.iter(|| s.config.parse_callback(black_box(&s.callback)));
    });
    group.finish();
}

fn kulmipay(c: &mut Criterion) {
    let config = KulmiPayConfig::builder()
        .secret_key("ISSecretKey_test_bench")
        .webhook_challenge(SECRET)
        .build()
        .expect("config");
    let body = format!(
        r#"{{"invoice_id":"GQ7KZ2XPNM","state":"COMPLETE","provider":"M-PESA","charges":"0.00","net_amount":"100.00","currency":"KES","value":"100.00","account":"254712345678","api_ref":"ORDER1001","clearing_status":"AVAILABLE","mpesa_reference":"RKT123ABC","host":"x","retry_count":0,"failed_reason":null,"failed_code":null,"failed_code_link":null,"created_at":"2024-01-15T10:30:00Z","updated_at":"2024-01-15T10:31:00Z","challenge":"{SECRET}"}}"#
    )
    .into_bytes();
    // The challenge in the body and the HMAC signature header: both checked.
    let callback = CallbackRequest::new(body.clone())
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, sign(SECRET, &body));
    adapter(
        c,
        Samples {
            config,
            push_answer: r#"{"id":"3c90c3cc-0d44-4b50-8888-8dd25736052a","invoice":{"invoice_id":"GQ7KZ2XPNM","state":"PENDING","provider":"M-PESA","charges":"0.00","net_amount":"100.00","currency":"KES","value":"100.00","account":"254712345678","api_ref":"ORDER1001","host":"https://example.com","failed_reason":null,"failed_code":null,"created_at":"2024-01-15T10:30:00Z","updated_at":"2024-01-15T10:30:00Z"},"customer":{"customer_id":"7VX9QY","phone_number":"254712345678","email":null,"first_name":null,"last_name":null,"country":null}}"#,
            status_id: "GQ7KZ2XPNM",
            status_answer: r#"{"invoice":{"invoice_id":"GQ7KZ2XPNM","state":"COMPLETE","provider":"M-PESA","charges":"0.00","net_amount":"100.00","currency":"KES","value":"100.00","account":"254712345678","api_ref":"ORDER1001","mpesa_reference":"RKT123ABC","failed_reason":null,"failed_code":null,"created_at":"2024-01-15T10:30:00Z","updated_at":"2024-01-15T10:31:00Z"},"meta":{}}"#,
            callback,
        },
    );
}

fn upesipay(c: &mut Criterion) {
    let config = UpesiPayConfig::builder()
        .api_token("bench-token")
        .channel_id(1)
        .callback_url(callback_url())
        .callback_token(SECRET)
        .build()
        .expect("config");
    let body = r#"{"forward_url":"","response":{"Amount":100,"CheckoutRequestID":"ws_CO_02012026164321519708344109","ExternalReference":"ORDER1001","MerchantRequestID":"3202-70921557-1","MpesaReceiptNumber":"SAE3YULR0Y","Phone":"+254712345678","ResultCode":0,"ResultDesc":"The service request is processed successfully.","Status":"Success"},"status":true}"#;
    adapter(
        c,
        Samples {
            config,
            push_answer: r#"{"success":true,"status":"QUEUED","reference":"E8UWT7CLUW","CheckoutRequestID":"ws_CO_02012026164321519708344109"}"#,
            status_id: "E8UWT7CLUW",
            status_answer: r#"{"transaction_date":"2026-01-02T08:41:14Z","provider":"m-pesa","success":true,"merchant":"Ron Doe","payment_reference":"","third_party_reference":"SKQ96C7K7H","status":"SUCCESS","reference":"E8UWT7CLUW","CheckoutRequestID":"ws_CO_02012026164321519708344109","provider_reference":"SKQ96C7K7H"}"#,
            callback: CallbackRequest::new(body.as_bytes().to_vec())
                .header("content-type", "application/json")
                .path_and_query(format!("/stk/callback?token={SECRET}")),
        },
    );
}

fn lipia(c: &mut Criterion) {
    let config = LipiaConfig::builder()
        .api_key("bench-key")
        .callback_url(callback_url())
        .callback_token(SECRET)
        .build()
        .expect("config");
    let body = r#"{"response":{"Amount":100,"ExternalReference":"ORDER1001","MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"ws_CO_191220191020363925","MpesaReceiptNumber":"NEF61H8J60","Phone":"254712345678","ResultCode":0,"ResultDesc":"The service request is processed successfully.","Metadata":{},"Status":"Success"},"status":true}"#;
    adapter(
        c,
        Samples {
            config,
            push_answer: r#"{"success":true,"status":"success","message":"STK push initiated successfully","customerMessage":"STK push initiated successfully","data":{"TransactionReference":"64f1a2b3c4d5e6f7g8h9i0j1","ResponseCode":0,"ResponseDescription":"Success. Request accepted for processing"},"timestamp":"2024-01-15T10:30:00.000Z"}"#,
            status_id: "64f1a2b3c4d5e6f7g8h9i0j1",
            status_answer: r#"{"success":true,"message":"Transaction status retrieved","customerMessage":"Transaction status retrieved","data":{"response":{"Amount":100,"ExternalReference":"ORDER1001","MerchantRequestID":"29115-34620561-1","MpesaReceiptNumber":"NEF61H8J60","Phone":"254712345678","ResultCode":0,"ResultDesc":"The service request is processed successfully.","Metadata":{},"Status":"SUCCESS","TransactionDate":"2024-01-15T10:31:00Z"},"status":true}}"#,
            callback: CallbackRequest::new(body.as_bytes().to_vec())
                .header("content-type", "application/json")
                .path_and_query(format!("/stk/callback?token={SECRET}")),
        },
    );
}

fn daraja(c: &mut Criterion) {
    let config = DarajaConfig::builder()
        .consumer_key("bench-consumer-key")
        .consumer_secret("bench-consumer-secret")
        .shortcode("174379")
        .passkey("bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919")
        .callback_url(callback_url())
        .callback_token(SECRET)
        .build()
        .expect("config");
    let body = r#"{"Body":{"stkCallback":{"MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"ws_CO_191220191020363925","ResultCode":0,"ResultDesc":"The service request is processed successfully.","CallbackMetadata":{"Item":[{"Name":"Amount","Value":100.00},{"Name":"MpesaReceiptNumber","Value":"NLJ7RT61SV"},{"Name":"TransactionDate","Value":20191219102115},{"Name":"PhoneNumber","Value":254712345678}]}}}}"#;
    adapter(
        c,
        Samples {
            config,
            push_answer: r#"{"MerchantRequestID":"68444-143235050-2","CheckoutRequestID":"ws_CO_22112022152650652748458100","ResponseCode":"0","ResponseDescription":"Success. Request accepted for processing","CustomerMessage":"Success. Request accepted for processing"}"#,
            status_id: "ws_CO_191220191020363925",
            status_answer: r#"{"ResponseCode":"0","ResponseDescription":"The service request has been accepted successsfully","MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"ws_CO_191220191020363925","ResultCode":"0","ResultDesc":"The service request is processed successfully."}"#,
            callback: CallbackRequest::new(body.as_bytes().to_vec())
                .header("content-type", "application/json")
                .path_and_query(format!("/stk/callback?token={SECRET}")),
        },
    );
}

criterion_group! {
    name = micro;
    // 20 benchmarks in about a minute; command-line flags override.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = parsing, kulmipay, upesipay, lipia, daraja
}
criterion_main!(micro);
