//! Signing in: the account's API key in a login form, then a random session cookie
//! (`HttpOnly`, `SameSite=Strict`, `Path=/dashboard`, 8 hours). Every form that changes
//! something carries the session's CSRF token and must come from this origin.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::Dashboard;
use super::page::Page;
use crate::account::Account;
use crate::auth::account_for_key;

/// The session cookie's name.
pub(crate) const COOKIE_NAME: &str = "stk_dashboard";
/// How long a session lasts after signing in.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// The most sessions kept at once (expired ones are dropped first).
pub(crate) const MAX_SESSIONS: usize = 10_000;
/// The most sessions of one account (fewer with over 50 accounts: each gets its share of
/// [`MAX_SESSIONS`]): its oldest is ended to make room, so one account's sign-ins never lock
/// out another's.
pub(crate) const MAX_SESSIONS_PER_ACCOUNT: usize = 200;

/// A signed-in operator's session: the account whose key signed in, and the token every
/// changing form must carry.
pub(crate) struct Session {
    pub(crate) account: Arc<Account>,
    pub(crate) csrf: String,
    expires: Instant,
}

impl Session {
    /// Whether `token` is this session's CSRF token (compared in constant time).
    fn csrf_matches(&self, token: &str) -> bool {
        subtle::ConstantTimeEq::ct_eq(token.as_bytes(), self.csrf.as_bytes()).into()
    }
}

/// Sessions in memory, by the SHA-256 of their cookie (a restart signs everyone out).
pub(crate) struct Sessions {
    by_hash: Mutex<HashMap<[u8; 32], Arc<Session>>>,
    per_account: usize,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The OS's random source; without it no session can be made safely.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("the OS random source failed");
    hex::encode(bytes)
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    /// Room for `accounts` accounts' sessions.
    pub(crate) fn new(accounts: usize) -> Self {
        Self {
            by_hash: Mutex::default(),
            per_account: (MAX_SESSIONS / accounts.max(1)).clamp(1, MAX_SESSIONS_PER_ACCOUNT),
        }
    }

    /// A new session for `account`: its cookie value, or `None` when `MAX_SESSIONS` live
    /// sessions exist.
    fn create(&self, account: Arc<Account>) -> Option<String> {
        let now = Instant::now();
        let mut sessions = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        let mine = |s: &Session| Arc::ptr_eq(&s.account, &account);
        if sessions.values().filter(|s| mine(s)).count() >= self.per_account {
            let oldest = sessions
                .iter()
                .filter(|(_, s)| mine(s))
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                sessions.remove(&oldest);
            }
        }
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| s.expires > now);
            if sessions.len() >= MAX_SESSIONS {
                return None;
            }
        }
        let token = random_token();
        let session = Session {
            account,
            csrf: random_token(),
            expires: now + SESSION_TTL,
        };
        sessions.insert(hash(&token), Arc::new(session));
        Some(token)
    }

    /// The live session of this cookie value.
    fn find(&self, token: &str) -> Option<Arc<Session>> {
        let key = hash(token);
        let mut sessions = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        match sessions.get(&key) {
            Some(s) if s.expires > Instant::now() => Some(Arc::clone(s)),
            Some(_) => {
                sessions.remove(&key);
                None
            }
            None => None,
        }
    }

    fn remove(&self, token: &str) {
        let mut sessions = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        sessions.remove(&hash(token));
    }
}

/// The session cookie's value in a request, if any.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A signed-in operator (the extractor sends everyone else to the login page).
pub(crate) struct Operator(pub(crate) Arc<Session>);

impl FromRequestParts<Dashboard> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Dashboard) -> Result<Self, Response> {
        cookie(&parts.headers)
            .and_then(|token| state.sessions.find(token))
            .map(Operator)
            .ok_or_else(|| Redirect::to("/dashboard/login").into_response())
    }
}

