//! Mounting the tracker's callback receiver in an existing axum app, with the tracker's
//! worker running beside it. Run: `cargo run -p stk-tracker --example mount_in_axum`
//! (fake provider, SQLite file in the temp directory, port 3000 on 127.0.0.1).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use stk_tracker::{Event, HandlerError, SqlStore, Tracker};

/// What your shop does when a payment settles: fulfil the order, idempotently by event id.
async fn fulfil(event: Event) -> Result<(), HandlerError> {
    println!(
        "{} {} ({})",
        event.kind.name(),
        event.payment().reference,
        event.event_id
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = SqlStore::open_sqlite(&std::env::temp_dir().join("stk-example.db")).await?;
    let tracker = Tracker::builder(Arc::new(store))
        .provider(Arc::new(stk_mock::MockProvider::new()))
        .build();

    // Your app's own routes, plus POST /mpesa/callbacks/{provider}.
    let app = Router::new().route("/health", get(|| async { "ok" })).nest(
        "/mpesa/callbacks",
        stk_tracker::receiver::router(tracker.clone()),
    );

    // The worker: processes stored callbacks, reconciles, delivers events to `fulfil`.
    let worker = tracker.clone();
    tokio::spawn(async move {
        worker
            .run(&fulfil, Duration::from_secs(1), std::future::pending())
            .await;
    });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    eprintln!("callbacks: http://127.0.0.1:3000/mpesa/callbacks/mock");
    axum::serve(listener, app).await?;
    Ok(())
}
