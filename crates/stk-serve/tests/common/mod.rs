//! What the service's tests share: the app's webhook endpoint, and asking over HTTP.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use serde_json::Value;
use stk::mock::MockProvider;
use stk_serve::sign;

pub const KEY: &str = "test-key-0123456789";
pub const SECRET_B64: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The status and JSON body (`null` if none) of `request`'s answer.
pub async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let answer = request.send().await.unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// The fake provider, fast.
pub fn fake_provider() -> MockProvider {
    MockProvider::builder()
        .delay(Duration::from_millis(50))
        .build()
}

/// One delivery as the app's endpoint saw it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub body: Value,
}

/// The app's webhook endpoint: checks the signature, answers the scripted statuses (then 200).
#[derive(Clone, Default)]
pub struct Hooks {
    pub seen: Arc<Mutex<Vec<Delivery>>>,
    pub answers: Arc<Mutex<Vec<StatusCode>>>,
}

async fn hook(
    axum::extract::State(hooks): axum::extract::State<Hooks>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    let (id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
    let secret = base64::engine::general_purpose::STANDARD
        .decode(SECRET_B64)
        .unwrap();
    let expected = sign(&secret, &id, timestamp.parse().unwrap(), &body);
    assert_eq!(
        header("webhook-signature"),
        expected,
        "a forged or broken signature"
    );
    hooks.seen.lock().unwrap().push(Delivery {
        id,
        body: serde_json::from_slice(&body).unwrap(),
    });
    let mut answers = hooks.answers.lock().unwrap();
    if answers.is_empty() {
        StatusCode::OK
    } else {
        answers.remove(0)
    }
}

/// Serves `hooks` on 127.0.0.1; its URL.
pub async fn hook_endpoint(hooks: &Hooks) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/hooks", axum::routing::post(hook))
        .with_state(hooks.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

impl Hooks {
    /// The first `n` deliveries (or more), waiting up to 10 s for them.
    pub async fn wait_for(&self, n: usize) -> Vec<Delivery> {
        for _ in 0..200 {
            let seen = self.seen.lock().unwrap().clone();
            if seen.len() >= n {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{n} deliveries expected, saw {:?}",
            self.seen.lock().unwrap()
        );
    }
}
