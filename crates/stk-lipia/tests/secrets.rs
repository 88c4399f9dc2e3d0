//! Secrets never show (issue 12): the API key, its `Authorization: Bearer` value and the
//! callback token appear nowhere in the config's or the provider's `Debug`, in any answer or
//! error (with the right key and with a wrong one, refused with 401), or in the tracing output
//! at TRACE.
#![allow(clippy::unwrap_used)]

use stk_contract::receiver::{self, Received};
use stk_contract::secrets::{self, Callbacks, Secret};
use stk_core::{CallbackRequest, CallbackUrl, PaymentId};
use stk_emulator::{LipiaEmulator, LipiaEmulatorConfig};
use stk_lipia::{CALLBACK_ACK, Lipia, LipiaConfig};

const API_KEY: &str = "lipia-SECRET-api-key-5f0c2e9a71d4";
const WRONG_API_KEY: &str = "lipia-WRONG-api-key-c83d1b60f4a7";
const CALLBACK_TOKEN: &str = "lipia-SECRET-callback-token-9a4e";
const CALLBACK_PATH: &str = "/webhooks/lipia";

struct Source<'a>(&'a LipiaEmulator);

impl Callbacks for Source<'_> {
    fn genuine(&self, id: &PaymentId) -> Option<CallbackRequest> {
        self.0.callback_for(id.as_str())
    }

    fn forge(&self, genuine: &CallbackRequest) -> CallbackRequest {
        receiver::forge_token(genuine, CALLBACK_PATH)
    }
}

#[tokio::test]
async fn no_secret_in_debug_errors_or_traces() {
    // Current-thread runtime: the scoped subscriber sees every task, the emulator's included.
    let (logs, _guard) = secrets::capture_traces();

    let (_callbacks, callback_url) = Received::start(
        stk_core::CallbackAck::new(
            CALLBACK_ACK.status,
            CALLBACK_ACK.content_type,
            CALLBACK_ACK.body,
        ),
        CALLBACK_PATH,
    )
    .await;
    let emulator = LipiaEmulator::start(LipiaEmulatorConfig::default().api_key(API_KEY))
        .await
        .unwrap();
    let builder = |key: &str| {
        LipiaConfig::builder()
            .api_key(key)
            .base_url(emulator.base_url())
            .callback_url(CallbackUrl::parse(&callback_url).unwrap())
            .callback_token(CALLBACK_TOKEN)
    };
    let config = builder(API_KEY).build().unwrap();
    let good = Lipia::new(config.clone()).unwrap();
    let bad = Lipia::new(builder(WRONG_API_KEY).build().unwrap()).unwrap();

    let shown = format!(
        "{:?}\n{config:?}\n{config:#?}\n{good:?}\n{good:#?}\n{bad:?}",
        builder(API_KEY)
    );
    let answers = secrets::exercise(&good, &bad, &Source(&emulator), "SECRETS-1").await;
    emulator.shutdown().await;

    let secrets = [
        Secret::new("API key", API_KEY),
        Secret::new("Authorization header", format!("Bearer {API_KEY}")),
        Secret::new("wrong API key", WRONG_API_KEY),
        Secret::new(
            "wrong Authorization header",
            format!("Bearer {WRONG_API_KEY}"),
        ),
        Secret::new("callback token", CALLBACK_TOKEN),
    ];
    secrets::assert_clean("lipia", &shown, &answers, &logs.text(), &secrets);
}