impl Operator {
    /// Refuses a changing form that lacks this session's CSRF token.
    pub(crate) fn check_csrf(&self, token: &str) -> Result<(), Forbidden> {
        if self.0.csrf_matches(token) {
            Ok(())
        } else {
            Err(Forbidden(
                "This form is not from this dashboard (its security token is missing or old). Reload the page and try again.",
            ))
        }
    }

    pub(crate) fn account(&self) -> &Account {
        &self.0.account
    }
}

/// A refused form, and why.
pub(crate) struct Forbidden(&'static str);

impl IntoResponse for Forbidden {
    fn into_response(self) -> Response {
        forbidden(self.0)
    }
}

fn forbidden(why: &str) -> Response {
    let body = Page::bare("Refused").render(html! {
        h1 { "Refused" }
        p.error { (why) }
        p { a href="/dashboard/" { "Back to the dashboard" } }
    });
    (StatusCode::FORBIDDEN, body).into_response()
}

/// Refuses a form posted from another site: browsers say where a form came from
/// (`Sec-Fetch-Site`, `Origin`); either, when sent, must be this origin. Applied to every
/// `POST` under `/dashboard/`, before the CSRF token is checked.
pub(crate) async fn same_origin_posts(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request.method() == axum::http::Method::POST && !from_this_origin(request.headers()) {
        return forbidden("Forms are accepted only from this dashboard's own pages.");
    }
    next.run(request).await
}

/// Whether the browser says the form came from this origin. The host the browser used is
/// `Host`, or behind a proxy that rewrites it `X-Forwarded-Host` (a page on another site
/// cannot set either on a form's request).
fn from_this_origin(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    let Some(origin) = text(ORIGIN.as_str()) else {
        return true;
    };
    let Some((_, authority)) = origin.split_once("://") else {
        return false;
    };
    // A chain of proxies lists hosts; the first is the browser's.
    let forwarded = text("x-forwarded-host").and_then(|h| h.split(',').next());
    [text(HOST.as_str()), forwarded]
        .into_iter()
        .flatten()
        .any(|host| same_authority(origin, authority, host.trim()))
}

/// `authority` (from an origin) and `host` name the same server, a default port written or
/// not.
fn same_authority(origin: &str, authority: &str, host: &str) -> bool {
    let default_port = if origin.starts_with("https://") {
        ":443"
    } else {
        ":80"
    };
    let bare = |a: &str| {
        a.strip_suffix(default_port)
            .unwrap_or(a)
            .to_ascii_lowercase()
    };
    bare(authority) == bare(host)
}

/// The login page (`GET /dashboard/login`).
pub(crate) async fn login_page() -> Response {
    login_form(StatusCode::OK, None)
}

fn login_form(status: StatusCode, error: Option<&str>) -> Response {
    let body = Page::bare("Sign in").render(html! {
        main.login {
            h1 { "stk payments" }
            p { "Sign in with your account's API key (the one your apps send as " code { "Authorization: Bearer" } ")." }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form method="post" action="/dashboard/login" {
                label for="api_key" { "API key" }
                input #api_key type="password" name="api_key" autocomplete="current-password" required autofocus;
                button type="submit" { "Sign in" }
            }
        }
    });
    (status, body).into_response()
}

#[derive(Deserialize)]
pub(crate) struct Login {
    #[serde(default)]
    api_key: String,
}

/// `POST /dashboard/login`: the key signs in to its account.
pub(crate) async fn login(
    State(state): State<Dashboard>,
    headers: HeaderMap,
    Form(form): Form<Login>,
) -> Response {
    let Some(account) = account_for_key(&state.accounts, &form.api_key) else {
        tracing::debug!("dashboard: a sign-in with a wrong key was refused");
        return login_form(
            StatusCode::UNAUTHORIZED,
            Some("That is not an API key of this service. Check it and try again."),
        );
    };
    let Some(token) = state.sessions.create(account) else {
        return login_form(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("Too many people are signed in. Try again later."),
        );
    };
    // `Secure` when a TLS proxy says the browser is on https.
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let cookie = format!(
        "{COOKIE_NAME}={token}; Path=/dashboard; Max-Age={}; HttpOnly; SameSite=Strict{}",
        SESSION_TTL.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    let mut response = Redirect::to("/dashboard/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
pub(crate) struct Logout {
    #[serde(default)]
    csrf: String,
}

/// `POST /dashboard/logout`: ends the session.
pub(crate) async fn logout(
    State(state): State<Dashboard>,
    operator: Operator,
    headers: HeaderMap,
    Form(form): Form<Logout>,
) -> Response {
    if let Err(refused) = operator.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    if let Some(token) = cookie(&headers) {
        state.sessions.remove(token);
    }
    let mut response = Redirect::to("/dashboard/login").into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static(
            "stk_dashboard=; Path=/dashboard; Max-Age=0; HttpOnly; SameSite=Strict",
        ),
    );
    response
}

/// The hidden CSRF field every changing form carries.
pub(crate) fn csrf_field(session: &Session) -> maud::Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn forms_from_other_origins_are_refused() {
        let host = ("host", "127.0.0.1:8080");
        assert!(from_this_origin(&headers(&[host])));
        assert!(from_this_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(from_this_origin(&headers(&[
            host,
            ("sec-fetch-site", "same-origin")
        ])));
        // Behind a proxy that sends its own Host.
        assert!(from_this_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-host", "pay.duka.example"),
            ("origin", "https://pay.duka.example"),
        ])));
        assert!(from_this_origin(&headers(&[
            ("host", "backend:8080"),
            ("x-forwarded-host", "pay.duka.example:443, edge.internal"),
            ("origin", "https://pay.duka.example"),
        ])));
        for bad in [
            vec![host, ("origin", "http://127.0.0.1:9000")],
            vec![host, ("origin", "http://evil.example")],
            vec![host, ("origin", "null")],
            vec![host, ("sec-fetch-site", "same-site")],
            vec![host, ("sec-fetch-site", "cross-site")],
            vec![("origin", "http://127.0.0.1:8080")],
            vec![host, ("origin", "http://127.0.0.1:8080.evil.example")],
        ] {
            assert!(!from_this_origin(&headers(&bad)), "{bad:?}");
        }
    }

    #[test]
    fn only_a_well_formed_session_cookie_is_read() {
        let token = "a".repeat(64);
        let both = format!("other=1; {COOKIE_NAME}={token}");
        assert_eq!(cookie(&headers(&[("cookie", &both)])), Some(token.as_str()));
        for bad in [
            "",
            "stk_dashboard=",
            "stk_dashboard=zz",
            "stk_dashboard=ab'--",
        ] {
            assert_eq!(cookie(&headers(&[("cookie", bad)])), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn sessions_expire_and_stay_bounded() {
        let sessions = Sessions::new(2);
        let account = crate::dashboard::tests::account().await;
        let other = crate::dashboard::tests::account_named("other").await;
        tokio::time::pause();
        let token = sessions.create(Arc::clone(&account)).unwrap();
        assert!(sessions.find(&token).is_some());
        assert!(sessions.find(&"0".repeat(64)).is_none());
        tokio::time::advance(SESSION_TTL + Duration::from_secs(1)).await;
        assert!(sessions.find(&token).is_none(), "expired");
        // One account's sign-ins end its own oldest sessions, nobody else's.
        let first = sessions.create(Arc::clone(&account)).unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        let theirs = sessions.create(Arc::clone(&other)).unwrap();
        for _ in 0..MAX_SESSIONS_PER_ACCOUNT {
            sessions.create(Arc::clone(&account)).unwrap();
        }
        assert!(sessions.find(&first).is_none(), "the oldest made room");
        assert!(sessions.find(&theirs).is_some(), "another account's stayed");
    }
}
