//! Shared test harness: a Lipia emulator, a callback receiver that answers like a merchant's
//! server, and a provider pointed at the emulator with a callback token.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::Duration;

use stk_contract::receiver::{self, Received};
use stk_core::{CallbackRequest, CallbackUrl, PaymentId, async_trait};
use stk_emulator::{LipiaCallbackShape, LipiaEmulator, LipiaEmulatorConfig};
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

impl Answer {
    fn ack(self) -> stk_core::CallbackAck {
        match self {
            Answer::Ack => stk_core::CallbackAck::new(
                CALLBACK_ACK.status,
                CALLBACK_ACK.content_type,
                CALLBACK_ACK.body,
            ),
            Answer::JsonBody => {
                stk_core::CallbackAck::new(200, "application/json", "{\"received\":true}")
            }
        }
    }
}

pub struct Harness {
    pub emulator: LipiaEmulator,
    /// The callbacks the emulator delivered, answered as configured.
    pub receiver: Received,
    pub callback_url: String,
}

impl Harness {
    pub async fn start(shape: LipiaCallbackShape) -> Self {
        Self::start_with(shape, Answer::Ack).await
    }

    pub async fn start_with(shape: LipiaCallbackShape, answer: Answer) -> Self {
        let (receiver, callback_url) = Received::start(answer.ack(), CALLBACK_PATH).await;
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
        self.receiver.wait_for_checkout(&checkout).await
    }
}

#[async_trait]
impl stk_contract::CallbackSource for Harness {
    async fn final_callback(&self, id: &PaymentId) -> Option<CallbackRequest> {
        self.wait_callback(id).await
    }

    /// The same body and headers, posted to the callback path with a guessed token.
    fn forge(&self, genuine: &CallbackRequest) -> CallbackRequest {
        receiver::forge_token(genuine, CALLBACK_PATH)
    }
}
