//! Shared test harness: a Daraja emulator, a callback receiver that answers like a merchant's
//! server, and a provider pointed at the emulator with a callback token.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::Duration;

use stk_contract::receiver::{self, Received};
use stk_core::{CallbackRequest, CallbackUrl, PaymentId, async_trait};
use stk_daraja::{CALLBACK_ACK, Daraja, DarajaConfig, DarajaConfigBuilder};
use stk_emulator::{DarajaEmulator, DarajaEmulatorConfig, Endpoint};

pub const TOKEN: &str = "emulator-callback-token";
pub const CALLBACK_PATH: &str = "/webhooks/daraja";

pub struct Harness {
    pub emulator: DarajaEmulator,
    /// The callbacks the emulator delivered, answered with [`CALLBACK_ACK`].
    pub receiver: Received,
    pub callback_url: String,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(DarajaEmulatorConfig::default()).await
    }

    pub async fn start_with(config: DarajaEmulatorConfig) -> Self {
        let (receiver, callback_url) = Received::start(CALLBACK_ACK, CALLBACK_PATH).await;
        let emulator = DarajaEmulator::start(config).await.unwrap();
        Self {
            emulator,
            receiver,
            callback_url,
        }
    }

    /// The sandbox defaults (shortcode 174379 and its passkey) pointed at the emulator.
    pub fn config(&self) -> DarajaConfigBuilder {
        DarajaConfig::builder()
            .consumer_key(self.emulator.consumer_key())
            .consumer_secret(self.emulator.consumer_secret())
            .base_url(self.emulator.base_url())
            .callback_url(CallbackUrl::parse(&self.callback_url).unwrap())
            .callback_token(TOKEN)
            .timeout(Duration::from_secs(2))
    }

    pub fn provider(&self) -> Daraja {
        Daraja::new(self.config().build().unwrap()).unwrap()
    }

    /// How many access tokens the emulator issued.
    pub fn token_requests(&self) -> usize {
        self.emulator.ledger().requests_to(Endpoint::Token).len()
    }

    /// Waits (with a deadline) for the final callback about a payment (its id is the
    /// `CheckoutRequestID`).
    pub async fn wait_callback(&self, id: &PaymentId) -> Option<CallbackRequest> {
        self.receiver.wait_for_checkout(id.as_str()).await
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
