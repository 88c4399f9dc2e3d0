//! KulmiPay's wire format: serde structs mirroring the docs. Lenient on input (every field
//! optional, numbers accepted where strings are documented and vice versa, unknown fields
//! ignored), exact on output.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use stk_core::{Amount, StkPushRequest};
use stk_http::serde_helpers::{loose_string, whole_shillings};

use crate::{ApiGeneration, KulmiPayConfig, MobileTariff};

/// The body of `POST /payment/mpesa-stk-push/` and `POST /payment/collection/stk-push/`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PushBody {
    /// The amount: a decimal string for the express API, a number for the collection API.
    pub amount: Value,
    /// `254XXXXXXXXX`.
    pub phone_number: String,
    /// The merchant reference.
    pub api_ref: String,
    /// The wallet to credit, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet_id: Option<String>,
    /// `BUSINESS-PAYS` or `CUSTOMER-PAYS`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile_tarrif: Option<&'static str>,
}

impl PushBody {
    /// The body a push for `request` sends under `config` (amount as a decimal string for
    /// the express API, as a number for the collection API).
    pub(crate) fn new(config: &KulmiPayConfig, request: &StkPushRequest) -> Self {
        let shillings = request.amount().shillings();
        Self {
            amount: match config.api {
                ApiGeneration::Express => Value::String(shillings.to_string()),
                ApiGeneration::Collection => Value::from(shillings),
            },
            phone_number: request.phone().international(),
            api_ref: request.reference().as_str().to_owned(),
            wallet_id: config.wallet_id.clone(),
            mobile_tarrif: config.mobile_tariff.map(MobileTariff::as_str),
        }
    }
}

/// The body of the status calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StatusBody {
    /// The invoice to ask about.
    pub invoice_id: String,
}

/// An invoice, as returned by push, status and webhooks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub(crate) struct Invoice {
    /// The invoice id (the status handle).
    #[serde(default, deserialize_with = "loose_string")]
    pub invoice_id: Option<String>,
    /// The id under the name some pages use (`INV-…` in the collection API).
    #[serde(default, deserialize_with = "loose_string")]
    pub id: Option<String>,
    /// `PENDING`, `PROCESSING`, `COMPLETE` or `FAILED`.
    #[serde(default, deserialize_with = "loose_string")]
    pub state: Option<String>,
    /// `M-PESA`.
    #[serde(default, deserialize_with = "loose_string")]
    pub provider: Option<String>,
    /// The amount, in whole shillings (decimal text on the wire).
    #[serde(default, deserialize_with = "whole_shillings")]
    pub value: Option<Amount>,
    /// The fee, as decimal text.
    #[serde(default, deserialize_with = "loose_string")]
    pub charges: Option<String>,
    /// What the merchant receives, as decimal text.
    #[serde(default, deserialize_with = "loose_string")]
    pub net_amount: Option<String>,
    /// `KES`.
    #[serde(default, deserialize_with = "loose_string")]
    pub currency: Option<String>,
    /// The phone charged.
    #[serde(default, deserialize_with = "loose_string")]
    pub account: Option<String>,
    /// The merchant reference, echoed.
    #[serde(default, deserialize_with = "loose_string")]
    pub api_ref: Option<String>,
    /// The M-Pesa receipt, once complete.
    #[serde(default, deserialize_with = "loose_string")]
    pub mpesa_reference: Option<String>,
    /// Why it failed.
    #[serde(default, deserialize_with = "loose_string")]
    pub failed_reason: Option<String>,
    /// The M-Pesa result code of a failure.
    #[serde(default, deserialize_with = "loose_string")]
    pub failed_code: Option<String>,
    /// When it was last updated.
    #[serde(default, deserialize_with = "loose_string")]
    pub updated_at: Option<String>,
}

impl Invoice {
    /// The status handle: `invoice_id`, falling back to `id`.
    pub(crate) fn handle(&self) -> Option<&str> {
        self.invoice_id
            .as_deref()
            .or(self.id.as_deref())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// The answer to a push: a payment session (express) or `{id, invoice, customer,
/// signature}` (collection).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub(crate) struct PushResponse {
    /// The session uuid (express) or the invoice id (collection).
    #[serde(default, deserialize_with = "loose_string")]
    pub id: Option<String>,
    /// The invoice.
    #[serde(default)]
    pub invoice: Option<Invoice>,
}

/// The answer to a status query: `{invoice, meta}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub(crate) struct StatusResponse {
    /// The invoice.
    #[serde(default)]
    pub invoice: Option<Invoice>,
}

/// A `collection_event` webhook: the flat invoice plus `challenge`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub(crate) struct CollectionEvent {
    /// The invoice fields.
    #[serde(flatten)]
    pub invoice: Invoice,
    /// The configured challenge secret.
    #[serde(default, deserialize_with = "loose_string")]
    pub challenge: Option<String>,
}
