//! Lipia Online's wire format: serde structs mirroring the docs. Lenient on input (every
//! field optional, numbers accepted where strings are documented and vice versa, unknown
//! fields ignored, a `data` of the wrong shape read as absent), exact on output.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stk_core::{Amount, StkPushRequest};
use stk_http::serde_helpers::{lenient, loose_bool, loose_string, whole_shillings};

use crate::{LipiaConfig, TOKEN_PARAM};

/// The body of `POST /payments/stk-push`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PushBody {
    /// `254XXXXXXXXX` (Lipia accepts every Kenyan form; the international one is sent).
    pub phone_number: String,
    /// Whole shillings, at least 1.
    pub amount: u64,
    /// The merchant reference.
    pub external_reference: String,
    /// Where Lipia POSTs the result, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// The request's metadata, plus its description under `description`; omitted if empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

impl PushBody {
    /// The body a push for `request` sends under `config`.
    pub(crate) fn new(config: &LipiaConfig, request: &StkPushRequest) -> Self {
        let mut metadata: BTreeMap<String, String> = request
            .metadata()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        if let Some(description) = request.description() {
            metadata
                .entry("description".to_owned())
                .or_insert_with(|| description.as_str().to_owned());
        }
        Self {
            phone_number: request.phone().international(),
            amount: request.amount().shillings(),
            external_reference: request.reference().as_str().to_owned(),
            callback_url: config
                .callback
                .url_for(request)
                .map(|url| config.callback.with_query_token(url, TOKEN_PARAM)),
            metadata: (!metadata.is_empty()).then_some(metadata),
        }
    }
}

/// Lipia's envelope: `{success, status, message, customerMessage, data | error, timestamp}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
#[non_exhaustive]
pub(crate) struct Envelope<T> {
    /// `true` when the call worked (for status queries: the query, not the payment).
    #[serde(default, deserialize_with = "loose_bool")]
    pub success: Option<bool>,
    /// `success` or `error`.
    #[serde(default, deserialize_with = "loose_string")]
    pub status: Option<String>,
    /// A message for developers.
    #[serde(default, deserialize_with = "loose_string")]
    pub message: Option<String>,
    /// A message for the customer.
    #[serde(default, rename = "customerMessage", deserialize_with = "loose_string")]
    pub customer_message: Option<String>,
    /// The payload of a successful call.
    #[serde(default, deserialize_with = "lenient")]
    pub data: Option<T>,
    /// The details of a failed call.
    #[serde(default, deserialize_with = "lenient")]
    pub error: Option<ErrorDetail>,
    /// When Lipia answered.
    #[serde(default, deserialize_with = "loose_string")]
    pub timestamp: Option<String>,
}

impl<T> Envelope<T> {
    /// Whether this is an error envelope (`success: false`, or an `error` object).
    pub(crate) fn is_error(&self) -> bool {
        self.success == Some(false) || self.error.is_some()
    }
}

/// `error` of an error envelope. `field`, `location`, `value` and `expected` come with
/// `VALIDATION_ERROR`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[non_exhaustive]
pub(crate) struct ErrorDetail {
    /// `VALIDATION_ERROR`, `PAYMENT_ERROR`, …
    #[serde(default, deserialize_with = "loose_string")]
    pub code: Option<String>,
    /// The field that failed validation.
    #[serde(default, deserialize_with = "loose_string")]
    pub field: Option<String>,
    /// Where the field was (`body`, `query`).
    #[serde(default, deserialize_with = "loose_string")]
    pub location: Option<String>,
    /// The value sent.
    #[serde(default)]
    pub value: Option<Value>,
    /// What was expected.
    #[serde(default, deserialize_with = "loose_string")]
    pub expected: Option<String>,
}

/// `data` of an accepted push.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
#[allow(non_snake_case)]
pub(crate) struct PushData {
    /// The handle for status queries (24 hex characters).
    #[serde(default, deserialize_with = "loose_string")]
    pub TransactionReference: Option<String>,
    /// M-Pesa's response code (`0` = accepted).
    #[serde(default, deserialize_with = "loose_string")]
    pub ResponseCode: Option<String>,
    /// M-Pesa's response text.
    #[serde(default, deserialize_with = "loose_string")]
    pub ResponseDescription: Option<String>,
    /// M-Pesa's `MerchantRequestID`, which some integrators report.
    #[serde(default, deserialize_with = "loose_string")]
    pub MerchantRequestID: Option<String>,
    /// M-Pesa's `CheckoutRequestID`, which some integrators report.
    #[serde(default, deserialize_with = "loose_string")]
    pub CheckoutRequestID: Option<String>,
}

