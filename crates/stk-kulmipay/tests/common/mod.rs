//! Shared test harness: a KulmiPay emulator, a webhook receiver, and providers for both API
//! generations pointed at the emulator.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::Duration;

use stk_contract::receiver::{self, Received};
use stk_core::{CallbackRequest, PaymentId, async_trait};
use stk_emulator::{KulmiPayEmulator, KulmiPayEmulatorConfig};
use stk_kulmipay::{ApiGeneration, KulmiPay, KulmiPayConfig};

pub const CHALLENGE: &str = "emulator-challenge-secret";

/// The webhooks the emulator delivers, captured by a loopback receiver.
#[derive(Clone)]
pub struct Webhooks(Received);

impl Webhooks {
    /// Webhooks received for one invoice, with their states.
    pub fn for_invoice(&self, id: &str) -> Vec<(String, CallbackRequest)> {
        self.0
            .matching(|v| v["invoice_id"] == id)
            .into_iter()
            .map(|cb| {
                let state = receiver::json(&cb).unwrap_or_default()["state"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                (state, cb)
            })
            .collect()
    }
}

#[async_trait]
impl stk_contract::CallbackSource for Webhooks {
    async fn final_callback(&self, id: &PaymentId) -> Option<CallbackRequest> {
        self.0
            .wait_for(|v| {
                v["invoice_id"] == id.as_str()
                    && (v["state"] == "COMPLETE" || v["state"] == "FAILED")
            })
            .await
    }

    fn forge(&self, genuine: &CallbackRequest) -> CallbackRequest {
        let mut body: serde_json::Value =
            serde_json::from_slice(&genuine.body).unwrap_or_else(|_| serde_json::json!({}));
        body["challenge"] = serde_json::json!("guessed-challenge");
        let mut forged = CallbackRequest::new(serde_json::to_vec(&body).unwrap());
        for (name, value) in &genuine.headers {
            if !name.eq_ignore_ascii_case("content-length") {
                forged = forged.header(name.clone(), value.clone());
            }
        }
        forged
    }
}

pub struct Harness {
    pub emulator: KulmiPayEmulator,
    pub webhooks: Webhooks,
}

impl Harness {
    pub async fn start(sign_webhooks: bool) -> Self {
        let (received, url) =
            Received::start(stk_core::CallbackAck::OK, "/webhooks/kulmipay").await;
        let webhooks = Webhooks(received);
        let emulator = KulmiPayEmulator::start(
            KulmiPayEmulatorConfig::default()
                .webhook_url(url)
                .webhook_challenge(CHALLENGE)
                .sign_webhooks(sign_webhooks),
        )
        .await
        .unwrap();
        Self { emulator, webhooks }
    }

    pub fn config(&self, api: ApiGeneration) -> stk_kulmipay::KulmiPayConfigBuilder {
        KulmiPayConfig::builder()
            .api(api)
            .secret_key(self.emulator.secret_key())
            .api_token(self.emulator.api_token())
            .base_url(self.emulator.base_url())
            .webhook_challenge(CHALLENGE)
            .timeout(Duration::from_secs(2))
    }

    pub fn provider(&self, api: ApiGeneration) -> KulmiPay {
        KulmiPay::new(self.config(api).build().unwrap()).unwrap()
    }
}
