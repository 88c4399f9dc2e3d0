//! The fake provider's results reach the tracker as a provider's callbacks would, in process.

use stk::mock::MockProvider;
use stk_tracker::Tracker;

/// Hands every result the fake provider emits to the tracker as its callback (stored,
/// confirmed by status query, then events and webhooks as for a real provider). Runs until
/// the provider is dropped.
pub fn forward_mock_callbacks(mock: MockProvider, tracker: Tracker) -> tokio::task::JoinHandle<()> {
    let mut claims = mock.subscribe();
    tokio::spawn(async move {
        loop {
            match claims.recv().await {
                Ok(claim) => {
                    let Some(callback) = claim.payment_id.and_then(|id| mock.callback_for(&id))
                    else {
                        continue;
                    };
                    if let Err(e) = tracker.receive(stk::mock::NAME, callback).await {
                        tracing::warn!(error = %e, "the fake provider's callback was not stored");
                    }
                }
                // Missed some under load: the sweeper's status queries settle them.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}
