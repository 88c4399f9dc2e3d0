//! Small helpers shared by the emulators.

use std::sync::{Mutex, MutexGuard};

use axum::http::HeaderMap;
use stk_core::{PhoneNumber, StkPushRequest};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing holding these locks can leave the data half-updated on panic.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The current UTC time as RFC 3339 with microseconds (`2026-01-15T10:30:00.123456Z`).
pub(crate) fn now_rfc3339() -> String {
    format!("{:.6}", jiff::Timestamp::now())
}

/// The token of an `Authorization: Bearer <token>` header (scheme matched
/// case-insensitively).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The request target (path and query) of a URL, as a receiver sees it: `None` if `url`
/// does not parse.
pub(crate) fn request_target(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    Some(match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    })
}

/// The `reference` query parameter of a status query's request target (trimmed; `None` when
/// absent or empty).
pub(crate) fn status_reference(path: &str) -> Option<String> {
    path.split_once('?')
        .and_then(|(_, q)| {
            reqwest::Url::parse(&format!("http://q.invalid/?{q}"))
                .ok()?
                .query_pairs()
                .find(|(k, _)| k == "reference")
                .map(|(_, v)| v.trim().to_owned())
        })
        .filter(|r| !r.is_empty())
}

/// The push a simulation runs for a provider's request: the merchant's `reference` when it
/// is a valid [`stk_core::Reference`], else `fallback`; `None` when the amount is outside
/// M-Pesa's limits.
pub(crate) fn simulated_push(
    phone: PhoneNumber,
    amount: u64,
    reference: Option<&str>,
    fallback: &str,
) -> Option<StkPushRequest> {
    let reference = reference
        .filter(|r| stk_core::Reference::new(*r).is_ok())
        .unwrap_or(fallback);
    StkPushRequest::builder()
        .phone(phone)
        .amount(amount)
        .reference(reference)
        .build()
        .ok()
}

/// `len` random lowercase hex digits.
pub(crate) fn hex_id(rng: &mut fastrand::Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(b"0123456789abcdef"[rng.usize(..16)]))
        .collect()
}

/// Cents as a two-decimal string: `150000` → `"1500.00"`.
pub(crate) fn cents_text(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_times() {
        assert_eq!(cents_text(150_005), "1500.05");
        let now = now_rfc3339();
        assert!(now.ends_with('Z'), "{now}");
        assert_eq!(now.len(), "2026-01-15T10:30:00.123456Z".len(), "{now}");
    }

    #[test]
    fn bearer_tokens_and_request_targets() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert("authorization", "bEaReR  s3cret ".parse().unwrap());
        assert_eq!(bearer(&headers), Some("s3cret"));
        headers.insert("authorization", "Basic s3cret".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        assert_eq!(
            request_target("https://shop.example/cb/x?token=a%20b").as_deref(),
            Some("/cb/x?token=a%20b")
        );
        assert_eq!(request_target("https://shop.example").as_deref(), Some("/"));
        assert_eq!(request_target("not a url"), None);
    }

    #[test]
    fn status_references_ids_and_simulated_pushes() {
        assert_eq!(
            status_reference("/api/v2/payments/status?reference=%20abc%20").as_deref(),
            Some("abc")
        );
        assert_eq!(
            status_reference("/api/v2/transaction-status?x=1&reference=ABC").as_deref(),
            Some("ABC")
        );
        assert_eq!(status_reference("/api/v2/payments/status"), None);
        assert_eq!(
            status_reference("/api/v2/transaction-status?reference="),
            None
        );
        assert_eq!(hex_id(&mut fastrand::Rng::with_seed(1), 24).len(), 24);
        let phone = PhoneNumber::parse("0712345678").unwrap();
        let push = simulated_push(phone, 100, Some("ORDER-1"), "FALLBACK").unwrap();
        assert_eq!(push.reference().as_str(), "ORDER-1");
        let push = simulated_push(phone, 100, Some("not valid!"), "FALLBACK").unwrap();
        assert_eq!(push.reference().as_str(), "FALLBACK");
        assert!(simulated_push(phone, 0, None, "FALLBACK").is_none());
    }
}
