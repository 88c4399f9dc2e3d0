//! Shared test harness: an UpesiPay emulator, a callback receiver, and a provider pointed at
//! the emulator.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use stk_core::{CallbackRequest, CallbackUrl, PaymentId, StkPushRequest, async_trait};
use stk_emulator::{CallbackReceiver, UpesiPayEmulator, UpesiPayEmulatorConfig};
use stk_upesipay::{UpesiPay, UpesiPayConfig, UpesiPayConfigBuilder};

pub const CALLBACK_TOKEN: &str = "emulator-callback-token";

/// The callbacks the emulator delivers, captured by a loopback receiver.
#[derive(Clone)]
pub struct Callbacks(Arc<CallbackReceiver>);

impl Callbacks {
    pub fn all(&self) -> Vec<CallbackRequest> {
        self.0.received()
    }

    /// Callbacks received for one checkout request id.
    pub fn for_checkout(&self, checkout: &str) -> Vec<CallbackRequest> {
        self.all()
            .into_iter()
            .filter(|cb| {
                serde_json::from_slice::<serde_json::Value>(&cb.body)
                    .is_ok_and(|v| v["response"]["CheckoutRequestID"] == checkout)
            })
            .collect()
    }
}

pub struct Harness {
    pub emulator: UpesiPayEmulator,
    pub callbacks: Callbacks,
    pub callback_url: String,
}

/// The contract suite's callback source: the callbacks really delivered by the emulator,
/// found by the payment's `CheckoutRequestID`.
pub struct Source<'a>(pub &'a Harness);

#[async_trait]
impl stk_contract::CallbackSource for Source<'_> {
    async fn final_callback(&self, id: &PaymentId) -> Option<CallbackRequest> {
        let checkout = self.0.emulator.checkout_request_id(id.as_str())?;
        let for_checkout = |cb: &CallbackRequest| {
            serde_json::from_slice::<serde_json::Value>(&cb.body)
                .is_ok_and(|v| v["response"]["CheckoutRequestID"] == checkout.as_str())
        };
        self.0
            .callbacks
            .0
            .wait_for(for_checkout, Duration::from_secs(10))
            .await
    }

    fn forge(&self, genuine: &CallbackRequest) -> CallbackRequest {
        let target = genuine
            .path_and_query
            .clone()
            .unwrap_or_else(|| "/callbacks/upesipay".to_owned());
        let path = target.split('?').next().unwrap_or("/").to_owned();
        let mut forged = CallbackRequest::new(genuine.body.clone())
            .path_and_query(format!("{path}?token=guessed-token"));
        forged.headers = genuine.headers.clone();
        forged
    }
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(UpesiPayEmulatorConfig::default()).await
    }

    pub async fn start_with(config: UpesiPayEmulatorConfig) -> Self {
        let receiver = CallbackReceiver::start(stk_core::CallbackAck::OK)
            .await
            .unwrap();
        let callback_url = receiver.url("/callbacks/upesipay");
        let callbacks = Callbacks(Arc::new(receiver));
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
