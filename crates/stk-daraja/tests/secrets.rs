//! Secrets never show (issue 12): the consumer key and secret, their `Authorization: Basic`
//! value, the passkey and the `Password` made from it, the OAuth access tokens and their
//! `Authorization: Bearer` values, and the callback token (in the query or as a path segment)
//! appear nowhere in the config's or the provider's `Debug`, in any answer or error (with the
//! right credentials, with a wrong consumer secret, and across a revoked token's refresh), or
//! in the tracing output at TRACE.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use stk_contract::receiver::{self, Received};
use stk_contract::secrets::{self, Callbacks, Secret};
use stk_core::{CallbackRequest, CallbackUrl, PaymentId, PollPolicy, StkProvider, wait_for_final};
use stk_daraja::{CALLBACK_ACK, Daraja, DarajaConfig, TokenPlacement};
use stk_emulator::{DarajaEmulator, DarajaEmulatorConfig, Endpoint};

const CONSUMER_KEY: &str = "daraja-SECRET-consumer-key-0b6f3e";
const CONSUMER_SECRET: &str = "daraja-SECRET-consumer-secret-d41a97";
const WRONG_CONSUMER_SECRET: &str = "daraja-WRONG-consumer-secret-7c2e58";
const PASSKEY: &str = "daraja-SECRET-passkey-93fa1c6e0d8b";
const CALLBACK_TOKEN: &str = "daraja-SECRET-callback-token-4e1b";
const CALLBACK_PATH: &str = "/webhooks/daraja";

struct Source<'a>(&'a DarajaEmulator);

impl Callbacks for Source<'_> {
    fn genuine(&self, id: &PaymentId) -> Option<CallbackRequest> {
        self.0.callback_for(id.as_str())
    }

    fn forge(&self, genuine: &CallbackRequest) -> CallbackRequest {
        receiver::forge_token(genuine, CALLBACK_PATH)
    }
}

/// `genuine` with its last path segment (the token) replaced by a guess.
fn forge_path_token(genuine: &CallbackRequest) -> CallbackRequest {
    let target = genuine.path_and_query.as_deref().unwrap();
    let path = target.split('?').next().unwrap();
    let (parent, _token) = path.trim_end_matches('/').rsplit_once('/').unwrap();
    let mut forged = CallbackRequest::new(genuine.body.clone())
        .path_and_query(format!("{parent}/guessed-token"));
    forged.headers = genuine.headers.clone();
    forged
}

fn basic(key: &str, secret: &str) -> String {
    STANDARD.encode(format!("{key}:{secret}"))
}

#[tokio::test]
async fn no_secret_in_debug_errors_or_traces() {
    // Current-thread runtime: the scoped subscriber sees every task, the emulator's included.
    let (logs, _guard) = secrets::capture_traces();

    let (_callbacks, callback_url) = Received::start(CALLBACK_ACK, CALLBACK_PATH).await;
    let emulator = DarajaEmulator::start(
        DarajaEmulatorConfig::default()
            .consumer(CONSUMER_KEY, CONSUMER_SECRET)
            .shortcode("174379", PASSKEY),
    )
    .await
    .unwrap();
    let builder = |secret: &str| {
        DarajaConfig::builder()
            .consumer_key(CONSUMER_KEY)
            .consumer_secret(secret)
            .passkey(PASSKEY)
            .base_url(emulator.base_url())
            .callback_url(CallbackUrl::parse(&callback_url).unwrap())
            .callback_token(CALLBACK_TOKEN)
    };
    let config = builder(CONSUMER_SECRET).build().unwrap();
    let good = Daraja::new(config.clone()).unwrap();
    let bad = Daraja::new(builder(WRONG_CONSUMER_SECRET).build().unwrap()).unwrap();
    let in_path = builder(CONSUMER_SECRET)
        .callback_token_in(TokenPlacement::Path)
        .build()
        .unwrap();
    let in_path = Daraja::new(in_path).unwrap();

    let mut shown = format!(
        "{:?}\n{config:?}\n{config:#?}\n{good:?}\n{good:#?}\n{bad:?}\n{in_path:?}\n",
        builder(CONSUMER_SECRET)
    );
    let mut answers = secrets::exercise(&good, &bad, &Source(&emulator), "SECRETS-1").await;

    // The callback token as a path segment: a genuine callback and a forgery.
    let accepted = in_path
        .initiate(&stk_contract::faults::request("SECRETS-2"))
        .await
        .unwrap();
    let poll = PollPolicy::default()
        .intervals(Duration::from_millis(20), Duration::from_millis(100))
        .deadline(Duration::from_secs(10));
    wait_for_final(&in_path, &accepted.payment_id, &poll)
        .await
        .unwrap();
    let genuine = emulator.callback_for(accepted.payment_id.as_str()).unwrap();
    let parsed = in_path.parse_callback(&genuine);
    assert!(parsed.is_ok(), "{parsed:?}");
    let forged = in_path.parse_callback(&forge_path_token(&genuine));
    assert_eq!(forged.as_ref().unwrap_err().kind(), "invalid_callback");
    answers.push_str(&format!("{accepted:?}\n{parsed:?}\n{forged:?}\n"));
    if let Err(e) = &forged {
        answers.push_str(&format!("{e}\n"));
    }

    // A revoked token: refused, refreshed, the query sent once more.
    let mut tokens = emulator.access_tokens();
    emulator.revoke_tokens();
    let status = good.status(&accepted.payment_id).await;
    assert!(status.is_ok(), "{status:?}");
    answers.push_str(&format!("{status:?}\n"));
    tokens.extend(emulator.access_tokens());
    assert_eq!(
        tokens.len(),
        3,
        "one token per provider, one after the revocation"
    );
    shown.push_str(&format!("{good:?}\n"));

    let passwords: Vec<String> = emulator
        .ledger()
        .requests_to(Endpoint::Initiate)
        .iter()
        .filter_map(|r| Some(r.json()?["Password"].as_str()?.to_owned()))
        .collect();
    assert!(!passwords.is_empty());
    emulator.shutdown().await;

    let mut secrets = vec![
        Secret::new("consumer key", CONSUMER_KEY),
        Secret::new("consumer secret", CONSUMER_SECRET),
        Secret::new("Basic credentials", basic(CONSUMER_KEY, CONSUMER_SECRET)),
        Secret::new(
            "token request Authorization header",
            format!("Basic {}", basic(CONSUMER_KEY, CONSUMER_SECRET)),
        ),
        Secret::new("wrong consumer secret", WRONG_CONSUMER_SECRET),
        Secret::new(
            "wrong Basic credentials",
            basic(CONSUMER_KEY, WRONG_CONSUMER_SECRET),
        ),
        Secret::new("passkey", PASSKEY),
        Secret::new("callback token", CALLBACK_TOKEN),
    ];
    for token in tokens {
        secrets.push(Secret::new("access token", token.clone()));
        secrets.push(Secret::new(
            "Authorization header",
            format!("Bearer {token}"),
        ));
    }
    for password in passwords {
        secrets.push(Secret::new(
            "Password (base64 of shortcode, passkey, time)",
            password,
        ));
    }
    secrets::assert_clean("daraja", &shown, &answers, &logs.text(), &secrets);
}
