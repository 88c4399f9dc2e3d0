//! The OAuth token cache: `GET /oauth/v1/generate?grant_type=client_credentials` with
//! `Authorization: Basic base64(consumer_key:consumer_secret)`, cached until shortly before it
//! expires, shared by every task using the provider, fetched by one task at a time.
//!
//! - **Refresh before expiry.** A token is used until [`REFRESH_MARGIN`] (a tenth of its
//!   lifetime, for tokens living under 50 minutes) before its `expires_in`, counted from when
//!   its request was sent, on tokio's clock.
//! - **One fetch at a time.** Readers take the cached token without waiting; the first task
//!   that finds none (or a stale one) fetches while the others wait for its result, and a
//!   failed fetch is reported to the tasks that were waiting for it rather than retried by
//!   each of them.
//! - **Refused tokens.** When Daraja refuses a token (`404.001.03`, `401.*`),
//!   [`TokenCache::invalidate`] drops it, only if it is still the cached one, so concurrent
//!   refusals cause one refresh.
//! - **Nothing sent.** The token is fetched before the push or query is sent, so every fetch
//!   failure is `unavailable`, `rate_limited`, `unauthorized` or `unexpected_response`, never
//!   `outcome_unknown`.

use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::ExposeSecret;
use stk_core::{Error, Operation};
use stk_http::{HttpClient, secret_header};
use tokio::time::Instant;

use crate::mapping::{self, Token};
use crate::{DarajaConfig, NAME};

/// How long before its expiry a token is replaced: this, or a tenth of its lifetime when that
/// is less.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The path of the token endpoint, relative to the base URL.
pub(crate) const TOKEN_PATH: &str = "oauth/v1/generate?grant_type=client_credentials";

/// How long after its request a token of `lifetime` is still used: the lifetime less
/// [`REFRESH_MARGIN`], or less a tenth of it when that is smaller.
pub(crate) fn refresh_after(lifetime: Duration) -> Duration {
    lifetime.saturating_sub(REFRESH_MARGIN.min(lifetime / 10))
}

#[derive(Debug, Clone)]
struct Cached {
    /// `Bearer <token>`, marked sensitive.
    header: HeaderValue,
    refresh_at: Instant,
}

#[derive(Debug, Default)]
struct State {
    token: Option<Cached>,
    /// How many fetches have finished.
    fetches: u64,
    /// The error of the last fetch, if it failed.
    last_error: Option<Error>,
}

impl State {
    fn fresh(&self, now: Instant) -> Option<HeaderValue> {
        self.token
            .as_ref()
            .filter(|t| now < t.refresh_at)
            .map(|t| t.header.clone())
    }
}

