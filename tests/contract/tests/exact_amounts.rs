//! Amounts a provider reports are whole shillings, read exactly, or the answer is refused:
//! never rounded through a float (`99.99999999999999999` is not 100), never dropped and
//! treated as "no amount" (which the tracker would not compare).
#![allow(missing_docs, clippy::unwrap_used)]

use stk_core::{CallbackRequest, ErrorKind, PaymentId, PaymentStatus};
use stk_daraja::DarajaConfig;
use stk_http::{Connector, RawResponse};
use stk_kulmipay::KulmiPayConfig;
use stk_lipia::LipiaConfig;
use stk_upesipay::UpesiPayConfig;

/// Amounts as they appear in JSON, and the shillings each must read as (`None`: refused).
const CASES: &[(&str, Option<u64>)] = &[
    ("100", Some(100)),
    ("\"100.00\"", Some(100)),
    ("100.0", Some(100)),
    ("99.99999999999999999", None),
    ("100.00000000000000001", None),
    ("100.5", None),
    ("\"100.5\"", None),
    ("\"1,000\"", None),
    ("0", None),
    ("-100", None),
    ("18446744073709551616", None),
];

fn kulmipay() -> KulmiPayConfig {
    KulmiPayConfig::builder()
        .secret_key("ISSecretKey_test_x")
        .build()
        .unwrap()
}

fn upesipay() -> UpesiPayConfig {
    UpesiPayConfig::builder()
        .api_token("t")
        .channel_id(1)
        .build()
        .unwrap()
}

fn lipia() -> LipiaConfig {
    LipiaConfig::builder().api_key("k").build().unwrap()
}

fn daraja() -> DarajaConfig {
    DarajaConfig::builder()
        .consumer_key("key")
        .consumer_secret("secret")
        .shortcode("174379")
        .passkey("passkey")
        .build()
        .unwrap()
}

/// Each adapter's documented callback and status answer, `AMOUNT` where the amount goes.
const KULMIPAY_CALLBACK: &str = r#"{"invoice_id":"GQ7KZ2XPNM","state":"COMPLETE","provider":"M-PESA","value":AMOUNT,"account":"254712345678","api_ref":"ORDER-1001","mpesa_reference":"RKT123ABC"}"#;
const UPESIPAY_CALLBACK: &str = r#"{"forward_url":"","response":{"Amount":AMOUNT,"CheckoutRequestID":"ws_CO_1","ExternalReference":"INV-009","MerchantRequestID":"3202-1","MpesaReceiptNumber":"SAE3YULR0Y","Phone":"+254709099876","ResultCode":0,"ResultDesc":"The service request is processed successfully.","Status":"Success"},"status":true}"#;
const LIPIA_CALLBACK: &str = r#"{"response":{"Amount":AMOUNT,"ExternalReference":"order_123","MerchantRequestID":"29115-1","CheckoutRequestID":"ws_CO_1","MpesaReceiptNumber":"NEF61H8J60","Phone":"254712345678","ResultCode":0,"ResultDesc":"ok","Status":"Success"},"status":true}"#;
const DARAJA_CALLBACK: &str = r#"{"Body":{"stkCallback":{"MerchantRequestID":"1-1","CheckoutRequestID":"ws_CO_1","ResultCode":0,"ResultDesc":"ok","CallbackMetadata":{"Item":[{"Name":"Amount","Value":AMOUNT},{"Name":"MpesaReceiptNumber","Value":"OEB44R5U3U"}]}}}}"#;

const KULMIPAY_STATUS: &str = r#"{"invoice":{"invoice_id":"GQ7KZ2XPNM","state":"COMPLETE","value":AMOUNT,"mpesa_reference":"RKT123ABC"}}"#;
const UPESIPAY_STATUS: &str = r#"{"status":"SUCCESS","reference":"6b71cb8b-1","provider_reference":"SKQ96C7K7H","amount":AMOUNT}"#;
const LIPIA_STATUS: &str = r#"{"success":true,"data":{"response":{"Status":"Success","ResultCode":0,"MpesaReceiptNumber":"NEF61H8J60","Amount":AMOUNT},"status":true}}"#;

fn amount_of(status: &PaymentStatus) -> Option<u64> {
    match status {
        PaymentStatus::Completed(done) => done.amount.map(|a| a.shillings()),
        other => panic!("a completion, not {other:?}"),
    }
}

fn check_callbacks<C: Connector>(name: &str, connector: &C, template: &str) {
    for &(amount, expected) in CASES {
        let body = template.replace("AMOUNT", amount);
        let parsed = connector.parse_callback(&CallbackRequest::new(body.into_bytes()));
        match (parsed, expected) {
            (Ok(event), Some(shillings)) => {
                assert_eq!(amount_of(&event.status), Some(shillings), "{name} {amount}");
            }
            (Err(e), None) => assert_eq!(e.kind(), ErrorKind::InvalidCallback, "{name} {amount}"),
            (other, _) => panic!("{name}: callback amount {amount} gave {other:?}"),
        }
    }
}

fn check_statuses<C: Connector>(name: &str, connector: &C, template: &str) {
    let id = PaymentId::new("GQ7KZ2XPNM");
    for &(amount, expected) in CASES {
        let body = template.replace("AMOUNT", amount);
        let parsed = connector.status_response(&id, &RawResponse::new(200, None, body));
        match (parsed, expected) {
            (Ok(status), Some(shillings)) => {
                assert_eq!(
                    amount_of(&status.status),
                    Some(shillings),
                    "{name} {amount}"
                );
            }
            // Not a status anyone may act on: the tracker asks again later.
            (Err(e), None) => {
                assert_eq!(e.kind(), ErrorKind::UnexpectedResponse, "{name} {amount}")
            }
            (other, _) => panic!("{name}: status amount {amount} gave {other:?}"),
        }
    }
}

#[test]
fn callback_amounts_are_exact_or_refused() {
    check_callbacks("kulmipay", &kulmipay(), KULMIPAY_CALLBACK);
    check_callbacks("upesipay", &upesipay(), UPESIPAY_CALLBACK);
    check_callbacks("lipia", &lipia(), LIPIA_CALLBACK);
    check_callbacks("daraja", &daraja(), DARAJA_CALLBACK);
}

#[test]
fn status_amounts_are_exact_or_refused() {
    check_statuses("kulmipay", &kulmipay(), KULMIPAY_STATUS);
    check_statuses("upesipay", &upesipay(), UPESIPAY_STATUS);
    check_statuses("lipia", &lipia(), LIPIA_STATUS);
}
