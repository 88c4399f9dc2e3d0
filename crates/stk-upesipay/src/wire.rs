//! UpesiPay's wire format: serde structs mirroring the docs. Lenient on input (every field
//! optional, numbers accepted where strings are documented and vice versa, unknown fields
//! ignored), exact on output.

use std::fmt;

use serde::{Deserialize, Serialize};
use stk_core::{Amount, StkPushRequest};
use stk_http::serde_helpers::{loose_bool, loose_string, whole_shillings};

use crate::{CALLBACK_TOKEN_PARAM, CUSTOMER_NAME_KEY, UpesiPayConfig};

/// The body of `POST /payments`.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PushBody {
    /// Whole shillings.
    pub amount: u64,
    /// The customer's number in the local form of UpesiPay's examples, `07XXXXXXXX`.
    pub phone_number: String,
    /// The payment channel id.
    pub channel_id: u64,
    /// Always `m-pesa`.
    pub provider: &'static str,
    /// The merchant reference, echoed in callbacks as `ExternalReference`.
    pub external_reference: String,
    /// The customer's name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    /// Where to POST the result (with the callback token, when one is configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Your own Daraja credentials' id, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
}

impl PushBody {
    /// The body a push for `request` sends under `config`.
    pub(crate) fn new(config: &UpesiPayConfig, request: &StkPushRequest) -> Self {
        Self {
            amount: request.amount().shillings(),
            phone_number: request.phone().local(),
            channel_id: config.channel_id,
            provider: "m-pesa",
            external_reference: request.reference().as_str().to_owned(),
            customer_name: request
                .metadata()
                .iter()
                .find(|(k, _)| *k == CUSTOMER_NAME_KEY)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
            callback_url: config
                .callback
                .url_for(request)
                .map(|url| config.callback.with_query_token(url, CALLBACK_TOKEN_PARAM)),
            credential_id: config.credential_id.clone(),
        }
    }
}

/// The callback URL's query is hidden: it may carry the callback token.
impl fmt::Debug for PushBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushBody")
            .field("amount", &self.amount)
            .field("phone_number", &self.phone_number)
            .field("channel_id", &self.channel_id)
            .field("provider", &self.provider)
            .field("external_reference", &self.external_reference)
            .field("customer_name", &self.customer_name)
            .field(
                "callback_url",
                &self.callback_url.as_deref().map(stk_http::redact_query),
            )
            .field("credential_id", &self.credential_id)
            .finish()
    }
}

/// The answer to `POST /payments`: `201 {"success":true,"status":"QUEUED","reference":…,
/// "CheckoutRequestID":…}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub(crate) struct PushResponse {
    /// `true` when the push was queued.
    #[serde(default, deserialize_with = "loose_bool")]
    pub success: Option<bool>,
    /// `QUEUED`.
    #[serde(default, deserialize_with = "loose_string")]
    pub status: Option<String>,
    /// UpesiPay's reference (the status handle), e.g. `E8UWT7CLUW`.
    #[serde(default, deserialize_with = "loose_string")]
    pub reference: Option<String>,
    /// M-Pesa's checkout request id.
    #[serde(
        rename = "CheckoutRequestID",
        default,
        deserialize_with = "loose_string"
    )]
    pub checkout_request_id: Option<String>,
    /// A message (third-party code shows `{success:false, message, error_code}`).
    #[serde(default, deserialize_with = "loose_string")]
    pub message: Option<String>,
    /// An error code, with `success:false`.
    #[serde(default, deserialize_with = "loose_string")]
    pub error_code: Option<String>,
}