/// The token cache of one provider; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    state: Mutex<State>,
    /// Held by the one task fetching a token.
    refresh: tokio::sync::Mutex<()>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every update of the state is a single assignment; a panic cannot leave it half-made.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl TokenCache {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The `Authorization` header value: the cached token while it is fresh, else one from
    /// `fetch` (called by one task at a time).
    pub(crate) async fn get<F, Fut>(&self, fetch: F) -> Result<HeaderValue, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Token, Error>>,
    {
        let seen = {
            let state = lock(&self.state);
            if let Some(header) = state.fresh(Instant::now()) {
                return Ok(header);
            }
            state.fetches
        };
        let _refreshing = self.refresh.lock().await;
        {
            let state = lock(&self.state);
            if let Some(header) = state.fresh(Instant::now()) {
                return Ok(header);
            }
            if state.fetches != seen {
                if let Some(e) = &state.last_error {
                    // The fetch this task waited for failed: report it, do not hammer.
                    return Err(e.clone());
                }
            }
        }
        let started = Instant::now();
        let result = fetch().await.and_then(|token| {
            let header = bearer(&token)?;
            Ok((header, started + refresh_after(token.lifetime)))
        });
        let mut state = lock(&self.state);
        state.fetches += 1;
        match result {
            Ok((header, refresh_at)) => {
                tracing::debug!(
                    provider = NAME,
                    valid_for_s = refresh_at.saturating_duration_since(started).as_secs(),
                    "fetched an access token"
                );
                state.token = Some(Cached {
                    header: header.clone(),
                    refresh_at,
                });
                state.last_error = None;
                Ok(header)
            }
            Err(e) => {
                tracing::debug!(provider = NAME, error = %e, "access token request failed");
                state.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Drops the cached token if it is `rejected` (a refused token); a newer one is kept.
    pub(crate) fn invalidate(&self, rejected: &HeaderValue) {
        let mut state = lock(&self.state);
        if state.token.as_ref().is_some_and(|t| t.header == *rejected) {
            state.token = None;
        }
    }
}

/// `Bearer <token>`, checked and marked sensitive.
fn bearer(token: &Token) -> Result<HeaderValue, Error> {
    secret_header(
        NAME,
        &format!("Bearer {}", token.access_token.expose_secret()),
        "access token",
    )
    .map_err(|_| Error::UnexpectedResponse {
        provider: NAME,
        status: None,
        excerpt: "the access token contains characters not allowed in an HTTP header".to_owned(),
    })
}

/// Fetches a token: `GET /oauth/v1/generate?grant_type=client_credentials` with Basic auth.
pub(crate) async fn fetch(config: &DarajaConfig, http: &HttpClient) -> Result<Token, Error> {
    let url = config.client.base_url.join(TOKEN_PATH).map_err(|e| {
        Error::config(
            NAME,
            format!("cannot build the token URL from the base URL: {e}"),
        )
    })?;
    let credentials = STANDARD.encode(format!(
        "{}:{}",
        config.consumer_key.expose_secret(),
        config.consumer_secret.expose_secret()
    ));
    let basic = secret_header(
        NAME,
        &format!("Basic {credentials}"),
        "consumer key and secret",
    )?;
    let request = http.inner().get(url).header(AUTHORIZATION, basic);
    let response = match http.send(Operation::Status, request).await {
        Ok(response) => response,
        // The push or query itself was not sent: whatever happened to the token request,
        // nothing was accepted, so it is safe to retry.
        Err(Error::OutcomeUnknown { message, cause, .. }) => {
            return Err(Error::Unavailable {
                provider: NAME,
                status: None,
                message: format!("the access token request failed: {message}"),
                cause,
            });
        }
        Err(e) => return Err(e),
    };
    mapping::token_response(&response)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::mapping::DEFAULT_TOKEN_LIFETIME;
    use secrecy::SecretString;

    fn token(value: &str, lifetime: Duration) -> Token {
        Token {
            access_token: SecretString::from(value.to_owned()),
            lifetime,
        }
    }

    #[test]
    fn refresh_margins() {
        assert_eq!(
            refresh_after(Duration::from_secs(3599)),
            Duration::from_secs(3299)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(60)),
            Duration::from_secs(54)
        );
        assert_eq!(refresh_after(Duration::ZERO), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn cached_until_the_margin_then_refreshed_before_expiry() {
        let cache = TokenCache::new();
        let fetches = AtomicUsize::new(0);
        let get = || {
            cache.get(|| async {
                let n = fetches.fetch_add(1, Ordering::SeqCst);
                Ok(token(&format!("t{n}"), DEFAULT_TOKEN_LIFETIME))
            })
        };
        assert_eq!(get().await.unwrap(), "Bearer t0");
        assert!(get().await.unwrap().is_sensitive());
        tokio::time::advance(Duration::from_secs(3298)).await;
        assert_eq!(get().await.unwrap(), "Bearer t0");
        // 5 minutes before the token would expire, the next request gets a new one.
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(get().await.unwrap(), "Bearer t1");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_fetch_for_many_tasks_and_failures_are_shared() {
        let cache = Arc::new(TokenCache::new());
        let fetches = Arc::new(AtomicUsize::new(0));
        let run = |fail: bool| {
            let tasks: Vec<_> = (0..50)
                .map(|_| {
                    let (cache, fetches) = (cache.clone(), fetches.clone());
                    tokio::spawn(async move {
                        cache
                            .get(|| async {
                                fetches.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                if fail {
                                    Err(Error::Unavailable {
                                        provider: NAME,
                                        status: Some(503),
                                        message: "down".into(),
                                        cause: None,
                                    })
                                } else {
                                    Ok(token("shared", DEFAULT_TOKEN_LIFETIME))
                                }
                            })
                            .await
                    })
                })
                .collect();
            async move {
                let mut results = Vec::new();
                for t in tasks {
                    results.push(t.await.unwrap());
                }
                results
            }
        };
        let failed = run(true).await;
        assert!(failed.iter().all(Result::is_err));
        assert!(
            fetches.load(Ordering::SeqCst) < 50,
            "waiters share a failed fetch"
        );
        fetches.store(0, Ordering::SeqCst);
        let ok = run(false).await;
        assert!(ok.iter().all(|r| r.as_ref().unwrap() == "Bearer shared"));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn invalidating_drops_only_the_refused_token() {
        let cache = TokenCache::new();
        let n = AtomicUsize::new(0);
        let get = || {
            cache.get(|| async {
                let i = n.fetch_add(1, Ordering::SeqCst);
                Ok(token(&format!("t{i}"), DEFAULT_TOKEN_LIFETIME))
            })
        };
        let old = get().await.unwrap();
        cache.invalidate(&old);
        let new = get().await.unwrap();
        assert_eq!(new, "Bearer t1");
        // A late refusal of the old token keeps the new one.
        cache.invalidate(&old);
        assert_eq!(get().await.unwrap(), "Bearer t1");
        let err = TokenCache::new()
            .get(|| async { Ok(token("bad\ntoken", DEFAULT_TOKEN_LIFETIME)) })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "unexpected_response");
    }
}
