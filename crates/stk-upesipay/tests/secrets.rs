//! Secrets never show (issue 12): the API token, its `Authorization: Basic` value and the
//! callback token appear nowhere in the config's or the provider's `Debug`, in any answer or
//! error (with the right token and with a wrong one, refused with 401), or in the tracing
//! output at TRACE. The callback URL is configured with the token already in its query, as
//! `UpesiPayConfigBuilder::callback_token` allows.
#![allow(clippy::unwrap_used)]

use stk_contract::receiver::{self, Received};
use stk_contract::secrets::{self, Callbacks, Secret};
use stk_core::{CallbackRequest, CallbackUrl, PaymentId};
use stk_emulator::{UpesiPayEmulator, UpesiPayEmulatorConfig};
use stk_upesipay::{UpesiPay, UpesiPayConfig};

const API_TOKEN: &str = "upesi-SECRET-basic-token-3e8b1d77c2";
const WRONG_API_TOKEN: &str = "upesi-WRONG-basic-token-a9f04c15e6";
const CALLBACK_TOKEN: &str = "upesi-SECRET-callback-token-71d2";
const CALLBACK_PATH: &str = "/callbacks/upesipay";

struct Source<'a>(&'a UpesiPayEmulator);

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

    let (_callbacks, callback_url) =
        Received::start(stk_core::CallbackAck::OK, CALLBACK_PATH).await;
    let callback_url = format!("{callback_url}?token={CALLBACK_TOKEN}");
    let emulator = UpesiPayEmulator::start(UpesiPayEmulatorConfig::default().token(API_TOKEN))
        .await
        .unwrap();
    let builder = |token: &str| {
        UpesiPayConfig::builder()
            .api_token(token)
            .channel_id(emulator.channel_id())
            .base_url(emulator.base_url())
            .callback_url(CallbackUrl::parse(&callback_url).unwrap())
            .callback_token(CALLBACK_TOKEN)
    };
    let config = builder(API_TOKEN).build().unwrap();
    let good = UpesiPay::new(config.clone()).unwrap();
    let bad = UpesiPay::new(builder(WRONG_API_TOKEN).build().unwrap()).unwrap();
    // The same token given preformatted.
    let preformatted = builder(&format!("Basic {API_TOKEN}")).build().unwrap();

    let shown = format!(
        "{:?}\n{config:?}\n{config:#?}\n{preformatted:?}\n{good:?}\n{good:#?}\n{bad:?}",
        builder(API_TOKEN)
    );
    let answers = secrets::exercise(&good, &bad, &Source(&emulator), "SECRETS-1").await;
    emulator.shutdown().await;

    let secrets = [
        Secret::new("API token", API_TOKEN),
        Secret::new("Authorization header", format!("Basic {API_TOKEN}")),
        Secret::new("wrong API token", WRONG_API_TOKEN),
        Secret::new(
            "wrong Authorization header",
            format!("Basic {WRONG_API_TOKEN}"),
        ),
        Secret::new("callback token", CALLBACK_TOKEN),
    ];
    secrets::assert_clean("upesipay", &shown, &answers, &logs.text(), &secrets);
}
