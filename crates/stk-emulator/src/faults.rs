//! Fault injection: a queue of faults applied to the next matching requests.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::util::lock;

/// Which kind of provider endpoint a request hit; provider emulators classify their paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// The call that starts a push (and creates a charge).
    Initiate,
    /// The status query.
    Status,
    /// An access-token request (Daraja's OAuth `GET /oauth/v1/generate`).
    Token,
    /// Anything else (unknown paths).
    Other,
}

/// A misbehaviour the emulator applies to one request.
///
/// Faults marked *before* are applied before the request is processed, so no charge is
/// created; faults marked *after* are applied to the response of a processed request, so on
/// an initiate the charge **exists** although the client cannot tell from the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// *Before*: HTTP 429 with a DRF throttle body and, if set, `Retry-After` in seconds.
    RateLimited {
        /// The `Retry-After` value sent.
        retry_after: Option<Duration>,
    },
    /// *Before*: this HTTP status (e.g. 500, 502, 503) with a short JSON `detail` body.
    Status(u16),
    /// *Before*: this HTTP status with an HTML error page (as a proxy or load balancer sends).
    HtmlError(u16),
    /// *After*: the real status with a body that is not JSON at all.
    MalformedJson,
    /// *After*: the real status with the real JSON body cut in half.
    TruncatedJson,
    /// *After*: the real response with unknown extra fields added (clients must ignore them).
    ExtraFields,
    /// *After*: the real response with its key fields (ids, invoice) removed.
    MissingFields,
    /// *After*: the real response, sent only after this delay (set it past the client timeout).
    Slow(Duration),
    /// *Before*: the connection is closed before the request body is read; nothing is
    /// processed.
    CloseBeforeBody,
    /// *After*: the body is read and processed (a push creates its charge), then the
    /// connection is closed without an answer: the ambiguous case.
    CloseAfterBody,
}

impl Fault {
    /// Whether the request is processed (and a push's charge created) despite the fault.
    pub fn processes_request(&self) -> bool {
        !matches!(
            self,
            Self::RateLimited { .. } | Self::Status(_) | Self::HtmlError(_) | Self::CloseBeforeBody
        )
    }

    /// A short stable name, for the ledger and test output.
    pub fn name(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Status(_) => "status",
            Self::HtmlError(_) => "html_error",
            Self::MalformedJson => "malformed_json",
            Self::TruncatedJson => "truncated_json",
            Self::ExtraFields => "extra_fields",
            Self::MissingFields => "missing_fields",
            Self::Slow(_) => "slow",
            Self::CloseBeforeBody => "close_before_body",
            Self::CloseAfterBody => "close_after_body",
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    fault: Fault,
    endpoint: Option<Endpoint>,
    remaining: usize,
}

/// The fault queue of one emulator. Clones share the queue.
///
/// Rules are matched in the order they were pushed; each matching request consumes one use
/// of the first rule that applies to its endpoint.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: Arc<Mutex<VecDeque<Rule>>>,
}

impl Faults {
    /// Applies `fault` to the next request, whatever its endpoint.
    pub fn push(&self, fault: Fault) {
        self.push_n(None, fault, 1);
    }

    /// Applies `fault` to the next request to `endpoint`.
    pub fn push_for(&self, endpoint: Endpoint, fault: Fault) {
        self.push_n(Some(endpoint), fault, 1);
    }

    /// Applies `fault` to the next `n` requests to `endpoint` (any endpoint if `None`).
    pub fn push_n(&self, endpoint: Option<Endpoint>, fault: Fault, n: usize) {
        if n == 0 {
            return;
        }
        lock(&self.rules).push_back(Rule {
            fault,
            endpoint,
            remaining: n,
        });
    }

    /// Removes every queued fault.
    pub fn clear(&self) {
        lock(&self.rules).clear();
    }

    /// How many fault applications are still queued.
    pub fn pending(&self) -> usize {
        lock(&self.rules).iter().map(|r| r.remaining).sum()
    }

    /// Takes the fault for the next request to `endpoint`, if one is queued.
    pub fn take(&self, endpoint: Endpoint) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        let index = rules
            .iter()
            .position(|r| r.endpoint.is_none_or(|e| e == endpoint))?;
        let rule = rules.get_mut(index)?;
        rule.remaining = rule.remaining.saturating_sub(1);
        let fault = rule.fault.clone();
        if rule.remaining == 0 {
            rules.remove(index);
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_in_order_and_by_endpoint() {
        let f = Faults::default();
        f.push_for(Endpoint::Status, Fault::Status(500));
        f.push_n(None, Fault::MalformedJson, 2);
        assert_eq!(f.pending(), 3);
        assert_eq!(f.take(Endpoint::Initiate), Some(Fault::MalformedJson));
        assert_eq!(f.take(Endpoint::Status), Some(Fault::Status(500)));
        assert_eq!(f.take(Endpoint::Status), Some(Fault::MalformedJson));
        assert_eq!(f.take(Endpoint::Status), None);
        assert_eq!(f.pending(), 0);
    }
}
