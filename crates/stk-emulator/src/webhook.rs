//! Webhook delivery, written once for every emulator: POST a callback body to the merchant's
//! URL until the receiver acknowledges it, backing off between attempts, and record every
//! attempt in the [`Ledger`]; and the timing of deliveries ([`schedule`]).

use std::sync::Weak;
use std::time::Duration;

use tokio::time::Instant;

use crate::ledger::{Ledger, WebhookDelivery};

/// The wait after the first failed attempt; it doubles after each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// How much of a receiver's answer is kept, when the acknowledgement depends on it.
const ANSWER_EXCERPT: usize = 64;

/// The client emulators deliver webhooks with: 5 s timeout, never re-sends on its own.
pub(crate) fn client() -> std::io::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .retry(reqwest::retry::never())
        .build()
        .map_err(std::io::Error::other)
}

/// What a provider accepts as the receiver's acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acknowledgement {
    /// Any 2xx status; the answer's body is not read.
    AnySuccess,
    /// HTTP 200 with the body `ok` (surrounding whitespace ignored), as Lipia asks.
    OkBody,
    /// HTTP 200 with a JSON body whose `ResultCode` is `0` (e.g.
    /// `{"ResultCode":0,"ResultDesc":"Accepted"}`), as Daraja asks.
    ResultCodeZero,
}

/// One callback to deliver.
#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    /// Where to POST it.
    pub(crate) url: String,
    /// The JSON body, sent as `application/json`.
    pub(crate) body: Vec<u8>,
    /// Headers added to the content type (e.g. a signature).
    pub(crate) headers: Vec<(&'static str, String)>,
    /// The payment it is about, for the ledger.
    pub(crate) payment_id: String,
    /// The state it reports (provider wording), for the ledger.
    pub(crate) state: String,
}

/// One delivery attempt, as the receiver answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attempt {
    /// The attempt number, from 1.
    pub(crate) number: u32,
    /// The receiver's HTTP status, or `None` if the request failed.
    pub(crate) status: Option<u16>,
    /// The start of the receiver's body (lossily decoded), read only for
    /// [`Acknowledgement::OkBody`] and [`Acknowledgement::ResultCodeZero`]; empty otherwise.
    pub(crate) body: String,
    /// Whether the receiver acknowledged the callback.
    pub(crate) acknowledged: bool,
}

/// How an emulator delivers webhooks: its client and ledger, at most how many attempts, and
/// what acknowledges one.
#[derive(Debug, Clone)]
pub(crate) struct Courier {
    http: reqwest::Client,
    ledger: Ledger,
    attempts: u32,
    acknowledgement: Acknowledgement,
}

impl Courier {
    /// Delivers with `http`, recording in `ledger`.
    pub(crate) fn new(
        http: reqwest::Client,
        ledger: Ledger,
        attempts: u32,
        acknowledgement: Acknowledgement,
    ) -> Self {
        Self {
            http,
            ledger,
            attempts,
            acknowledgement,
        }
    }

    /// [`deliver`]s `webhook` with this courier's settings.
    pub(crate) async fn deliver(&self, webhook: &Webhook, on_attempt: impl FnMut(&Attempt) + Send) {
        deliver(
            &self.http,
            &self.ledger,
            webhook,
            self.attempts,
            self.acknowledgement,
            on_attempt,
        )
        .await;
    }
}

/// An emulator state that delivers the webhooks (callbacks) about its payments.
#[stk_core::async_trait]
pub(crate) trait Deliver: Send + Sync + 'static {
    /// Delivers the webhook about `payment` (the provider's id) as the payment is now.
    async fn deliver(&self, payment: &str);
}

/// Delivers the webhook about `payment` at each of `times`, in order, from a task that stops
/// as soon as the emulator (`state`) is gone.
pub(crate) fn schedule<S: Deliver>(state: Weak<S>, payment: String, times: Vec<Instant>) {
    tokio::spawn(async move {
        for at in times {
            tokio::time::sleep_until(at).await;
            let Some(state) = state.upgrade() else { return };
            state.deliver(&payment).await;
        }
    });
}