/// The answer to `GET /transaction-status?reference=…`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub(crate) struct StatusResponse {
    /// When the transaction was made, e.g. `2026-01-02T08:41:14Z`.
    #[serde(default, deserialize_with = "loose_string")]
    pub transaction_date: Option<String>,
    /// `m-pesa`.
    #[serde(default, deserialize_with = "loose_string")]
    pub provider: Option<String>,
    /// Whether the request succeeded.
    #[serde(default, deserialize_with = "loose_bool")]
    pub success: Option<bool>,
    /// The merchant's name.
    #[serde(default, deserialize_with = "loose_string")]
    pub merchant: Option<String>,
    /// The payment reference.
    #[serde(default, deserialize_with = "loose_string")]
    pub payment_reference: Option<String>,
    /// The M-Pesa receipt, once paid.
    #[serde(default, deserialize_with = "loose_string")]
    pub third_party_reference: Option<String>,
    /// `QUEUED`, `SUCCESS` or `FAILED` (third-party code also shows lowercase `cancelled`
    /// and `timeout`).
    #[serde(default, deserialize_with = "loose_string")]
    pub status: Option<String>,
    /// UpesiPay's reference.
    #[serde(default, deserialize_with = "loose_string")]
    pub reference: Option<String>,
    /// M-Pesa's checkout request id.
    #[serde(
        rename = "CheckoutRequestID",
        default,
        deserialize_with = "loose_string"
    )]
    pub checkout_request_id: Option<String>,
    /// The M-Pesa receipt, once paid.
    #[serde(default, deserialize_with = "loose_string")]
    pub provider_reference: Option<String>,
    /// The M-Pesa result code, when sent (not in the documented sample).
    #[serde(
        rename = "ResultCode",
        alias = "result_code",
        default,
        deserialize_with = "loose_string"
    )]
    pub result_code: Option<String>,
    /// The M-Pesa result text, when sent (not in the documented sample).
    #[serde(
        rename = "ResultDesc",
        alias = "result_desc",
        default,
        deserialize_with = "loose_string"
    )]
    pub result_desc: Option<String>,
    /// The amount, when sent (not in the documented sample).
    #[serde(default, alias = "Amount", deserialize_with = "whole_shillings")]
    pub amount: Option<Amount>,
}

/// The callback POSTed to `callback_url`:
/// `{"forward_url":"","response":{…},"status":true}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub(crate) struct CallbackEnvelope {
    /// Empty in the docs.
    #[serde(default, deserialize_with = "loose_string")]
    pub forward_url: Option<String>,
    /// The M-Pesa result.
    #[serde(default)]
    pub response: Option<CallbackResponse>,
    /// `true` on success, `false` on failure.
    #[serde(default, deserialize_with = "loose_bool")]
    pub status: Option<bool>,
}

/// The `response` object of a callback.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub(crate) struct CallbackResponse {
    /// The amount paid.
    #[serde(rename = "Amount", default, deserialize_with = "whole_shillings")]
    pub amount: Option<Amount>,
    /// M-Pesa's checkout request id.
    #[serde(
        rename = "CheckoutRequestID",
        default,
        deserialize_with = "loose_string"
    )]
    pub checkout_request_id: Option<String>,
    /// The merchant reference sent as `external_reference`.
    #[serde(
        rename = "ExternalReference",
        default,
        deserialize_with = "loose_string"
    )]
    pub external_reference: Option<String>,
    /// M-Pesa's merchant request id.
    #[serde(
        rename = "MerchantRequestID",
        default,
        deserialize_with = "loose_string"
    )]
    pub merchant_request_id: Option<String>,
    /// The M-Pesa receipt (empty on failure).
    #[serde(
        rename = "MpesaReceiptNumber",
        default,
        deserialize_with = "loose_string"
    )]
    pub mpesa_receipt_number: Option<String>,
    /// The customer's number, e.g. `+254709099876`.
    #[serde(rename = "Phone", default, deserialize_with = "loose_string")]
    pub phone: Option<String>,
    /// The M-Pesa result code (`0` on success).
    #[serde(rename = "ResultCode", default, deserialize_with = "loose_string")]
    pub result_code: Option<String>,
    /// The M-Pesa result text.
    #[serde(rename = "ResultDesc", default, deserialize_with = "loose_string")]
    pub result_desc: Option<String>,
    /// `Success` or `Failed`.
    #[serde(rename = "Status", default, deserialize_with = "loose_string")]
    pub status: Option<String>,
}
