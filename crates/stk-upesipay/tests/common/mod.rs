//! Shared test harness: an UpesiPay emulator, a callback receiver, and a provider pointed at
//! the emulator.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::Duration;

use stk_contract::receiver::{self, Received};
use stk_core::{CallbackRequest, CallbackUrl, PaymentId, StkPushRequest, async_trait};
use stk_emulator::{UpesiPayEmulator, UpesiPayEmulatorConfig};
use stk_upesipay::{UpesiPay, UpesiPayConfig, UpesiPayConfigBuilder};

pub const CALLBACK_TOKEN: &str = "emulator-callback-token";
pub const CALLBACK_PATH: &str = "/callbacks/upesipay";

pub struct Harness {
    pub emulator: UpesiPayEmulator,
    /// The callbacks the emulator delivered.
    pub callbacks: Received,
    pub callback_url: String,
}

/// The contract suite's callback source: the callbacks really delivered by the emulator,
/// found by the payment's `CheckoutRequestID`.
pub struct Source<'a>(pub &'a Harness);

#[async_trait]
impl stk_contract::CallbackSource for Source<'_> {
    async fn final_callback(&self, id: &PaymentId) -> Option<CallbackRequest> {
        let checkout = self.0.emulator.checkout_request_id(id.as_str())?;
        self.0.callbacks.wait_for_checkout(&checkout).await
    }

    /// The same body and headers, posted to the callback's path with a guessed token.
    fn forge(&self, genuine: &CallbackRequest) -> CallbackRequest {
        receiver::forge_token(genuine, CALLBACK_PATH)
    }
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(UpesiPayEmulatorConfig::default()).await
    }

    pub async fn start_with(config: UpesiPayEmulatorConfig) -> Self {
        let (callbacks, callback_url) =
            Received::start(stk_core::CallbackAck::OK, CALLBACK_PATH).await;
        let emulator = UpesiPayEmulator::start(config).await.unwrap();
        Self {
            emulator,
            callbacks,
            callback_url,
        }
    }

    pub fn config(&self) -> UpesiPayConfigBuilder {
        UpesiPayConfig::builder()
            .api_token(self.emulator.token())
            .channel_id(self.emulator.channel_id())
            .base_url(self.emulator.base_url())
            .callback_url(CallbackUrl::parse(&self.callback_url).unwrap())
            .callback_token(CALLBACK_TOKEN)
            .timeout(Duration::from_secs(2))
    }

    pub fn provider(&self) -> UpesiPay {
        UpesiPay::new(self.config().build().unwrap()).unwrap()
    }
}

pub fn request(phone: &str, reference: &str) -> StkPushRequest {
    StkPushRequest::builder()
        .phone(phone)
        .amount(100)
        .reference(reference)
        .build()
        .unwrap()
}
