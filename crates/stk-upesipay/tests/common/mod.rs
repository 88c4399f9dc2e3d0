//! Shared test harness: an UpesiPay emulator, a callback receiver, and a provider pointed at
//! the emulator.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Uri};
use stk_core::{CallbackRequest, CallbackUrl, PaymentId, StkPushRequest, async_trait};
use stk_mock::emulator::{UpesiPayEmulator, UpesiPayEmulatorConfig};
use stk_upesipay::{UpesiPay, UpesiPayConfig, UpesiPayConfigBuilder};

pub const CALLBACK_TOKEN: &str = "emulator-callback-token";

/// Captures the callbacks the emulator delivers.
#[derive(Clone, Default)]
pub struct Callbacks {
    received: Arc<Mutex<Vec<CallbackRequest>>>,
}

impl Callbacks {
    /// Starts a receiver on 127.0.0.1; returns its URL.
    pub async fn start(&self) -> String {
        let received = self.received.clone();
        let app = axum::Router::new().route(
            "/callbacks/upesipay",
            axum::routing::post(move |uri: Uri, headers: HeaderMap, body: Bytes| {
                let received = received.clone();
                async move {
                    let target = uri
                        .path_and_query()
                        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
                    let mut cb = CallbackRequest::new(body.to_vec()).path_and_query(target);
                    for (name, value) in &headers {
                        cb = cb.header(
                            name.as_str(),
                            String::from_utf8_lossy(value.as_bytes()).into_owned(),
                        );
                    }
                    received.lock().unwrap().push(cb);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}/callbacks/upesipay")
    }

    pub fn all(&self) -> Vec<CallbackRequest> {
        self.received.lock().unwrap().clone()
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
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(cb) = self.0.callbacks.for_checkout(&checkout).into_iter().next() {
                return Some(cb);
            }
            if tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
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
        let callbacks = Callbacks::default();
        let callback_url = callbacks.start().await;
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
