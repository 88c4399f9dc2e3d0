//! One error type for every provider; each variant says what happened and what to do next.

use std::convert::Infallible;
use std::fmt;
use std::time::Duration;

use crate::{AmountError, FieldError, PaymentId, PhoneError};

/// A request that was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// The phone number.
    #[error(transparent)]
    Phone(#[from] PhoneError),
    /// The amount, or the provider's amount limits.
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// The reference, description, callback URL or metadata.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// A required field was not set.
    #[error("{0} is required")]
    Missing(&'static str),
    /// The provider does not support what was asked (e.g. a per-request callback URL).
    #[error("{provider} does not support {what}")]
    Unsupported {
        /// The provider.
        provider: &'static str,
        /// What it does not support.
        what: String,
    },
}

impl From<Infallible> for InvalidRequest {
    fn from(e: Infallible) -> Self {
        match e {}
    }
}

impl InvalidRequest {
    /// The request field this is about, if any (`phone`, `amount`, …).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Phone(_) => Some("phone"),
            Self::Amount(_) => Some("amount"),
            Self::Field(f) => Some(match f {
                FieldError::EmptyReference
                | FieldError::ReferenceTooLong { .. }
                | FieldError::ReferenceCharacter { .. } => "reference",
                FieldError::Description { .. } => "description",
                FieldError::CallbackUrlSyntax { .. } | FieldError::CallbackUrlNotHttps => {
                    "callback_url"
                }
                FieldError::Metadata { .. } => "metadata",
            }),
            Self::Missing(f) => Some(f),
            Self::Unsupported { .. } => None,
        }
    }
}

/// Which call an [`Error::OutcomeUnknown`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operation {
    /// [`StkProvider::initiate`](crate::StkProvider::initiate).
    Initiate,
    /// [`StkProvider::status`](crate::StkProvider::status).
    Status,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Initiate => "initiate",
            Self::Status => "status",
        })
    }
}

/// The kind of an [`Error`], as [`std::io::ErrorKind`] is for I/O errors: match on it, or use
/// [`as_str`](Self::as_str) for a stable name. Serialized as that name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::InvalidRequest`]: `invalid_request`.
    InvalidRequest,
    /// [`Error::Config`]: `config`.
    Config,
    /// [`Error::Unauthorized`]: `unauthorized`.
    Unauthorized,
    /// [`Error::Rejected`]: `rejected`.
    Rejected,
    /// [`Error::UnknownPayment`]: `unknown_payment`.
    UnknownPayment,
    /// [`Error::RateLimited`]: `rate_limited`.
    RateLimited,
    /// [`Error::Unavailable`]: `unavailable`.
    Unavailable,
    /// [`Error::OutcomeUnknown`]: `outcome_unknown`.
    OutcomeUnknown,
    /// [`Error::UnexpectedResponse`]: `unexpected_response`.
    UnexpectedResponse,
    /// [`Error::InvalidCallback`]: `invalid_callback`.
    InvalidCallback,
    /// [`Error::StillPending`]: `still_pending`.
    StillPending,
    /// [`Error::Guarded`]: `guarded`.
    Guarded,
}

