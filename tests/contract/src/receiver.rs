//! What the adapters' emulator harnesses share (feature `emulator`): a loopback receiver
//! capturing the callbacks an emulator delivers, found by their JSON bodies, and the forgery
//! of a callback whose URL carries a token.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use stk_core::{CallbackAck, CallbackRequest};
use stk_emulator::CallbackReceiver;

/// How long [`Received::wait_for`] waits for a callback.
pub const CALLBACK_DEADLINE: Duration = Duration::from_secs(10);

/// The callbacks an emulator delivers, captured by a loopback [`CallbackReceiver`]. Clones
/// share the receiver.
#[derive(Debug, Clone)]
pub struct Received(Arc<CallbackReceiver>);

impl Received {
    /// Starts a receiver on `127.0.0.1` answering every callback with `ack`; returns it and
    /// the URL of `path` on it (the callback URL to configure).
    pub async fn start(ack: CallbackAck, path: &str) -> (Self, String) {
        let receiver = CallbackReceiver::start(ack).await.unwrap();
        let url = receiver.url(path);
        (Self(Arc::new(receiver)), url)
    }

    /// Every callback received so far, in arrival order.
    pub fn all(&self) -> Vec<CallbackRequest> {
        self.0.received()
    }

    /// The callbacks received so far whose JSON body satisfies `matches`.
    pub fn matching(&self, matches: impl Fn(&Value) -> bool) -> Vec<CallbackRequest> {
        self.all()
            .into_iter()
            .filter(|cb| json(cb).is_some_and(|v| matches(&v)))
            .collect()
    }

    /// The first callback whose JSON body satisfies `matches`, waiting up to
    /// [`CALLBACK_DEADLINE`].
    pub async fn wait_for(
        &self,
        matches: impl Fn(&Value) -> bool + Send + Sync,
    ) -> Option<CallbackRequest> {
        self.0
            .wait_for(
                |cb| json(cb).is_some_and(|v| matches(&v)),
                CALLBACK_DEADLINE,
            )
            .await
    }

    /// The callbacks about the payment whose `CheckoutRequestID` is `checkout`.
    pub fn for_checkout(&self, checkout: &str) -> Vec<CallbackRequest> {
        self.matching(|v| checkout_request_id(v) == Some(checkout))
    }

    /// The first callback about the payment whose `CheckoutRequestID` is `checkout`, waiting
    /// up to [`CALLBACK_DEADLINE`].
    pub async fn wait_for_checkout(&self, checkout: &str) -> Option<CallbackRequest> {
        self.wait_for(|v| checkout_request_id(v) == Some(checkout))
            .await
    }
}

/// A callback's body as JSON, if it is JSON.
pub fn json(cb: &CallbackRequest) -> Option<Value> {
    serde_json::from_slice(&cb.body).ok()
}

/// The `CheckoutRequestID` of a callback body: nested under `response` (UpesiPay, Lipia's
/// current shape), under `Body.stkCallback` (Daraja) or at the top (Lipia's flat shape).
pub fn checkout_request_id(body: &Value) -> Option<&str> {
    body.pointer("/response/CheckoutRequestID")
        .or_else(|| body.pointer("/Body/stkCallback/CheckoutRequestID"))
        .or_else(|| body.get("CheckoutRequestID"))
        .and_then(Value::as_str)
}

/// A forgery of `genuine` for adapters that authenticate callbacks by a `token` in their
/// URL: the same body and headers, posted to the same path (`default_path` if `genuine` has
/// none) with a guessed token.
pub fn forge_token(genuine: &CallbackRequest, default_path: &str) -> CallbackRequest {
    let target = genuine.path_and_query.as_deref().unwrap_or(default_path);
    let path = target.split('?').next().unwrap_or("/");
    let mut forged = CallbackRequest::new(genuine.body.clone())
        .path_and_query(format!("{path}?token=guessed-token"));
    forged.headers = genuine.headers.clone();
    forged
}
