//! Callbacks as they arrive (headers and raw body), verification helpers, de-duplication.

use std::collections::{HashSet, VecDeque};

use crate::CallbackClaim;

/// A callback as your web server received it: headers, the raw body bytes, and the path
/// and query it was sent to (for secret-token schemes). Parse it with
/// [`StkProvider::parse_callback`](crate::StkProvider::parse_callback).
///
/// ```
/// use stk_core::CallbackRequest;
///
/// let cb = CallbackRequest::new(br#"{"state":"COMPLETE"}"#.to_vec())
///     .header("Content-Type", "application/json")
///     .path_and_query("/mpesa/callback?token=s3cret");
/// assert_eq!(cb.header_value("content-type"), Some("application/json"));
/// assert_eq!(cb.query_param("token").as_deref(), Some("s3cret"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallbackRequest {
    /// Header names and values, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The request target, e.g. `/mpesa/callback/abc?token=x`, when known.
    pub path_and_query: Option<String>,
}

impl CallbackRequest {
    /// A callback with this body and no headers.
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        Self {
            headers: Vec::new(),
            body: body.into(),
            path_and_query: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the path and query it was received on.
    pub fn path_and_query(mut self, target: impl Into<String>) -> Self {
        self.path_and_query = Some(target.into());
        self
    }

    /// The first value of a header, matched case-insensitively.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Checks a secret token carried in the callback URL's query (`?{param}=…`), for providers
    /// that sign nothing: put the token in the callback URL you register, and pass the
    /// request target to [`path_and_query`](Self::path_and_query). Compared in constant time.
    pub fn verify_query_token(
        &self,
        provider: &'static str,
        param: &str,
        expected: &str,
    ) -> Result<(), crate::Error> {
        let received = self.query_param(param).ok_or_else(|| {
            crate::Error::invalid_callback(
                provider,
                format!("the callback URL has no {param} query parameter (pass the request target to CallbackRequest::path_and_query)"),
            )
        })?;
        if secrets_match(received.as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(crate::Error::invalid_callback(
                provider,
                "the callback token does not match the configured secret",
            ))
        }
    }

    /// The decoded value of a query parameter of [`path_and_query`](Self::path_and_query).
    pub fn query_param(&self, name: &str) -> Option<String> {
        let target = self.path_and_query.as_deref()?;
        let url = url::Url::parse("http://callback.invalid")
            .ok()?
            .join(target)
            .ok()?;
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// Headers are shown by name only and the body by length: callbacks carry secrets
/// (challenges, tokens) and customers' numbers.
impl std::fmt::Debug for CallbackRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackRequest")
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// How a webhook server answers a provider's callback: status, content type and body.
/// See [`StkProvider::callback_ack`](crate::StkProvider::callback_ack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallbackAck {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: &'static str,
}

impl CallbackAck {
    /// HTTP 200, `text/plain`, `ok`: accepted by every provider that documents no other answer.
    pub const OK: Self = Self::new(200, "text/plain", "ok");

    /// Any answer.
    pub const fn new(status: u16, content_type: &'static str, body: &'static str) -> Self {
        Self {
            status,
            content_type,
            body,
        }
    }
}

/// Compares a received secret with the expected one in constant time.
pub fn secrets_match(received: &[u8], expected: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    received.len() == expected.len() && bool::from(received.ct_eq(expected))
}

/// Remembers the last `capacity` events seen, so a retried or replayed callback is handled
/// once. Keyed by [`CallbackClaim::dedup_key`]. In-memory: share a persistent store across
/// instances for multi-process deployments.
#[derive(Debug)]
pub struct SeenEvents {
    capacity: usize,
    order: VecDeque<String>,
    seen: HashSet<String>,
}

impl SeenEvents {
    /// Remembers up to `capacity` events (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            seen: HashSet::new(),
        }
    }

    /// `true` the first time an event is seen, `false` for repeats.
    pub fn first_time(&mut self, event: &CallbackClaim) -> bool {
        let key = event.dedup_key();
        if self.seen.contains(&key) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.order.push_back(key.clone());
        self.seen.insert(key);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PaymentId, PaymentStatus};

    #[test]
    fn dedup_forgets_oldest() {
        let ev =
            |id: &str| CallbackClaim::new("mock", Some(PaymentId::new(id)), PaymentStatus::Pending);
        let mut seen = SeenEvents::new(2);
        assert!(seen.first_time(&ev("a")));
        assert!(!seen.first_time(&ev("a")));
        assert!(seen.first_time(&ev("b")));
        assert!(seen.first_time(&ev("c")));
        assert!(seen.first_time(&ev("a")));
    }

    #[test]
    fn query_tokens() {
        let cb = CallbackRequest::new(Vec::new()).path_and_query("/cb?token=s%20t");
        assert!(cb.verify_query_token("p", "token", "s t").is_ok());
        assert_eq!(
            cb.verify_query_token("p", "token", "other")
                .unwrap_err()
                .kind(),
            "invalid_callback"
        );
        assert!(cb.verify_query_token("p", "key", "s t").is_err());
        assert!(
            CallbackRequest::new(Vec::new())
                .verify_query_token("p", "token", "x")
                .is_err()
        );
    }

    #[test]
    fn secrets_compare() {
        assert!(secrets_match(b"abc", b"abc"));
        assert!(!secrets_match(b"abc", b"abd"));
        assert!(!secrets_match(b"ab", b"abc"));
    }

    #[test]
    fn debug_hides_values() {
        let cb = CallbackRequest::new(b"{\"challenge\":\"s3cret\"}".to_vec())
            .header("X-Challenge", "s3cret");
        assert!(!format!("{cb:?}").contains("s3cret"));
    }
}
