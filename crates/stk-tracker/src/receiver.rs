//! The embeddable callback receiver (feature `axum`): a `Router` with one route per
//! configured provider, to `.nest()` into your own app, and [`serve`] for a standalone
//! listener with header and idle timeouts and a connection limit.
//!
//! ```no_run
//! # async fn demo(tracker: stk_tracker::Tracker) -> std::io::Result<()> {
//! // In your existing axum app: POST /mpesa/callbacks/{provider}
//! let app: axum::Router = axum::Router::new()
//!     .nest("/mpesa/callbacks", stk_tracker::receiver::router(tracker.clone()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use stk_http::receive::{MAX_CALLBACK_BODY, ack_response, callback_request};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::{Tracker, TrackerError};

/// The longest a callback request may take to arrive in full.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest the request headers may take ([`serve`]).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection may stay open, idle or not ([`serve`]).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Connections served at once by [`serve`]; more are closed at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// Routes `POST /{provider}` for every provider the tracker has: the callback is verified,
/// stored and acknowledged at once (the provider's documented acknowledgement), then
/// processed by [`Tracker::run`]. What is not the provider's callback or fails its
/// verification gets 400 and is not stored (only counted); bodies over 64 KiB get 413;
/// requests slower than [`REQUEST_TIMEOUT`] get 408; unknown providers 404; a store failure
/// 503 (the provider will retry).
pub fn router(tracker: Tracker) -> Router {
    Router::new()
        .route("/{provider}", post(receive))
        // A secret token in the path (e.g. Daraja's `/daraja/<token>`) reaches the provider's
        // verification through the request target.
        .route("/{provider}/{*rest}", post(receive_nested))
        .layer(DefaultBodyLimit::max(MAX_CALLBACK_BODY))
        .layer(middleware::from_fn(request_timeout))
        .with_state(tracker)
}

async fn request_timeout(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request too slow").into_response(),
    }
}

async fn receive_nested(
    state: State<Tracker>,
    Path((provider, _rest)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(state, Path(provider), uri, headers, body).await
}

async fn receive(
    State(tracker): State<Tracker>,
    Path(provider): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let callback = callback_request(&uri, &headers, body);
    match tracker.receive(&provider, callback).await {
        Ok(received) => ack_response(&received.ack),
        Err(TrackerError::UnknownProvider(_)) => {
            (StatusCode::NOT_FOUND, "no such provider").into_response()
        }
        Err(TrackerError::Overloaded { .. }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "30")],
            "busy: try again later",
        )
            .into_response(),
        // Nothing stored: not this provider's callback, or not verifiable.
        Err(TrackerError::Refused { .. }) => {
            (StatusCode::BAD_REQUEST, "not a valid callback").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "a callback could not be stored; the provider will retry");
            (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response()
        }
    }
}

/// Serves `app` on `listener` until `shutdown`, with [`HEADER_TIMEOUT`], a
/// [`CONNECTION_LIFETIME`] and at most [`MAX_CONNECTIONS`] connections: a slow or idle client
/// cannot hold the server. A connection past its lifetime, and every connection at shutdown,
/// is closed gracefully: a request in flight finishes (within [`REQUEST_TIMEOUT`]), an idle
/// connection closes at once.
pub async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, most likely: back off instead of spinning.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return drop(slot),
                () = tokio::time::sleep(CONNECTION_LIFETIME) => {}
                _ = stopping.wait_for(|s| *s) => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, connection).await;
            drop(slot);
        });
    }
    // Stop accepting; close every connection gracefully and wait for them.
    let _ = stop.send(true);
    let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, slots.acquire_many(all)).await;
}