impl ErrorKind {
    /// The stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::Config => "config",
            Self::Unauthorized => "unauthorized",
            Self::Rejected => "rejected",
            Self::UnknownPayment => "unknown_payment",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::OutcomeUnknown => "outcome_unknown",
            Self::UnexpectedResponse => "unexpected_response",
            Self::InvalidCallback => "invalid_callback",
            Self::StillPending => "still_pending",
            Self::Guarded => "guarded",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq<str> for ErrorKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The error underneath an [`Error`], kept as its [`source`](std::error::Error::source)
/// (shared, so the error stays `Clone`). Two causes always compare equal: errors with a cause
/// are compared by what they say, not by what caused them.
#[derive(Clone)]
pub struct Cause(std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// Keeps `error` as a cause.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(error))
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Cause {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Cause {}

/// Everything that can go wrong talking to a provider.
///
/// The variants separate what you must do next: fix the request, fix the configuration, tell
/// the customer, retry later, or (for [`OutcomeUnknown`](Error::OutcomeUnknown)) **query the
/// status instead of pushing again**, since the customer may already have been charged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request was invalid; nothing was sent.
    #[error("invalid request: {0}; nothing was sent")]
    InvalidRequest(#[from] InvalidRequest),

    /// The SDK is misconfigured (missing or malformed setting); nothing was sent.
    #[error("{provider} is misconfigured: {message}")]
    Config {
        /// The provider being configured.
        provider: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// The provider refused the credentials (HTTP 401/403).
    #[error(
        "{provider} refused the credentials: {message}; check the API key and that it matches the environment (sandbox or live)"
    )]
    Unauthorized {
        /// The provider.
        provider: &'static str,
        /// The provider's message.
        message: String,
    },

    /// The provider understood the request and refused it; no charge was created.
    #[error("{provider} rejected the request{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Rejected {
        /// The provider.
        provider: &'static str,
        /// The provider's error code, when it sends one.
        code: Option<String>,
        /// The provider's message (for developers).
        message: String,
        /// A message the provider wrote for the customer, when it sends one.
        customer_message: Option<String>,
    },

    /// The provider does not know this payment id.
    #[error(
        "{provider} does not know payment {id}; check the id and the environment (sandbox or live)"
    )]
    UnknownPayment {
        /// The provider.
        provider: &'static str,
        /// The id that was asked about.
        id: PaymentId,
    },

    /// Too many requests; nothing was accepted. Retry after the delay.
    #[error("{provider} is rate limiting requests; retry {}", match retry_after { Some(d) => format!("after {} s", d.as_secs()), None => "later, with backoff".to_owned() })]
    RateLimited {
        /// The provider.
        provider: &'static str,
        /// How long the provider asked to wait, if it said.
        retry_after: Option<Duration>,
    },

    /// The provider could not be reached or failed before accepting; nothing was accepted,
    /// so retrying is safe.
    #[error("{provider} is unavailable{}: {message}; nothing was accepted, so it is safe to retry", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Unavailable {
        /// The provider.
        provider: &'static str,
        /// The HTTP status, if there was a response.
        status: Option<u16>,
        /// What happened.
        message: String,
        /// The underlying failure (the HTTP client's, the store's), when there was one.
        #[source]
        cause: Option<Cause>,
    },

    /// The request may have reached the provider, but no answer came back (timeout after
    /// sending, connection reset mid-response). **Do not push again**: a second push may
    /// charge the customer twice. Resolve it with a status query or wait for the callback.
    #[error(
        "outcome of {operation} at {provider} is unknown: {message}; the customer may have been charged, so do not push again: query the status or wait for the callback"
    )]
    OutcomeUnknown {
        /// The provider.
        provider: &'static str,
        /// Which call.
        operation: Operation,
        /// What happened.
        message: String,
        /// The underlying failure (the HTTP client's), when there was one.
        #[source]
        cause: Option<Cause>,
    },

    /// The provider answered with something this SDK does not understand.
    #[error("{provider} sent an unexpected response{}: {excerpt:?}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    UnexpectedResponse {
        /// The provider.
        provider: &'static str,
        /// The HTTP status, if any.
        status: Option<u16>,
        /// The start of the body (at most [`Error::EXCERPT_LEN`] characters).
        excerpt: String,
    },

    /// A callback failed verification or could not be parsed. Answer it with an error
    /// status and do not act on it.
    #[error("invalid callback from {provider}: {reason}")]
    InvalidCallback {
        /// The provider.
        provider: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// The abuse guard refused the push before sending it: one more failure could trip the
    /// provider's abuse limits (e.g. a 24 h block on the number). Nothing was sent.
    #[error("push refused by the abuse guard for {provider}: {reason}; nothing was sent; the {scope} clears in {} s", clears_in.as_secs())]
    Guarded {
        /// The provider whose limits are being protected.
        provider: &'static str,
        /// Whether one number or the whole account is held back.
        scope: crate::GuardScope,
        /// How long until a push would be allowed again.
        clears_in: Duration,
        /// Which limit and why.
        reason: String,
    },

    /// The payment was still not final when the wait's deadline passed. The customer may
    /// still pay: query the status later or wait for the callback.
    #[error("payment {id} at {provider} is still {last_status} after {} s; it may still complete: query the status later", waited.as_secs())]
    StillPending {
        /// The provider.
        provider: &'static str,
        /// The payment.
        id: PaymentId,
        /// The last status seen (`pending` or `processing`).
        last_status: &'static str,
        /// How long was waited.
        waited: Duration,
    },
}

impl Error {
    /// The longest body excerpt kept in [`Error::UnexpectedResponse`].
    pub const EXCERPT_LEN: usize = 200;

