//! Webhooks to the app, per the Standard Webhooks specification: `webhook-id` (the tracker's
//! stable event id, the same on every retry), `webhook-timestamp` (Unix seconds),
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. Delivered from the
//! tracker's outbox until the app answers `2xx` (retried with backoff, across restarts).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use stk_tracker::{AttemptState, Event, EventHandler, EventKind, HandlerError, Tracker};

use crate::config::WebhookTarget;
use crate::metrics::Metrics;
use crate::view::{PaymentView, rfc3339};

/// The longest one delivery may take; a slower app gets it again later.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Delivers the tracker's events to the app's webhook endpoint (or, without one, records
/// them as delivered: the app reads payments with `GET`).
#[derive(Debug, Clone)]
pub struct WebhookSender {
    tracker: Tracker,
    target: Option<WebhookTarget>,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
}

impl WebhookSender {
    /// A sender for `tracker`'s events to `target`.
    pub fn new(tracker: Tracker, target: Option<WebhookTarget>) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            tracker,
            target,
            client,
            metrics: Arc::default(),
        })
    }

    /// Counts deliveries in `metrics` (the service's `/metrics`).
    pub(crate) fn counting(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The webhook body for `event`: `{"type": "payment.<kind>", "timestamp", "data": <the
    /// payment, in the state the event is about>, "event": <what happened: the event's own
    /// payload, with `anomaly: "paid_late"`, `reason`, `source` (`operator` for a person's
    /// decision), the claim or the anomaly's detail>, "occurrences"}`. A re-delivery after the
    /// payment moved on still says what this event said.
    pub async fn body(&self, event: &Event) -> Result<Vec<u8>, HandlerError> {
        let attempt = self.tracker.attempt(&event.attempt_id).await?;
        let mut data = PaymentView::of(&attempt);
        data.state = event.payment().state;
        if !matches!(event.kind, EventKind::Completed(_)) && data.state != AttemptState::Completed {
            data.receipt = None;
        }
        let mut what = serde_json::to_value(&event.kind)?;
        let mut payload = what["payload"].take();
        // The phone as everywhere in the API: masked.
        payload["phone"] = json!(data.phone);
        let body = json!({
            "type": format!("payment.{}", event.kind.name()),
            "timestamp": rfc3339(event.created_at),
            "data": data,
            "event": payload,
            "occurrences": event.occurrences,
        });
        Ok(serde_json::to_vec(&body)?)
    }
}

impl WebhookSender {
    /// Now on the wall clock (Unix ms), to age events.
    fn tracker_now(&self) -> i64 {
        jiff::Timestamp::now().as_millisecond()
    }
}

#[async_trait]
impl EventHandler for WebhookSender {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        let body = self.body(event).await?;
        let timestamp = jiff::Timestamp::now().as_second();
        let signature = sign(target.secret(), &event.event_id, timestamp, &body);
        let answer = self
            .client
            .post(target.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &event.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let delivered = answer.as_ref().is_ok_and(|a| a.status().is_success());
        let age = self.tracker_now().saturating_sub(event.created_at);
        self.metrics.webhook(delivered, age);
        match answer {
            Ok(a) if a.status().is_success() => Ok(()),
            Ok(a) => Err(format!("the webhook endpoint answered {}", a.status()).into()),
            Err(e) => {
                Err(format!("the webhook could not be delivered: {}", e.without_url()).into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks specification's published example.
    #[test]
    fn signatures_match_the_specification() {
        let secret = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
