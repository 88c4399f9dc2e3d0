//! The routes, and serving them with the tracker's worker beside them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::api::ApiError;
use crate::config::ServeConfig;
use crate::limit::RateLimit;
use crate::metrics::{self, Metrics};
use crate::webhooks::WebhookSender;
use crate::{auth, payments};
use stk_tracker::Tracker;

/// The largest payments request body read (a payment is well under 1 KiB).
pub const MAX_BODY: usize = 16 * 1024;

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) tracker: Tracker,
    pub(crate) config: ServeConfig,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) limit: Arc<RateLimit>,
}

impl AppState {
    fn new(tracker: Tracker, config: ServeConfig, metrics: Arc<Metrics>) -> Self {
        Self {
            limit: Arc::new(RateLimit::new(config.payments_per_second)),
            tracker,
            config,
            metrics,
        }
    }
}

/// The service's routes: `/v1/payments` and `/metrics` (Bearer key),
/// `/v1/callbacks/{provider}` (the tracker's receiver, unauthenticated as providers require),
/// `/healthz`, `/readyz`.
pub fn app(tracker: Tracker, config: ServeConfig) -> Router {
    routes(AppState::new(tracker, config, Arc::default()))
}

fn routes(state: AppState) -> Router {
    let tracker = state.tracker.clone();
    let payments = Router::new()
        .route("/", post(payments::create).get(payments::list))
        .route("/{id}", get(payments::show))
        .route("/{id}/reconcile", post(payments::reconcile))
        .route("/{id}/resolve", post(payments::resolve))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ))
        .with_state(state.clone());
    let metrics = Router::new()
        .route("/", get(metrics::metrics))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ))
        .with_state(state.clone());
    Router::new()
        .nest("/v1/payments", payments)
        .nest("/metrics", metrics)
        .nest("/v1/callbacks", stk_tracker::receiver::router(tracker))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready).with_state(state))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
}

/// Ready when the store answers (its migrations ran when it was opened).
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    match state
        .tracker
        .payments(&stk_tracker::AttemptQuery::newest(1))
        .await
    {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store",
                "the payment store does not answer",
            )
            .into_response()
        }
    }
}

/// Serves the API on `listener` and runs the tracker's worker (callbacks, sweeps, webhooks)
/// until `shutdown`: then it stops accepting, lets requests in flight finish, finishes the
/// worker's round and returns; undelivered webhooks stay in the store for the next start.
pub async fn serve(
    listener: TcpListener,
    tracker: Tracker,
    config: ServeConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), reqwest::Error> {
    let metrics = Arc::<Metrics>::default();
    let sender =
        WebhookSender::new(tracker.clone(), config.webhook.clone())?.counting(Arc::clone(&metrics));
    let app = routes(AppState::new(tracker.clone(), config, metrics));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = stk_tracker::receiver::serve(listener, app, {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    });
    let worker = tracker.run(&sender, Duration::from_millis(500), {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    });
    let watch = async {
        shutdown.await;
        let _ = stop.send(true);
    };
    tokio::join!(server, worker, watch);
    Ok(())
}
