//! The payments dashboard at `/dashboard/`, for the people who answer "I paid, where is my
//! order?": sign in with the account's API key; payments searched and filtered; one
//! payment's whole story; the review queue and its decisions; a CSV export; today's
//! overview. Server-rendered (maud), no JavaScript; the style sheet is in the binary.

mod export;
mod overview;
mod page;
mod payments;
mod range;
mod review;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::account::Account;
use session::Sessions;

/// The largest form read (a resolution's note is at most 500 characters).
const MAX_FORM: usize = 8 * 1024;

/// The dashboard's state: the accounts (a key signs in to its own) and the sessions.
#[derive(Clone)]
pub(crate) struct Dashboard {
    accounts: Arc<[Arc<Account>]>,
    sessions: Arc<Sessions>,
}

/// The dashboard's routes, all under `/dashboard`.
pub(crate) fn routes(accounts: Arc<[Arc<Account>]>) -> Router {
    let state = Dashboard {
        sessions: Arc::new(Sessions::new(accounts.len())),
        accounts,
    };
    Router::new()
        .route(
            "/dashboard",
            get(|| async { Redirect::permanent("/dashboard/") }),
        )
        .route("/dashboard/", get(overview::show))
        .route(
            "/dashboard/login",
            get(session::login_page).post(session::login),
        )
        .route("/dashboard/logout", post(session::logout))
        .route("/dashboard/payments", get(payments::list))
        .route("/dashboard/payments/{id}", get(payments::show))
        .route(
            "/dashboard/payments/{id}/reconcile",
            post(review::reconcile),
        )
        .route("/dashboard/payments/{id}/resolve", post(review::resolve))
        .route(
            "/dashboard/payments/{id}/reviewed",
            post(review::mark_reviewed),
        )
        .route("/dashboard/review", get(review::queue))
        .route("/dashboard/export.csv", get(export::csv))
        .route("/dashboard/style.css", get(style))
        .layer(middleware::from_fn(session::same_origin_posts))
        .layer(middleware::from_fn(protective_headers))
        .layer(DefaultBodyLimit::max(MAX_FORM))
        .with_state(state)
}

/// Pages load nothing from elsewhere, run no script, are never framed or cached, and say
/// where they are only to themselves (`no-referrer` would make browsers send `Origin: null`).
async fn protective_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn style() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("assets/style.css"),
    )
        .into_response()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use crate::{Account, AccountConfig};

    /// An account on a fresh SQLite store.
    pub(crate) async fn account() -> Arc<Account> {
        account_named("shop").await
    }

    /// An account named `name` on a fresh SQLite store.
    pub(crate) async fn account_named(name: &str) -> Arc<Account> {
        let path = std::env::temp_dir().join(format!("stk-dash-{}.db", fastrand::u64(..)));
        let store = stk_tracker::SqlStore::open_sqlite(&path).await.unwrap();
        let tracker = stk_tracker::Tracker::builder(Arc::new(store)).build();
        let config = AccountConfig::new("a-test-key-of-32-characters-long!").unwrap();
        Arc::new(Account::new(name, tracker, config).unwrap())
    }
}
