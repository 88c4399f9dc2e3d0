//! Shared test harness: a Lipia emulator, a callback receiver that answers like a merchant's
//! server, and a provider pointed at the emulator with a callback token.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use stk_core::{CallbackRequest, CallbackUrl, PaymentId, async_trait};
use stk_emulator::{CallbackReceiver, LipiaCallbackShape, LipiaEmulator, LipiaEmulatorConfig};
use stk_lipia::{CALLBACK_ACK, Lipia, LipiaConfig, LipiaConfigBuilder};

pub const TOKEN: &str = "emulator-callback-token";
pub const CALLBACK_PATH: &str = "/webhooks/lipia";

/// How the receiver answers callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// [`CALLBACK_ACK`]: 200 `ok`.
    Ack,
    /// 200 with a JSON body (not what Lipia asks for).
    JsonBody,
}

/// Captures the callbacks the emulator delivers, answering as configured.
#[derive(Clone)]
pub struct Receiver(Arc<CallbackReceiver>);

impl Receiver {
    /// Starts the receiver on 127.0.0.1; returns it and its callback URL.
    pub async fn start(answer: Answer) -> (Self, String) {
        let ack = match answer {
            Answer::Ack => stk_core::CallbackAck::new(
                CALLBACK_ACK.status,
                CALLBACK_ACK.content_type,
                CALLBACK_ACK.body,
            ),
            Answer::JsonBody => {
                stk_core::CallbackAck::new(200, "application/json", "{\"received\":true}")
            }
        };
        let receiver = CallbackReceiver::start(ack).await.unwrap();
        let url = receiver.url(CALLBACK_PATH);
        (Self(Arc::new(receiver)), url)
    }

    pub fn all(&self) -> Vec<CallbackRequest> {
        self.0.received()
    }

    /// The callbacks whose `CheckoutRequestID` is `checkout`.
    pub fn for_checkout(&self, checkout: &str) -> Vec<CallbackRequest> {
        self.all()
            .into_iter()
            .filter(|cb| checkout_of(cb).as_deref() == Some(checkout))
            .collect()
    }
}

/// The `CheckoutRequestID` of a callback, in either shape.
pub fn checkout_of(cb: &CallbackRequest) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(&cb.body).ok()?;
    v.pointer("/response/CheckoutRequestID")
        .or_else(|| v.get("CheckoutRequestID"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

pub struct Harness {
    pub emulator: LipiaEmulator,
    pub receiver: Receiver,
    pub callback_url: String,
}

impl Harness {
    pub async fn start(shape: LipiaCallbackShape) -> Self {
        Self::start_with(shape, Answer::Ack).await
    }

    pub async fn start_with(shape: LipiaCallbackShape, answer: Answer) -> Self {
        let (receiver, callback_url) = Receiver::start(answer).await;
        let emulator = LipiaEmulator::start(LipiaEmulatorConfig::default().callback_shape(shape))
            .await
            .unwrap();
        Self {
            emulator,
            receiver,
            callback_url,
        }
    }

    pub fn config(&self) -> LipiaConfigBuilder {
        LipiaConfig::builder()
            .api_key(self.emulator.api_key())
            .base_url(self.emulator.base_url())
            .callback_url(CallbackUrl::parse(&self.callback_url).unwrap())
            .callback_token(TOKEN)
            .timeout(Duration::from_secs(2))
    }

    pub fn provider(&self) -> Lipia {
        Lipia::new(self.config().build().unwrap()).unwrap()
    }

    /// Waits (with a deadline) for the final callback about a payment.
    pub async fn wait_callback(&self, id: &PaymentId) -> Option<CallbackRequest> {
        let checkout = self.emulator.checkout_request_id(id.as_str())?;
        self.receiver
            .0
            .wait_for(
                |cb| checkout_of(cb).as_deref() == Some(checkout.as_str()),
                Duration::from_secs(10),
            )
            .await
    }
}

#[async_trait]
impl stk_contract::CallbackSource for Harness {
    async fn final_callback(&self, id: &PaymentId) -> Option<CallbackRequest> {
        self.wait_callback(id).await
    }

    /// The same body and headers, posted to the callback path with a guessed token.
    fn forge(&self, genuine: &CallbackRequest) -> CallbackRequest {
        let mut forged = CallbackRequest::new(genuine.body.clone())
            .path_and_query(format!("{CALLBACK_PATH}?token=guessed-token"));
        for (name, value) in &genuine.headers {
            forged = forged.header(name.clone(), value.clone());
        }
        forged
    }
}