    /// What kind of error this is; [`ErrorKind::as_str`] gives its stable snake_case name,
    /// for logs, metrics and JSON output.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidRequest(_) => ErrorKind::InvalidRequest,
            Self::Config { .. } => ErrorKind::Config,
            Self::Unauthorized { .. } => ErrorKind::Unauthorized,
            Self::Rejected { .. } => ErrorKind::Rejected,
            Self::UnknownPayment { .. } => ErrorKind::UnknownPayment,
            Self::RateLimited { .. } => ErrorKind::RateLimited,
            Self::Unavailable { .. } => ErrorKind::Unavailable,
            Self::OutcomeUnknown { .. } => ErrorKind::OutcomeUnknown,
            Self::UnexpectedResponse { .. } => ErrorKind::UnexpectedResponse,
            Self::InvalidCallback { .. } => ErrorKind::InvalidCallback,
            Self::StillPending { .. } => ErrorKind::StillPending,
            Self::Guarded { .. } => ErrorKind::Guarded,
        }
    }

    /// The same error with every text that came from outside (provider messages, codes,
    /// customer messages) cut to one line of at most [`MESSAGE_LEN`](Self::MESSAGE_LEN)
    /// characters, so an answer cannot flood logs or forge lines. Adapters' errors pass
    /// through this.
    pub fn bounded(self) -> Self {
        let cut = |text: String| bounded_text(&text);
        match self {
            Self::Config { provider, message } => Self::Config {
                provider,
                message: cut(message),
            },
            Self::Unauthorized { provider, message } => Self::Unauthorized {
                provider,
                message: cut(message),
            },
            Self::Rejected {
                provider,
                code,
                message,
                customer_message,
            } => Self::Rejected {
                provider,
                code: code.map(cut),
                message: cut(message),
                customer_message: customer_message.map(cut),
            },
            Self::Unavailable {
                provider,
                status,
                message,
                cause,
            } => Self::Unavailable {
                provider,
                status,
                message: cut(message),
                cause,
            },
            Self::OutcomeUnknown {
                provider,
                operation,
                message,
                cause,
            } => Self::OutcomeUnknown {
                provider,
                operation,
                message: cut(message),
                cause,
            },
            Self::UnexpectedResponse {
                provider,
                status,
                excerpt,
            } => Self::UnexpectedResponse {
                provider,
                status,
                excerpt: cut(excerpt),
            },
            other => other,
        }
    }

    /// The longest provider text kept in an error (see [`bounded`](Self::bounded)).
    pub const MESSAGE_LEN: usize = 300;

    /// Whether repeating the same call later is safe and may succeed.
    ///
    /// `false` for [`OutcomeUnknown`](Error::OutcomeUnknown): never re-send a push whose
    /// outcome is unknown; query its status instead.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Unavailable { .. })
    }

    /// How long to wait before retrying, when the provider said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            Self::Guarded { clears_in, .. } => Some(*clears_in),
            _ => None,
        }
    }

    /// An [`UnexpectedResponse`](Error::UnexpectedResponse) with the body cut to a short,
    /// single-line excerpt.
    pub fn unexpected(provider: &'static str, status: Option<u16>, body: &[u8]) -> Self {
        Self::UnexpectedResponse {
            provider,
            status,
            excerpt: excerpt(body),
        }
    }

    /// A [`Config`](Error::Config) error.
    pub fn config(provider: &'static str, message: impl Into<String>) -> Self {
        Self::Config {
            provider,
            message: message.into(),
        }
    }

    /// An [`InvalidCallback`](Error::InvalidCallback) error.
    pub fn invalid_callback(provider: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidCallback {
            provider,
            reason: reason.into(),
        }
    }
}

/// `text` on one line (control characters as spaces), at most [`Error::MESSAGE_LEN`]
/// characters.
fn bounded_text(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(Error::MESSAGE_LEN)
        .collect();
    if text.chars().count() > Error::MESSAGE_LEN {
        out.push('…');
    }
    out
}

/// The first [`Error::EXCERPT_LEN`] characters of a body, lossily decoded, whitespace folded.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() >= Error::EXCERPT_LEN {
            break;
        }
    }
    if out.chars().count() > Error::EXCERPT_LEN {
        out = out.chars().take(Error::EXCERPT_LEN).collect();
        out.push('…');
    }
    out
}

impl From<PhoneError> for Error {
    fn from(e: PhoneError) -> Self {
        Self::InvalidRequest(e.into())
    }
}

