//! The HTTP client that never re-sends, and the mapping of transport failures and HTTP
//! statuses to [`Error`]s.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use stk_core::{Cause, Error, Operation, PaymentId};
use url::Url;

use crate::ClientOptions;

/// A provider's answer: status, `Retry-After`, raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RawResponse {
    /// The HTTP status code.
    pub status: u16,
    /// `Retry-After`, when sent in seconds.
    pub retry_after: Option<Duration>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// A response from its parts (for adapters' pure mapping functions, their tests and
    /// fuzzing).
    pub fn new(status: u16, retry_after: Option<Duration>, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            retry_after,
            body: body.into(),
        }
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// An HTTP client for one provider. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpClient {
    provider: &'static str,
    client: reqwest::Client,
}

impl HttpClient {
    /// A client sending `headers` (mark secret ones with [`secret_header`]) on every request.
    pub fn new(
        provider: &'static str,
        settings: &ClientOptions,
        headers: HeaderMap,
    ) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .user_agent(settings.user_agent.clone())
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            // Never re-send anything on our behalf: a re-sent push could charge twice.
            .retry(reqwest::retry::never())
            .build()
            .map_err(|e| Error::config(provider, format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { provider, client })
    }

    /// A POST with a JSON body.
    pub async fn post_json<T: serde::Serialize + ?Sized>(
        &self,
        operation: Operation,
        url: &Url,
        body: &T,
    ) -> Result<RawResponse, Error> {
        self.post_json_authorized(operation, url, body, None).await
    }

    /// A POST with a JSON body and, when given, this `Authorization` header (e.g. a bearer
    /// token from a cache; mark it sensitive, as [`secret_header`] does) on top of the
    /// client's default headers.
    pub async fn post_json_authorized<T: serde::Serialize + ?Sized>(
        &self,
        operation: Operation,
        url: &Url,
        body: &T,
        authorization: Option<&HeaderValue>,
    ) -> Result<RawResponse, Error> {
        let request = authorize(self.client.post(url.clone()).json(body), authorization);
        self.send(operation, request).await
    }

    /// A GET with query parameters.
    pub async fn get(
        &self,
        operation: Operation,
        url: &Url,
        query: &[(&str, &str)],
    ) -> Result<RawResponse, Error> {
        self.get_authorized(operation, url, query, None).await
    }

    /// A GET with query parameters and, when given, this `Authorization` header.
    pub async fn get_authorized(
        &self,
        operation: Operation,
        url: &Url,
        query: &[(&str, &str)],
        authorization: Option<&HeaderValue>,
    ) -> Result<RawResponse, Error> {
        let mut url = url.clone();
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let request = authorize(self.client.get(url), authorization);
        self.send(operation, request).await
    }

    /// Sends a request built on [`HttpClient::inner`] and reads the whole answer.
    pub async fn send(
        &self,
        operation: Operation,
        request: reqwest::RequestBuilder,
    ) -> Result<RawResponse, Error> {
        let mut response = request
            .send()
            .await
            .map_err(|e| transport_error(self.provider, operation, e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        // Read at most MAX_RESPONSE_BYTES: a provider (or whatever answers in its place)
        // cannot make us hold an unbounded answer in memory.
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(self.provider, operation, e))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(too_large(self.provider, operation, status));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(RawResponse {
            status,
            retry_after,
            body,
        })
    }

    /// The underlying `reqwest` client, for requests the helpers above do not cover.
    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }
}

/// Adds an `Authorization` header, if any, to a request.
fn authorize(
    request: reqwest::RequestBuilder,
    authorization: Option<&HeaderValue>,
) -> reqwest::RequestBuilder {
    match authorization {
        Some(value) => request.header(AUTHORIZATION, value.clone()),
        None => request,
    }
}

/// The largest answer read from a provider (1 MiB; documented answers are under 2 KiB).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// An answer over [`MAX_RESPONSE_BYTES`]: to a push, the charge may exist (`outcome_unknown`);
/// to a query, an unexpected response.
fn too_large(provider: &'static str, operation: Operation, status: u16) -> Error {
    let message = format!("HTTP {status} with an answer over {MAX_RESPONSE_BYTES} bytes; not read");
    match operation {
        Operation::Initiate => Error::OutcomeUnknown {
            provider,
            operation,
            message,
            cause: None,
        },
        _ => Error::UnexpectedResponse {
            provider,
            status: Some(status),
            excerpt: message,
        },
    }
}

