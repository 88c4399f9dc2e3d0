//! The provider-independent part of an emulator: the loopback server, connections that can
//! really be closed from a handler, the fault pipeline and the ledger recording.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::faults::{Endpoint, Fault, Faults};
use crate::ledger::{Ledger, RecordedRequest};

/// The largest request body an emulator reads.
const MAX_BODY: usize = 1 << 20;

/// A request as handed to a provider's emulation.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) endpoint: Endpoint,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// What a provider's emulation answers, before faults are applied.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(header::HeaderName, String)>,
    pub(crate) body: Value,
}

impl Reply {
    pub(crate) fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn into_response_with(self, body: Body, content_type: &'static str) -> Response {
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        response
    }

    fn into_json_response(self) -> Response {
        let bytes = serde_json::to_vec(&self.body).unwrap_or_default();
        self.into_response_with(Body::from(bytes), "application/json")
    }
}

/// One provider's wire API, served by [`ServerHandle::start`].
#[stk_core::async_trait]
pub(crate) trait Api: Send + Sync + 'static {
    /// Classifies a request path.
    fn endpoint(&self, method: &Method, path: &str) -> Endpoint;
    /// Whether a header carries a secret (redacted in the ledger).
    fn is_secret_header(&self, name: &str) -> bool;
    /// The top-level response fields [`Fault::MissingFields`] removes for an endpoint.
    fn key_fields(&self, endpoint: Endpoint) -> &'static [&'static str];
    /// Processes a request.
    async fn handle(&self, request: Incoming) -> Reply;
}

struct Shared<A> {
    api: Arc<A>,
    faults: Faults,
    ledger: Ledger,
}

/// A running emulator server. Dropping it stops accepting connections.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// Binds `127.0.0.1:port` (`0` picks a free port) and serves `api`.
    pub(crate) async fn start<A: Api>(
        port: u16,
        api: Arc<A>,
        faults: Faults,
        ledger: Ledger,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            api,
            faults,
            ledger,
        });
        let app = Router::new().fallback(dispatch::<A>).with_state(shared);
        let (tx, rx) = oneshot::channel::<()>();
        let serve = axum::serve(
            KillableListener(listener),
            app.into_make_service_with_connect_info::<Connection>(),
        )
        .with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        let task = tokio::spawn(async move {
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "emulator server stopped");
            }
        });
        Ok(Self {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server: no new connections; open ones get a second to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A TCP listener whose connections a handler can kill.
struct KillableListener(TcpListener);

impl Listener for KillableListener {
    type Io = KillableIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (
                        KillableIo {
                            inner: stream,
                            killed: Connection::default(),
                        },
                        addr,
                    );
                }
                Err(e) => {
                    tracing::debug!(error = %e, "emulator accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// The kill switch of one connection, handed to handlers as connect info.
#[derive(Debug, Clone, Default)]
struct Connection(Arc<AtomicBool>);

impl Connection {
    /// Makes the connection fail every read and write, so the server drops it and the
    /// socket closes without a response.
    fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_killed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        stream.io().killed.clone()
    }
}

struct KillableIo {
    inner: TcpStream,
    killed: Connection,
}

fn killed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "killed by fault injection",
    )
}

impl AsyncRead for KillableIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.killed.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn redacted_headers<A: Api>(api: &A, headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let name = name.as_str().to_ascii_lowercase();
            let value = if api.is_secret_header(&name) {
                "[redacted]".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name, value)
        })
        .collect()
}

/// A response that is never written: the connection is already killed.
fn dropped() -> Response {
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

fn html_page(status: StatusCode) -> String {
    let reason = status.canonical_reason().unwrap_or("Error");
    format!(
        "<!DOCTYPE html>\n<html>\n<head><title>{code} {reason}</title></head>\n<body>\n<center><h1>{code} {reason}</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>\n",
        code = status.as_u16()
    )
}

fn add_extra_fields(value: &mut Value) {
    if let Value::Object(map) = value {
        for nested in map.values_mut() {
            if let Value::Object(inner) = nested {
                inner.insert(
                    "emulator_extra_nested".to_owned(),
                    serde_json::json!({"unexpected": [1, 2, 3]}),
                );
            }
        }
        map.insert(
            "emulator_extra_field".to_owned(),
            Value::String("clients must ignore unknown fields".to_owned()),
        );
        map.insert("x_new_feature_flag".to_owned(), Value::Bool(true));
    }
}

async fn dispatch<A: Api>(
    State(shared): State<Arc<Shared<A>>>,
    ConnectInfo(conn): ConnectInfo<Connection>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let endpoint = shared.api.endpoint(&parts.method, parts.uri.path());
    let fault = shared.faults.take(endpoint);
    let headers = redacted_headers(shared.api.as_ref(), &parts.headers);
    let mut record = RecordedRequest {
        method: parts.method.to_string(),
        path: path.clone(),
        endpoint,
        headers,
        body: Vec::new(),
        fault: fault.clone(),
    };

    if fault == Some(Fault::CloseBeforeBody) {
        shared.ledger.record_request(record);
        conn.kill();
        return dropped();
    }
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            shared.ledger.record_request(record);
            return Reply::json(
                StatusCode::PAYLOAD_TOO_LARGE,
                serde_json::json!({"detail": "Request body too large or unreadable."}),
            )
            .into_json_response();
        }
    };
    record.body = bytes.to_vec();
    shared.ledger.record_request(record);

    match &fault {
        Some(Fault::RateLimited { retry_after }) => {
            let mut reply = Reply::json(
                StatusCode::TOO_MANY_REQUESTS,
                serde_json::json!({"detail": "Request was throttled."}),
            );
            if let Some(after) = retry_after {
                reply
                    .headers
                    .push((header::RETRY_AFTER, after.as_secs().to_string()));
                reply.body = serde_json::json!({
                    "detail": format!("Request was throttled. Expected available in {} seconds.", after.as_secs())
                });
            }
            return reply.into_json_response();
        }
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let detail = status.canonical_reason().unwrap_or("Server Error");
            return Reply::json(status, serde_json::json!({ "detail": detail }))
                .into_json_response();
        }
        Some(Fault::HtmlError(code)) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::BAD_GATEWAY);
            return Reply::json(status, Value::Null)
                .into_response_with(Body::from(html_page(status)), "text/html");
        }
        _ => {}
    }

    let mut reply = shared
        .api
        .handle(Incoming {
            method: parts.method,
            path,
            endpoint,
            headers: parts.headers,
            body: bytes,
        })
        .await;

    match fault {
        Some(Fault::CloseAfterBody) => {
            conn.kill();
            dropped()
        }
        Some(Fault::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            reply.into_json_response()
        }
        Some(Fault::MalformedJson) => reply.into_response_with(
            Body::from("{\"invoice\": {state: PENDING,, <html>oops</html>"),
            "application/json",
        ),
        Some(Fault::TruncatedJson) => {
            let full = serde_json::to_vec(&reply.body).unwrap_or_default();
            let cut = full.get(..full.len() / 2).unwrap_or_default().to_vec();
            reply.into_response_with(Body::from(cut), "application/json")
        }
        Some(Fault::ExtraFields) => {
            add_extra_fields(&mut reply.body);
            reply.into_json_response()
        }
        Some(Fault::MissingFields) => {
            if let Value::Object(map) = &mut reply.body {
                for key in shared.api.key_fields(endpoint) {
                    map.remove(*key);
                }
            }
            reply.into_json_response()
        }
        _ => reply.into_json_response(),
    }
}
