//! Secrets never show (issue 12): the secret key, the API token, their `Authorization:
//! Bearer` values and the webhook challenge appear nowhere in the config's or the provider's
//! `Debug`, in any answer or error (with the right credentials and with a wrong secret key,
//! refused with 401), or in the tracing output at TRACE; for both API generations.
#![allow(clippy::unwrap_used)]

use stk_contract::secrets::{self, Callbacks, Secret};
use stk_core::{CallbackRequest, PaymentId};
use stk_emulator::{KulmiPayEmulator, KulmiPayEmulatorConfig};
use stk_kulmipay::{ApiGeneration, KulmiPay, KulmiPayConfig};

const SECRET_KEY: &str = "ISSecretKey_test_SECRETkulmi4c9e21b7a0";
const WRONG_SECRET_KEY: &str = "ISSecretKey_test_WRONGkulmi8d3f6a2e15";
const API_TOKEN: &str = "kulmi-SECRET-api-token-e27a90c4d1";
const CHALLENGE: &str = "kulmi-SECRET-webhook-challenge-5b3c";

struct Source<'a>(&'a KulmiPayEmulator);

impl Callbacks for Source<'_> {
    fn genuine(&self, id: &PaymentId) -> Option<CallbackRequest> {
        self.0.callback_for(id.as_str())
    }

    /// A guessed challenge, with the genuine signature header.
    fn forge(&self, genuine: &CallbackRequest) -> CallbackRequest {
        let mut body: serde_json::Value = serde_json::from_slice(&genuine.body).unwrap();
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

#[tokio::test]
async fn no_secret_in_debug_errors_or_traces() {
    // Current-thread runtime: the scoped subscriber sees every task, the emulator's included.
    let (logs, _guard) = secrets::capture_traces();

    let emulator = KulmiPayEmulator::start(
        KulmiPayEmulatorConfig::default()
            .secret_key(SECRET_KEY)
            .api_token(API_TOKEN)
            .webhook_challenge(CHALLENGE)
            .sign_webhooks(true),
    )
    .await
    .unwrap();
    let builder = |api, key: &str| {
        KulmiPayConfig::builder()
            .api(api)
            .secret_key(key)
            .api_token(API_TOKEN)
            .base_url(emulator.base_url())
            .webhook_challenge(CHALLENGE)
    };
    let mut shown = String::new();
    let mut answers = String::new();
    for (n, api) in [ApiGeneration::Express, ApiGeneration::Collection]
        .into_iter()
        .enumerate()
    {
        let config = builder(api, SECRET_KEY).build().unwrap();
        let good = KulmiPay::new(config.clone()).unwrap();
        let bad = KulmiPay::new(builder(api, WRONG_SECRET_KEY).build().unwrap()).unwrap();
        shown.push_str(&format!(
            "{:?}\n{config:?}\n{config:#?}\n{good:?}\n{good:#?}\n{bad:?}\n",
            builder(api, SECRET_KEY)
        ));
        let reference = format!("SECRETS-{n}");
        answers.push_str(&secrets::exercise(&good, &bad, &Source(&emulator), &reference).await);
    }
    emulator.shutdown().await;

    let secrets = [
        Secret::new("secret key", SECRET_KEY),
        Secret::new("Authorization header", format!("Bearer {SECRET_KEY}")),
        Secret::new("API token", API_TOKEN),
        Secret::new(
            "collection Authorization header",
            format!("Bearer {API_TOKEN}"),
        ),
        Secret::new("wrong secret key", WRONG_SECRET_KEY),
        Secret::new(
            "wrong Authorization header",
            format!("Bearer {WRONG_SECRET_KEY}"),
        ),
        Secret::new("webhook challenge", CHALLENGE),
    ];
    secrets::assert_clean("kulmipay", &shown, &answers, &logs.text(), &secrets);
}
