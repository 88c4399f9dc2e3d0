//! The static loopback server: each provider's documented push answer under `/{provider}/`,
//! optionally after a fixed delay. No emulator logic in the way of the client's cost.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::providers::static_answer;

/// `stk-bench static-server`.
#[derive(clap::Args)]
pub(crate) struct Options {
    /// Added to every answer (the in-flight section uses 200).
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

/// Serves until killed; prints the port on stdout first.
pub(crate) fn run(options: Options) -> Result<(), String> {
    let runtime = crate::runtime(options.workers)?;
    runtime.block_on(serve(Duration::from_millis(options.delay_ms)))
}

async fn serve(delay: Duration) -> Result<(), String> {
    let listener = crate::receiver::listen().await?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    println!("{port}");
    let app = Router::new().fallback(move |uri: Uri, _body: Bytes| answer(uri, delay));
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}

async fn answer(uri: Uri, delay: Duration) -> Response {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match static_answer(uri.path()) {
        Some(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        // Anything else (the callback section's ceiling row): a bare acknowledgement.
        None => (StatusCode::OK, "ok").into_response(),
    }
}
