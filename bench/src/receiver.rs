//! Callback receivers under load: parse and acknowledge only, or through the tracker (store,
//! acknowledge) on SQLite or PostgreSQL. Prints its port and serves until killed; the runner
//! counts what the tracker stored (nothing may be lost).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use stk_core::StkProvider;
use stk_http::receive::{ack_response, callback_request};
use stk_tracker::{SqlStore, Tracker};
use tokio::net::{TcpListener, TcpSocket};

use crate::providers::{PROVIDERS, sdk};

/// `stk-bench receiver`.
#[derive(clap::Args)]
pub(crate) struct Options {
    /// `parse` (verify, parse, acknowledge), `sqlite` or `postgres` (the tracker's receiver).
    #[arg(long, default_value = "parse")]
    mode: String,
    /// The database for `sqlite` (a file path) or `postgres` (a URL).
    #[arg(long)]
    database: Option<String>,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

/// A loopback listener with a deep accept queue (a flash sale connects all at once).
pub(crate) async fn listen() -> Result<TcpListener, String> {
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket
        .bind(([127, 0, 0, 1], 0).into())
        .map_err(|e| e.to_string())?;
    socket.listen(16_384).map_err(|e| e.to_string())
}

/// Serves until stdin closes; prints the port first and the count last.
pub(crate) fn run(options: Options) -> Result<(), String> {
    let runtime = crate::runtime(options.workers)?;
    runtime.block_on(serve(options))
}

async fn serve(options: Options) -> Result<(), String> {
    let providers: HashMap<&'static str, Arc<dyn StkProvider>> = PROVIDERS
        .iter()
        .map(|&name| Ok((name, Arc::from(sdk(name, "http://127.0.0.1:9")?))))
        .collect::<Result<_, String>>()?;
    let app = match options.mode.as_str() {
        "parse" => Router::new()
            .route("/{provider}", post(parse_and_ack))
            .with_state(Arc::new(providers)),
        "sqlite" | "postgres" => {
            let url = match (options.mode.as_str(), options.database) {
                ("sqlite", Some(path)) => format!("sqlite://{path}?mode=rwc"),
                ("postgres", Some(url)) => url,
                _ => return Err(format!("--mode {} needs --database", options.mode)),
            };
            let store = SqlStore::connect(&url).await.map_err(|e| e.to_string())?;
            let mut builder = Tracker::builder(Arc::new(store));
            for provider in providers.into_values() {
                builder = builder.provider(provider);
            }
            stk_tracker::receiver::router(builder.build())
        }
        other => {
            return Err(format!(
                "unknown --mode {other:?}: parse, sqlite or postgres"
            ));
        }
    };
    let listener = listen().await?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    println!("{port}");
    stk_tracker::receiver::serve(listener, app, std::future::pending()).await;
    Ok(())
}

type Providers = Arc<HashMap<&'static str, Arc<dyn StkProvider>>>;

async fn parse_and_ack(
    State(providers): State<Providers>,
    Path(provider): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(provider) = providers.get(provider.as_str()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match provider.parse_callback(&callback_request(&uri, &headers, body)) {
        Ok(_) => ack_response(&provider.callback_ack()),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}