impl From<AmountError> for Error {
    fn from(e: AmountError) -> Self {
        Self::InvalidRequest(e.into())
    }
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Self::InvalidRequest(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one_of_each() -> Vec<Error> {
        vec![
            PhoneError::NotMobile { prefix: '8' }.into(),
            AmountError::BelowMinimum {
                amount: 5,
                min: 10,
                provider: "kulmipay",
            }
            .into(),
            InvalidRequest::Missing("reference").into(),
            Error::config("kulmipay", "KULMIPAY_SECRET_KEY is not set"),
            Error::Unauthorized {
                provider: "kulmipay",
                message: "Invalid api token".into(),
            },
            Error::Rejected {
                provider: "lipia",
                code: Some("VALIDATION_ERROR".into()),
                message: "phone_number: expected valid safaricom kenyan number".into(),
                customer_message: Some("Please check your input and try again".into()),
            },
            Error::UnknownPayment {
                provider: "kulmipay",
                id: "GQ7KZ2XPNM".into(),
            },
            Error::RateLimited {
                provider: "upesipay",
                retry_after: Some(Duration::from_secs(30)),
            },
            Error::RateLimited {
                provider: "upesipay",
                retry_after: None,
            },
            Error::Unavailable {
                provider: "kulmipay",
                status: Some(503),
                message: "service unavailable".into(), cause: None,
            },
            Error::OutcomeUnknown {
                provider: "kulmipay",
                operation: Operation::Initiate,
                message: "timed out after 30 s waiting for the response".into(), cause: None,
            },
            Error::unexpected(
                "lipia",
                Some(200),
                b"<html>\n<body>Bad   gateway</body></html>",
            ),
            Error::invalid_callback("kulmipay", "challenge does not match"),
            Error::StillPending {
                provider: "mock",
                id: "ws_1".into(),
                last_status: "pending",
                waited: Duration::from_secs(120),
            },
            Error::Guarded {
                provider: "upesipay",
                scope: crate::GuardScope::Phone,
                clears_in: Duration::from_secs(86_399),
                reason: "2547******01 has had 10 failed or cancelled pushes in a row; upesipay blocks a number after more than 10".into(),
            },
        ]
    }

    #[test]
    fn provider_text_is_bounded_and_on_one_line() {
        let long = format!("line one\nFAKE: paid\r\n{}", "x".repeat(10_000));
        let e = Error::Rejected {
            provider: "p",
            code: Some("C".repeat(5_000)),
            message: long.clone(),
            customer_message: Some(long),
        }
        .bounded();
        let shown = e.to_string();
        assert!(shown.len() < 1_500, "{}", shown.len());
        assert!(!shown.contains('\n') && !shown.contains('\r'), "{shown}");
    }

    #[test]
    fn messages_say_what_to_do() {
        let lines: Vec<String> = one_of_each()
            .iter()
            .map(|e| format!("{:<19} retryable={:<5} {e}", e.kind(), e.is_retryable()))
            .collect();
        insta::assert_snapshot!(lines.join("\n"));
    }

    #[test]
    fn outcome_unknown_is_never_retryable() {
        for e in one_of_each() {
            if e.kind() == "outcome_unknown" {
                assert!(!e.is_retryable());
            }
        }
    }

    #[test]
    fn field_names() {
        let e: InvalidRequest = FieldError::CallbackUrlNotHttps.into();
        assert_eq!(e.field(), Some("callback_url"));
        assert_eq!(
            InvalidRequest::from(PhoneError::Empty).field(),
            Some("phone")
        );
    }

    proptest! {
        #[test]
        fn excerpt_is_short_and_single_line(body in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let e = excerpt(&body);
            prop_assert!(e.chars().count() <= Error::EXCERPT_LEN + 1);
            prop_assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn a_cause_is_the_source_and_never_compared() {
        let io = || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let e = Error::OutcomeUnknown {
            provider: "p",
            operation: Operation::Initiate,
            message: "the connection failed".into(),
            cause: Some(Cause::new(io())),
        };
        let source = std::error::Error::source(&e).expect("the cause");
        assert_eq!(source.to_string(), "reset by peer");
        let other_cause = Error::OutcomeUnknown {
            provider: "p",
            operation: Operation::Initiate,
            message: "the connection failed".into(),
            cause: Some(Cause::new(std::fmt::Error)),
        };
        assert_eq!(e, other_cause, "causes are not compared");
        let without = Error::OutcomeUnknown {
            provider: "p",
            operation: Operation::Initiate,
            message: "the connection failed".into(),
            cause: None,
        };
        assert_eq!(
            e.to_string(),
            without.to_string(),
            "the message is unchanged"
        );
        assert!(std::error::Error::source(&without).is_none());
        assert!(std::error::Error::source(&e.clone().bounded()).is_some());
    }
}
