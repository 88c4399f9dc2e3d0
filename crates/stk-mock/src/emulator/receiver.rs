//! A merchant's callback endpoint on loopback: captures what providers (or their emulators)
//! POST, as [`CallbackRequest`]s ready for [`StkProvider::parse_callback`](stk_core::StkProvider::parse_callback).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use stk_core::{CallbackAck, CallbackRequest};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[derive(Debug)]
struct Shared {
    received: Mutex<Vec<CallbackRequest>>,
    answer: CallbackAck,
}

/// A loopback HTTP endpoint that records every POST (any path) as a [`CallbackRequest`]
/// with its headers, raw body and request target.
///
/// ```no_run
/// use stk_core::CallbackAck;
/// use stk_mock::emulator::CallbackReceiver;
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
        let app = Router::new().fallback(record).with_state(shared.clone());
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
        self.shared
            .received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
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
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let mut callback = CallbackRequest::new(body.to_vec()).path_and_query(target);
    for (name, value) in &headers {
        callback = callback.header(
            name.as_str(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        );
    }
    shared
        .received
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(callback);
    let answer = shared.answer;
    let mut response = answer.body.into_response();
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(answer.content_type),
    );
    response
}
