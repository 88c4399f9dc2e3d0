//! What each adapter's status answer proves about whose payment it is: the merchant reference
//! and phone it names ([`stk_core::StatusReport`]), from the providers' documented answers.
//! The tracker lets an id that only a callback supplied pay an order only when these name the
//! order; an answer naming another order, amount or phone is an anomaly.
#![allow(missing_docs, clippy::unwrap_used)]

use serde_json::{Value, json};
use stk_core::PaymentId;
use stk_http::{Connector, RawResponse};

fn report<C: Connector>(connector: &C, body: &str) -> Value {
    let id = PaymentId::new("ID-1");
    match connector.status_response(&id, &RawResponse::new(200, None, body.to_owned())) {
        Ok(report) => serde_json::to_value(report).unwrap(),
        Err(e) => json!({ "error": e.kind().as_str() }),
    }
}

#[test]
fn status_answers_name_the_order() {
    let kulmipay = stk_kulmipay::KulmiPayConfig::builder()
        .secret_key("ISSecretKey_test_x")
        .build()
        .unwrap();
    let upesipay = stk_upesipay::UpesiPayConfig::builder()
        .api_token("t")
        .channel_id(1)
        .build()
        .unwrap();
    let lipia = stk_lipia::LipiaConfig::builder()
        .api_key("k")
        .build()
        .unwrap();
    let daraja = stk_daraja::DarajaConfig::builder()
        .consumer_key("key")
        .consumer_secret("secret")
        .build()
        .unwrap();
    let reports = json!({
        // KulmiPay's invoice: `api_ref` is the order, `account` the phone.
        "kulmipay completed": report(&kulmipay, r#"{"invoice":{"invoice_id":"GQ7KZ2XPNM","state":"COMPLETE","provider":"M-PESA","charges":"3.00","net_amount":"97.00","value":"100.00","account":"254712345678","api_ref":"ORDER-1001","mpesa_reference":"RKT123ABC","updated_at":"2026-01-02T08:41:14Z"},"meta":{"customer":{"phone_number":"254712345678"}}}"#),
        "kulmipay failed": report(&kulmipay, r#"{"invoice":{"invoice_id":"GQ7KZ2XPNM","state":"FAILED","value":"100.00","account":" 0712 345 678 ","api_ref":"ORDER-1001","failed_code":"1032","failed_reason":"Request cancelled by user"}}"#),
        "kulmipay without them": report(&kulmipay, r#"{"invoice":{"invoice_id":"GQ7KZ2XPNM","state":"PROCESSING","account":"","api_ref":null}}"#),
        // Lipia's `data.response`: `ExternalReference` and `Phone`.
        "lipia completed": report(&lipia, r#"{"success":true,"data":{"response":{"Amount":100,"ExternalReference":"ORDER-1001","MerchantRequestID":"29115-1","CheckoutRequestID":"ws_CO_1","MpesaReceiptNumber":"NEF61H8J60","Phone":"254712345678","ResultCode":0,"ResultDesc":"ok","Status":"Success","TransactionDate":"2026-01-02T08:41:14Z"},"status":true}}"#),
        "lipia pending, masked phone": report(&lipia, r#"{"success":true,"data":{"response":{"Status":"PENDING","ResultCode":0,"ExternalReference":"ORDER-1001","Phone":"0712***678"},"status":false}}"#),
        // UpesiPay's answer names no order (`payment_reference` is undocumented and blank in
        // the docs' sample) and no phone.
        "upesipay documented sample": report(&upesipay, r#"{"transaction_date":"2026-01-02T08:41:14Z","provider":"m-pesa","success":true,"merchant":"Ron Doe","payment_reference":"","third_party_reference":"SKQ96C7K7H","status":"SUCCESS","reference":"6b71cb8b-1","CheckoutRequestID":"","provider_reference":"SKQ96C7K7H"}"#),
        // Daraja's query answer names nothing but the CheckoutRequestID.
        "daraja completed": report(&daraja, r#"{"ResponseCode":"0","ResponseDescription":"The service request has been accepted successsfully","MerchantRequestID":"1-2-3","CheckoutRequestID":"ID-1","ResultCode":"0","ResultDesc":"The service request is processed successfully."}"#),
    });
    insta::assert_json_snapshot!(reports);
}
