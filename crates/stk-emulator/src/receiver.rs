//! A merchant's callback endpoint on loopback: captures what providers (or their emulators)
//! POST, as [`CallbackRequest`]s ready for [`StkProvider::parse_callback`](stk_core::StkProvider::parse_callback).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use stk_core::{CallbackAck, CallbackRequest};
use stk_http::receive::{MAX_CALLBACK_BODY, ack_response, callback_request};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::util::lock;

#[derive(Debug)]
struct Shared {
    received: Mutex<Vec<CallbackRequest>>,
    answer: CallbackAck,
}

/// A loopback HTTP endpoint that records every request (any path) as a [`CallbackRequest`]
/// with its headers, raw body (up to [`MAX_CALLBACK_BODY`]) and request target, and answers
/// with the given [`CallbackAck`].
///
/// ```no_run
/// use stk_core::CallbackAck;
/// use stk_emulator::CallbackReceiver;
///
/// # async fn demo() -> std::io::Result<()> {
/// let receiver = CallbackReceiver::start(CallbackAck::OK).await?;
/// let url = receiver.url("/mpesa/callback?token=s3cret"); // give this to the provider
/// // ... later:
/// let first = receiver.wait_for(|cb| !cb.body.is_empty(), std::time::Duration::from_secs(5)).await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct CallbackReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl CallbackReceiver {
    /// Binds `127.0.0.1` on a free port and answers every callback with `answer`.
    pub async fn start(answer: CallbackAck) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            answer,
        });
        let app = Router::new()
            .fallback(record)
            .layer(DefaultBodyLimit::max(MAX_CALLBACK_BODY))
            .with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "callback receiver stopped");
            }
        });
        Ok(Self {
            addr,
            shared,
            shutdown: Some(tx),
        })
    }

    /// The URL of `path_and_query` on this receiver, e.g. `http://127.0.0.1:PORT/cb?token=x`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<CallbackRequest> {
        lock(&self.shared.received).clone()
    }

    /// The first callback matching `predicate`, waiting (polling every 10 ms) up to `timeout`.
    pub async fn wait_for(
        &self,
        predicate: impl Fn(&CallbackRequest) -> bool,
        timeout: Duration,
    ) -> Option<CallbackRequest> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(cb) = self.received().into_iter().find(|cb| predicate(cb)) {
                return Some(cb);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for CallbackReceiver {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn record(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    lock(&shared.received).push(callback_request(&uri, &headers, body));
    ack_response(&shared.answer)
}