/// `data` of a status answer: `{response, status}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub(crate) struct StatusData {
    /// The payment.
    #[serde(default, deserialize_with = "lenient")]
    pub response: Option<PaymentRecord>,
    /// Whether the payment succeeded (`false` while pending).
    #[serde(default, deserialize_with = "loose_bool")]
    pub status: Option<bool>,
}

/// A payment as the status query's `data.response`, the callback's `response`, or the older
/// flat callback describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
#[allow(non_snake_case)]
pub(crate) struct PaymentRecord {
    /// The status handle (flat callbacks only).
    #[serde(default, deserialize_with = "loose_string")]
    pub TransactionReference: Option<String>,
    /// The amount, in whole shillings.
    #[serde(default, deserialize_with = "whole_shillings")]
    pub Amount: Option<Amount>,
    /// The merchant reference, echoed.
    #[serde(default, deserialize_with = "loose_string")]
    pub ExternalReference: Option<String>,
    /// M-Pesa's `MerchantRequestID`.
    #[serde(default, deserialize_with = "loose_string")]
    pub MerchantRequestID: Option<String>,
    /// M-Pesa's `CheckoutRequestID` (callbacks).
    #[serde(default, deserialize_with = "loose_string")]
    pub CheckoutRequestID: Option<String>,
    /// The M-Pesa receipt; empty unless paid.
    #[serde(default, deserialize_with = "loose_string")]
    pub MpesaReceiptNumber: Option<String>,
    /// The phone charged (`Phone` in the status answer and nested callback).
    #[serde(default, deserialize_with = "loose_string")]
    pub Phone: Option<String>,
    /// The phone charged (`PhoneNumber` in flat callbacks).
    #[serde(default, deserialize_with = "loose_string")]
    pub PhoneNumber: Option<String>,
    /// The M-Pesa result code.
    #[serde(default, deserialize_with = "loose_string")]
    pub ResultCode: Option<String>,
    /// The M-Pesa result text.
    #[serde(default, deserialize_with = "loose_string")]
    pub ResultDesc: Option<String>,
    /// The metadata sent with the push.
    #[serde(default)]
    pub Metadata: Option<Value>,
    /// `PENDING`, `SUCCESS`, `FAILED` (status) or `Success`, `Failed` (callback).
    #[serde(default, deserialize_with = "loose_string")]
    pub Status: Option<String>,
    /// When the payment happened, as Lipia formats it.
    #[serde(default, deserialize_with = "loose_string")]
    pub TransactionDate: Option<String>,
}

/// A callback body in either shape: `{"response": {…}, "status": bool}` or flat.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum CallbackBody {
    /// The current, documented shape.
    Nested {
        /// The payment.
        response: PaymentRecord,
        /// Whether it succeeded.
        status: Option<bool>,
    },
    /// The older flat shape.
    Flat(PaymentRecord),
}

impl CallbackBody {
    /// Reads a callback body; `None` if it is not a JSON object.
    pub(crate) fn from_slice(body: &[u8]) -> Option<Self> {
        let Value::Object(mut map) = stk_http::serde_helpers::strict_value(body)? else {
            return None;
        };
        match map.remove("response") {
            Some(response @ Value::Object(_)) => Some(Self::Nested {
                response: serde_json::from_value(response).ok()?,
                status: map
                    .get("status")
                    .cloned()
                    .and_then(|v| loose_bool(v).ok().flatten()),
            }),
            _ => serde_json::from_value(Value::Object(map))
                .ok()
                .map(Self::Flat),
        }
    }

    /// The payment record.
    pub(crate) fn record(&self) -> &PaymentRecord {
        match self {
            Self::Nested { response, .. } => response,
            Self::Flat(record) => record,
        }
    }
}
