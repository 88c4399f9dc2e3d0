//! Several accounts from one TOML file, each on its own database, provider and webhook: two
//! Daraja shortcodes side by side (two emulators on 127.0.0.1), the same order reference in
//! both, callbacks at `/v1/callbacks/{account}/daraja`.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use stk_emulator::{DarajaEmulator, DarajaEmulatorConfig};
use stk_serve::Account;
use stk_serve::file::AccountsFile;
use stk_tracker::{SqlStore, Tracker};

mod common;
use common::{Hooks, SECRET_B64, answer, hook_endpoint};

const DUKA_KEY: &str = "duka-key-0123456789";
const TILL_KEY: &str = "till-key-0123456789";

async fn shortcode(code: &str, passkey: &str, consumer: &str) -> DarajaEmulator {
    DarajaEmulator::start(
        DarajaEmulatorConfig::default()
            .shortcode(code, passkey)
            .consumer(consumer, format!("{consumer}-secret"))
            .delay(Duration::from_millis(50)),
    )
    .await
    .unwrap()
}

/// `[accounts.<name>]` for a Daraja shortcode.
fn account_table(
    name: &str,
    key: &str,
    emulator: &DarajaEmulator,
    service: &str,
    hook: &str,
) -> String {
    format!(
        r#"
[accounts.{name}]
api_key_sha256 = "{hash}"
database = "{name}.db"
webhook_url = "{hook}"
webhook_secret = {{ env = "HOOK_SECRET" }}

[accounts.{name}.providers.daraja]
base_url = "{base}"
consumer_key = "{ck}"
consumer_secret = {{ env = "{env_name}" }}
shortcode = "{code}"
passkey = "{passkey}"
callback_url = "{service}/v1/callbacks/{name}/daraja"
"#,
        hash = hex::encode(Sha256::digest(key.as_bytes())),
        base = emulator.base_url(),
        ck = emulator.consumer_key(),
        env_name = name.to_uppercase().replace('-', "_") + "_SECRET",
        code = emulator.shortcode(),
        passkey = emulator.passkey(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daraja_shortcodes_side_by_side() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let duka_daraja = shortcode("600100", "duka-passkey", "duka-ck").await;
    let till_daraja = shortcode("600200", "till-passkey", "till-ck").await;
    let (duka_hooks, till_hooks) = (Hooks::default(), Hooks::default());
    let dir = std::env::temp_dir().join(format!("stk-accounts-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("stk.toml");
    let text = account_table(
        "duka",
        DUKA_KEY,
        &duka_daraja,
        &base,
        &hook_endpoint(&duka_hooks).await,
    ) + &account_table(
        "till-2",
        TILL_KEY,
        &till_daraja,
        &base,
        &hook_endpoint(&till_hooks).await,
    );
    std::fs::write(&path, text).unwrap();
    let (duka_secret, till_secret) = (
        duka_daraja.consumer_secret().to_owned(),
        till_daraja.consumer_secret().to_owned(),
    );
    let env = move |name: &str| match name {
        "HOOK_SECRET" => Some(format!("whsec_{SECRET_B64}")),
        "DUKA_SECRET" => Some(duka_secret.clone()),
        "TILL_2_SECRET" => Some(till_secret.clone()),
        _ => None,
    };
    let file = AccountsFile::read(&path, env).unwrap();
    let mut accounts = Vec::new();
    for spec in file.accounts {
        let (provider, _) = spec.providers[0].build().unwrap();
        let store = SqlStore::open_sqlite(spec.database.as_ref()).await.unwrap();
        let tracker = Tracker::builder(Arc::new(store))
            .provider(Arc::from(provider))
            .build();
        accounts.push(Account::new(&spec.name, tracker, spec.config).unwrap());
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(stk_serve::serve(listener, accounts, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let post = |key: &'static str, amount: u64| {
        http.post(format!("{base}/v1/payments"))
            .bearer_auth(key)
            .json(&json!({ "phone": "0712345678", "amount": amount, "reference": "ORDER-1" }))
    };

    // The same order reference in both accounts: two orders, two payments.
    let (status, duka) = answer(post(DUKA_KEY, 100)).await;
    assert_eq!(status, StatusCode::CREATED, "{duka}");
    let (status, till) = answer(post(TILL_KEY, 250)).await;
    assert_eq!(status, StatusCode::CREATED, "{till}");
    assert_ne!(duka["id"], till["id"]);
    // A repeat is per account too.
    let (status, again) = answer(post(DUKA_KEY, 100)).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], duka["id"]);

    // Each shortcode's callback reached its own account, was confirmed with its own
    // credentials, and its webhook went to its own app.
    for (hooks, payment, amount) in [(&duka_hooks, &duka, 100), (&till_hooks, &till, 250)] {
        let delivered = hooks.wait_for(1).await;
        let body = &delivered[0].body;
        assert_eq!(body["type"], "payment.completed", "{body}");
        assert_eq!(body["data"]["id"], payment["id"]);
        assert_eq!(body["data"]["amount"], amount);
        assert_eq!(body["event"]["source"], "callback", "{body}");
    }
    for emulator in [&duka_daraja, &till_daraja] {
        let attempts = emulator.callback_attempts();
        assert_eq!(attempts.len(), 1, "acknowledged at once: {attempts:?}");
        assert_eq!(attempts[0].status, Some(200));
    }

    // A key sees only its own account's payments.
    let id = duka["id"].as_str().unwrap();
    let (status, _) = answer(
        http.get(format!("{base}/v1/payments/{id}"))
            .bearer_auth(TILL_KEY),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, shown) = answer(
        http.get(format!("{base}/v1/payments/{id}"))
            .bearer_auth(DUKA_KEY),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["state"], "completed");
    // With several accounts, no callback path without the account.
    let (status, _) = answer(
        http.post(format!("{base}/v1/callbacks/daraja"))
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let _ = stop.send(());
    service.await.unwrap().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