/// A header value holding a secret: checked for header-safe characters and marked
/// sensitive (so `reqwest` never prints it).
pub fn secret_header(
    provider: &'static str,
    value: &str,
    what: &str,
) -> Result<HeaderValue, Error> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        Error::config(
            provider,
            format!("the {what} contains characters not allowed in an HTTP header; copy it again from the dashboard"),
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// `Retry-After` as a delay: delta-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2026 07:28:00 GMT`, measured from now; a past date is zero).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// Maps a transport failure: a connect error means nothing was sent ([`Error::Unavailable`]);
/// anything after that (timeout, reset, connection closed, body cut off) may have reached the
/// provider, so it is [`Error::OutcomeUnknown`].
pub fn transport_error(provider: &'static str, operation: Operation, e: reqwest::Error) -> Error {
    if e.is_connect() {
        return Error::Unavailable {
            provider,
            status: None,
            message: format!("could not connect: {}", describe(&e)),
            cause: Some(Cause::new(e)),
        };
    }
    let message = if e.is_timeout() {
        format!("timed out waiting for the response: {}", describe(&e))
    } else {
        format!(
            "the connection failed after the request was sent: {}",
            describe(&e)
        )
    };
    Error::OutcomeUnknown {
        provider,
        operation,
        message,
        cause: Some(Cause::new(e)),
    }
}

/// The error and its sources on one line.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The error for a non-2xx answer, for the status classes all providers share:
///
/// | status | error |
/// |---|---|
/// | 400 | `rejected` with `message` |
/// | 401, 403 | `unauthorized` with `message` |
/// | 404 on a status query | `unknown_payment` |
/// | 429 | `rate_limited` with `Retry-After` |
/// | 503 | `unavailable` (nothing accepted) |
/// | other 5xx | push: `outcome_unknown` (a gateway may have forwarded it); status query: `unavailable` |
/// | anything else | `unexpected_response` with a body excerpt |
///
/// `message` is the provider's own error text, decoded by the adapter.
pub fn status_error(
    provider: &'static str,
    operation: Operation,
    id: Option<&PaymentId>,
    response: &RawResponse,
    message: impl FnOnce() -> String,
) -> Error {
    match response.status {
        400 => Error::Rejected {
            provider,
            code: None,
            message: message(),
            customer_message: None,
        },
        401 | 403 => Error::Unauthorized {
            provider,
            message: message(),
        },
        404 => match (operation, id) {
            (Operation::Status, Some(id)) => Error::UnknownPayment {
                provider,
                id: id.clone(),
            },
            _ => Error::unexpected(provider, Some(response.status), &response.body),
        },
        429 => Error::RateLimited {
            provider,
            retry_after: response.retry_after,
        },
        // Only a 503 says "not processed". Any other 5xx to a push may come from a gateway
        // that forwarded it before failing: the charge may exist.
        500..=599 if operation == Operation::Initiate && response.status != 503 => {
            Error::OutcomeUnknown {
                provider,
                operation,
                message: format!(
                    "HTTP {} ({}): a server or gateway error after the push may have been forwarded",
                    response.status,
                    message()
                ),
                cause: None,
            }
        }
        500..=599 => Error::Unavailable {
            provider,
            status: Some(response.status),
            message: message(),
            cause: None,
        },
        _ => Error::unexpected(provider, Some(response.status), &response.body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn test_options() -> ClientOptions {
        crate::ClientOptionsBuilder::default()
            .build(
                &crate::ProviderInfo {
                    name: "p",
                    env_prefix: "P",
                    example_base_url: "http://127.0.0.1/",
                },
                || Ok("http://127.0.0.1/".into()),
            )
            .unwrap()
    }

    fn response(status: u16, body: &[u8]) -> RawResponse {
        RawResponse {
            status,
            retry_after: Some(Duration::from_secs(7)),
            body: body.to_vec(),
        }
    }

    #[test]
    fn status_classes() {
        let id = PaymentId::new("X");
        let kind = |status, op, id| {
            status_error("p", op, id, &response(status, b"<html>"), || "m".into()).kind()
        };
        assert_eq!(kind(400, Operation::Initiate, None), "rejected");
        assert_eq!(kind(401, Operation::Initiate, None), "unauthorized");
        assert_eq!(kind(403, Operation::Status, Some(&id)), "unauthorized");
        assert_eq!(kind(404, Operation::Status, Some(&id)), "unknown_payment");
        assert_eq!(kind(404, Operation::Initiate, None), "unexpected_response");
        assert_eq!(kind(429, Operation::Initiate, None), "rate_limited");
        assert_eq!(kind(503, Operation::Initiate, None), "unavailable");
        for gateway in [500, 502, 504] {
            assert_eq!(kind(gateway, Operation::Initiate, None), "outcome_unknown");
            assert_eq!(kind(gateway, Operation::Status, Some(&id)), "unavailable");
        }
        assert_eq!(kind(302, Operation::Initiate, None), "unexpected_response");
        let e = status_error(
            "p",
            Operation::Initiate,
            None,
            &response(429, b""),
            String::new,
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    }

    #[tokio::test]
    async fn connect_refused_is_unavailable() {
        // Bind then drop a listener so the port is (almost certainly) closed.
        let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let client = HttpClient::new("p", &test_options(), HeaderMap::new()).unwrap();
        let url = Url::parse(&format!("http://{addr}/x")).unwrap();
        let err = client
            .get(Operation::Initiate, &url, &[])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "unavailable", "{err}");
        let cause = std::error::Error::source(&err).expect("the HTTP client's error is kept");
        assert!(
            cause.to_string().contains("error sending request"),
            "{cause}"
        );
    }

    #[tokio::test]
    async fn connection_closed_after_sending_is_outcome_unknown() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            drop(socket);
        });
        let client = HttpClient::new("p", &test_options(), HeaderMap::new()).unwrap();
        let url = Url::parse(&format!("http://{addr}/push")).unwrap();
        let err = client
            .post_json(Operation::Initiate, &url, &[1, 2])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "outcome_unknown", "{err}");
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn oversized_answers_are_not_read_into_memory() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for _ in 0..2 {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    continue;
                }
                // 64 MiB announced in 64 KiB chunks; the client stops after 1 MiB.
                let chunk = vec![b' '; 64 * 1024];
                for _ in 0..1024 {
                    let frame = format!("{:x}\r\n", chunk.len());
                    if socket.write_all(frame.as_bytes()).await.is_err()
                        || socket.write_all(&chunk).await.is_err()
                        || socket.write_all(b"\r\n").await.is_err()
                    {
                        break;
                    }
                }
            }
        });
        let client = HttpClient::new("p", &test_options(), HeaderMap::new()).unwrap();
        let url = Url::parse(&format!("http://{addr}/push")).unwrap();
        let push = client
            .post_json(Operation::Initiate, &url, &[1])
            .await
            .unwrap_err();
        assert_eq!(push.kind(), "outcome_unknown", "{push}");
        let status = client.get(Operation::Status, &url, &[]).await.unwrap_err();
        assert_eq!(status.kind(), "unexpected_response", "{status}");
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn secret_headers_are_sensitive_and_checked() {
        assert!(
            secret_header("p", "Bearer abc", "key")
                .unwrap()
                .is_sensitive()
        );
        assert_eq!(
            secret_header("p", "bad\nkey", "key").unwrap_err().kind(),
            "config"
        );
    }

    proptest! {
        #[test]
        fn any_status_and_body_map_without_panicking(status in 100u16..1000, body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let e = status_error("p", Operation::Status, Some(&PaymentId::new("X")), &RawResponse { status, retry_after: None, body }, || "m".into());
            prop_assert!(!e.kind().as_str().is_empty());
        }

        #[test]
        fn retry_after_never_panics(s in "\\PC{0,40}") {
            let parsed = parse_retry_after(&s);
            if s.trim().parse::<u64>().is_ok() {
                prop_assert!(parsed.is_some());
            }
        }

        #[test]
        fn retry_after_reads_http_dates(secs in 60u64..86_400) {
            let at = std::time::SystemTime::now() + Duration::from_secs(secs);
            let parsed = parse_retry_after(&httpdate::fmt_http_date(at)).unwrap();
            // HTTP dates have whole seconds; allow for that and for the clock moving.
            prop_assert!(parsed <= Duration::from_secs(secs) && parsed + Duration::from_secs(2) >= Duration::from_secs(secs));
        }
    }
}
