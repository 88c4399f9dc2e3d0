//! Small helpers shared by the emulators.

use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use stk_core::{PhoneNumber, StkPushRequest};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing holding these locks can leave the data half-updated on panic.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The current UTC time as RFC 3339 (`2026-01-15T10:30:00.123456Z`), without a date crate.
pub(crate) fn now_rfc3339() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Howard Hinnant's days-to-civil algorithm.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
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
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_737), (2024, 1, 15));
        assert_eq!(cents_text(150_005), "1500.05");
        assert!(now_rfc3339().ends_with('Z'));
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
