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

use crate::account::{Account, check_distinct};
use crate::api::ApiError;
use crate::config::ConfigError;
use crate::metrics;
use crate::webhooks::WebhookSender;
use crate::{auth, payments};

/// The largest payments request body read (a payment is well under 1 KiB).
pub const MAX_BODY: usize = 16 * 1024;

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) accounts: Arc<[Arc<Account>]>,
}

/// The service's routes: `/v1/payments` and `/metrics` (Bearer key: it says which account),
/// `/v1/callbacks/{account}/{provider}` (each account's receiver, unauthenticated as providers
/// require; with one account also `/v1/callbacks/{provider}`), `/healthz`, `/readyz`,
/// `/openapi.json`.
///
/// Refuses two accounts of one name or one key.
pub fn app(accounts: Vec<Account>) -> Result<Router, ConfigError> {
    check_distinct(&accounts)?;
    Ok(routes(&AppState {
        accounts: accounts.into_iter().map(Arc::new).collect(),
    }))
}

fn routes(state: &AppState) -> Router {
    let payments = Router::new()
        .route("/", post(payments::create).get(payments::list))
        .route("/{id}", get(payments::show))
        .route("/{id}/reconcile", post(payments::reconcile))
        .route("/{id}/resolve", post(payments::resolve))
        .layer(DefaultBodyLimit::max(MAX_BODY));
    let keyed = Router::new()
        .nest("/v1/payments", payments)
        .route("/metrics", get(metrics::metrics))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    let mut router = Router::new()
        .merge(keyed)
        .merge(crate::dashboard::routes(state.accounts.clone()))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready).with_state(state.clone()))
        .route("/openapi.json", get(crate::openapi::document))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") });
    for account in state.accounts.iter() {
        router = router.nest(
            &format!("/v1/callbacks/{}", account.name()),
            stk_tracker::receiver::router(account.tracker.clone()),
        );
    }
    if let [only] = &state.accounts[..] {
        router = router.nest(
            "/v1/callbacks",
            stk_tracker::receiver::router(only.tracker.clone()),
        );
    }
    router
}

/// Ready when the store answers (its migrations ran when it was opened).
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    for account in state.accounts.iter() {
        if let Err(e) = account
            .tracker
            .payments(&stk_tracker::AttemptQuery::newest(1))
            .await
        {
            tracing::warn!(account = account.name(), error = %e, "not ready: the store does not answer");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store",
                "the payment store does not answer",
            )
            .into_response();
        }
    }
    (StatusCode::OK, "ready").into_response()
}

/// Serves the API on `listener` and runs each account's tracker worker (callbacks, sweeps,
/// webhooks) until `shutdown`: then it stops accepting, lets requests in flight finish,
/// finishes the workers' rounds and returns; undelivered webhooks stay in the store for the
/// next start.
pub async fn serve(
    listener: TcpListener,
    accounts: Vec<Account>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    check_distinct(&accounts)?;
    let state = AppState {
        accounts: accounts.into_iter().map(Arc::new).collect(),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let mut workers = tokio::task::JoinSet::new();
    for account in state.accounts.iter() {
        let sender = WebhookSender::new(account.tracker.clone(), account.config.webhook.clone())?
            .counting(Arc::clone(&account.metrics));
        let tracker = account.tracker.clone();
        let stopped = until_stopped();
        workers.spawn(async move {
            tracker
                .run(&sender, Duration::from_millis(500), stopped)
                .await;
        });
    }
    let server = stk_tracker::receiver::serve(listener, routes(&state), until_stopped());
    let watch = async {
        shutdown.await;
        let _ = stop.send(true);
    };
    tokio::join!(server, watch);
    while workers.join_next().await.is_some() {}
    Ok(())
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The accounts do not fit together.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The webhook client could not be built (the system's TLS roots).
    #[error("cannot start the webhook client: {0}")]
    Webhooks(#[from] reqwest::Error),
}
