//! What an emulator received and did: requests, charges, webhook deliveries.

use std::sync::{Arc, Mutex};

use crate::faults::{Endpoint, Fault};
use crate::util::lock;

/// One request as the emulator received it. Secret headers are redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The HTTP method.
    pub method: String,
    /// The path (and query), e.g. `/api/v1/payment/mpesa-stk-push/`.
    pub path: String,
    /// What kind of endpoint it hit.
    pub endpoint: Endpoint,
    /// Header names (lowercase) and values; secrets are replaced by `[redacted]`.
    pub headers: Vec<(String, String)>,
    /// The raw body (empty when the connection was closed before it was read).
    pub body: Vec<u8>,
    /// The fault applied to it, if any.
    pub fault: Option<Fault>,
}

impl RecordedRequest {
    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The first value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One charge (payment) the emulator created.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedCharge {
    /// The provider's id for it (e.g. KulmiPay's `invoice_id`).
    pub id: String,
    /// The phone prompted, in `254…` form.
    pub phone: String,
    /// The amount charged, in whole shillings (after rounding up).
    pub amount: u64,
    /// The merchant reference sent, if any.
    pub reference: Option<String>,
    /// Which API flavour created it (e.g. `express`, `collection`).
    pub api: &'static str,
}

/// One webhook delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookDelivery {
    /// The payment it was about.
    pub payment_id: String,
    /// The state it reported (provider wording, e.g. `COMPLETE`).
    pub state: String,
    /// The attempt number, from 1.
    pub attempt: u32,
    /// The receiver's HTTP status, or `None` if the request failed.
    pub status: Option<u16>,
}

#[derive(Debug, Default)]
struct Entries {
    requests: Vec<RecordedRequest>,
    charges: Vec<RecordedCharge>,
    webhooks: Vec<WebhookDelivery>,
}

/// The emulator's record of everything it received and created. Clones share the record.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    entries: Arc<Mutex<Entries>>,
}

impl Ledger {
    /// Every request received, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.entries).requests.clone()
    }

    /// Requests to one kind of endpoint.
    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<RecordedRequest> {
        lock(&self.entries)
            .requests
            .iter()
            .filter(|r| r.endpoint == endpoint)
            .cloned()
            .collect()
    }

    /// Every charge created, in order.
    pub fn charges(&self) -> Vec<RecordedCharge> {
        lock(&self.entries).charges.clone()
    }

    /// Charges created for a merchant reference (to assert "exactly one charge per order").
    pub fn charges_for_reference(&self, reference: &str) -> Vec<RecordedCharge> {
        lock(&self.entries)
            .charges
            .iter()
            .filter(|c| c.reference.as_deref() == Some(reference))
            .cloned()
            .collect()
    }

    /// Every webhook delivery attempt, in order.
    pub fn webhooks(&self) -> Vec<WebhookDelivery> {
        lock(&self.entries).webhooks.clone()
    }

    /// Forgets everything recorded so far (the payments themselves are kept).
    pub fn clear(&self) {
        let mut e = lock(&self.entries);
        e.requests.clear();
        e.charges.clear();
        e.webhooks.clear();
    }

    pub(crate) fn record_request(&self, request: RecordedRequest) {
        lock(&self.entries).requests.push(request);
    }

    pub(crate) fn record_charge(&self, charge: RecordedCharge) {
        lock(&self.entries).charges.push(charge);
    }

    pub(crate) fn record_webhook(&self, delivery: WebhookDelivery) {
        lock(&self.entries).webhooks.push(delivery);
    }
}
