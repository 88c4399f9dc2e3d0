//! The tracker with an event handler: push an order, then act once on its final event.
//! `cargo run -p stk-tracker --example track_with_handler` (the fake provider, a SQLite file
//! in the temporary directory, no network).

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use stk_core::StkPushRequest;
use stk_mock::MockProvider;
use stk_tracker::{Event, EventKind, HandlerError, SqlStore, Tracker};

/// Fulfils an order once it is paid; idempotent by event id in a real shop.
async fn fulfil(event: Event) -> Result<(), HandlerError> {
    let payment = event.payment();
    match &event.kind {
        EventKind::Completed(done) if !done.paid_late => println!(
            "order {} paid: KES {}, receipt {:?}",
            payment.reference, payment.amount, done.receipt
        ),
        EventKind::Failed(failed) => println!(
            "order {} not paid ({})",
            payment.reference,
            failed.reason.as_deref().unwrap_or("no reason given")
        ),
        other => println!(
            "order {}: {} (look before acting)",
            payment.reference,
            other.name()
        ),
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join(format!("stk-example-{}.db", std::process::id()));
    let store = SqlStore::open_sqlite(&path).await?;
    let tracker = Tracker::builder(Arc::new(store))
        .provider(Arc::new(MockProvider::new()))
        .build();
    let request = StkPushRequest::builder()
        .phone("0712345678")
        .amount(100)
        .reference("ORDER-1")
        .build()?;
    let attempt = tracker.push(&request).await?;
    println!("recorded {} ({})", attempt.id, attempt.state);
    // In a service, `tracker.run(&fulfil, tick, shutdown)` does this in the background: the
    // callback (or the sweeper's status query) settles the attempt, then its event is
    // delivered. Here: ask the provider now, then deliver.
    for _ in 0..50 {
        if tracker.check(&attempt.id).await?.state.is_final() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracker.run_once(&fulfil).await;
    let _ = std::fs::remove_file(&path);
    Ok(())
}
