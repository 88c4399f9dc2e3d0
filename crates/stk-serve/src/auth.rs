//! `Authorization: Bearer <key>` on every payments request: the key says which account the
//! request is for. Compared in constant time, as SHA-256 hashes, against every account's.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use std::sync::Arc;

use crate::account::Account;
use crate::api::ApiError;
use crate::server::AppState;

/// The account whose API key `key` is. Every account is compared, in constant time, so the
/// time taken does not say which one matched; no account's key is shorter than
/// [`MIN_API_KEY_CHARS`](crate::MIN_API_KEY_CHARS).
pub(crate) fn account_for_key(accounts: &[Arc<Account>], key: &str) -> Option<Arc<Account>> {
    let key = key.trim();
    if key.chars().count() < crate::MIN_API_KEY_CHARS {
        return None;
    }
    let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    accounts
        .iter()
        .fold(None, |found, a| {
            found.or(a.config.accepts_hash(&hash).then_some(a))
        })
        .cloned()
}

pub(crate) async fn require_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let key = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            // The scheme is case-insensitive (RFC 7235).
            let (scheme, key) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
        });
    match key.and_then(|key| account_for_key(&state.accounts, key)) {
        Some(account) => {
            request.extensions_mut().insert(account);
            next.run(request).await
        }
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the service's API key as Authorization: Bearer <key>",
        )
        .into_response(),
    }
}