/// POSTs `webhook` up to `attempts` times (at least once) until the receiver acknowledges
/// it, waiting 50 ms after the first failed attempt and twice as long after each further
/// one. Every attempt is recorded in `ledger`, then handed to `on_attempt`.
pub(crate) async fn deliver(
    http: &reqwest::Client,
    ledger: &Ledger,
    webhook: &Webhook,
    attempts: u32,
    acknowledgement: Acknowledgement,
    mut on_attempt: impl FnMut(&Attempt) + Send,
) {
    let mut backoff = FIRST_BACKOFF;
    for number in 1..=attempts.max(1) {
        let mut request = http
            .post(&webhook.url)
            .header("content-type", "application/json")
            .body(webhook.body.clone());
        for (name, value) in &webhook.headers {
            request = request.header(*name, value);
        }
        let attempt = match (request.send().await, acknowledgement) {
            (Err(_), _) => Attempt {
                number,
                status: None,
                body: String::new(),
                acknowledged: false,
            },
            (Ok(response), Acknowledgement::AnySuccess) => Attempt {
                number,
                status: Some(response.status().as_u16()),
                body: String::new(),
                acknowledged: response.status().is_success(),
            },
            (Ok(response), ack @ (Acknowledgement::OkBody | Acknowledgement::ResultCodeZero)) => {
                let status = response.status().as_u16();
                let bytes = response.bytes().await.unwrap_or_default();
                let body = String::from_utf8_lossy(bytes.get(..ANSWER_EXCERPT).unwrap_or(&bytes))
                    .into_owned();
                let acknowledged = status == 200
                    && match ack {
                        Acknowledgement::OkBody => body.trim() == "ok",
                        _ => result_code_zero(&bytes),
                    };
                Attempt {
                    number,
                    status: Some(status),
                    body,
                    acknowledged,
                }
            }
        };
        ledger.record_webhook(WebhookDelivery {
            payment_id: webhook.payment_id.clone(),
            state: webhook.state.clone(),
            attempt: number,
            status: attempt.status,
        });
        on_attempt(&attempt);
        if attempt.acknowledged {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2);
    }
}

/// Whether a receiver's answer is a JSON object with `ResultCode` `0` (a number or `"0"`).
fn result_code_zero(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("ResultCode").cloned())
        .is_some_and(|code| code == serde_json::json!(0) || code == serde_json::json!("0"))
}

#[cfg(test)]
mod tests {
    use stk_core::CallbackAck;

    use super::*;
    use crate::CallbackReceiver;

    fn webhook(url: String) -> Webhook {
        Webhook {
            url,
            body: br#"{"state":"COMPLETE"}"#.to_vec(),
            headers: vec![("x-signature", "abc".to_owned())],
            payment_id: "P1".to_owned(),
            state: "COMPLETE".to_owned(),
        }
    }

    #[tokio::test]
    async fn retries_until_acknowledged_and_records_every_attempt() {
        let refusing = CallbackReceiver::start(CallbackAck::new(500, "text/plain", "no"))
            .await
            .unwrap();
        let (http, ledger) = (client().unwrap(), Ledger::default());
        let mut seen = Vec::new();
        let hook = webhook(refusing.url("/hook?token=t"));
        deliver(&http, &ledger, &hook, 3, Acknowledgement::AnySuccess, |a| {
            seen.push(a.clone());
        })
        .await;
        assert_eq!(seen.len(), 3);
        assert!(
            seen.iter()
                .all(|a| a.status == Some(500) && !a.acknowledged)
        );
        assert_eq!(ledger.webhooks().len(), 3);
        let received = refusing.received();
        assert_eq!(received.len(), 3);
        assert_eq!(received[0].body, hook.body);
        assert_eq!(received[0].header_value("x-signature"), Some("abc"));
        assert_eq!(
            received[0].header_value("content-type"),
            Some("application/json")
        );
        assert_eq!(received[0].path_and_query.as_deref(), Some("/hook?token=t"));

        // 2xx is enough for AnySuccess, but Lipia's OkBody also wants the body `ok`.
        let accepting = CallbackReceiver::start(CallbackAck::new(201, "text/plain", "ok"))
            .await
            .unwrap();
        let ledger = Ledger::default();
        let hook = webhook(accepting.url("/"));
        deliver(
            &http,
            &ledger,
            &hook,
            3,
            Acknowledgement::AnySuccess,
            |_| {},
        )
        .await;
        assert_eq!(ledger.webhooks().len(), 1);
        let ledger = Ledger::default();
        let mut seen = Vec::new();
        deliver(&http, &ledger, &hook, 2, Acknowledgement::OkBody, |a| {
            seen.push(a.clone());
        })
        .await;
        assert_eq!(seen.len(), 2, "201 is not Lipia's acknowledgement");
        assert_eq!(seen[1].body, "ok");

        let ok = CallbackReceiver::start(CallbackAck::OK).await.unwrap();
        let ledger = Ledger::default();
        let mut seen = Vec::new();
        deliver(
            &http,
            &ledger,
            &webhook(ok.url("/")),
            3,
            Acknowledgement::OkBody,
            |a| {
                seen.push(a.clone());
            },
        )
        .await;
        assert_eq!(
            seen,
            [Attempt {
                number: 1,
                status: Some(200),
                body: "ok".to_owned(),
                acknowledged: true,
            }]
        );
        let delivery = ledger.webhooks().pop().unwrap();
        assert_eq!(
            (delivery.payment_id.as_str(), delivery.state.as_str()),
            ("P1", "COMPLETE")
        );
    }
}
