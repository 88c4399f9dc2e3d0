//! The provider flow, written once: an adapter declares what is provider-specific in a
//! [`Connector`]; [`HttpProvider`] does the rest (limits check, URLs, auth headers, send-once,
//! timeouts, tracing, transport and HTTP error classification) and implements
//! [`StkProvider`].
//!
//! Credentials are static headers ([`Connector::headers`]) or, for providers with expiring
//! tokens (Daraja's OAuth), an `Authorization` header taken per request
//! ([`Connector::authorization`]). A request whose token the provider refused before
//! processing it ([`Connector::authorization_rejected`]) is sent once more with a fresh token;
//! that is the only re-send, and a connector allows it for a push only when the refusal
//! certainly means the push was not processed.

use std::fmt;
use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderValue};
use serde::Serialize;
use stk_core::{
    AmountLimits, CallbackAck, CallbackClaim, CallbackRequest, Error, Operation, PaymentId,
    PaymentStatus, PushAccepted, StatusReport, StkProvider, StkPushRequest, async_trait,
};
use tracing::Instrument;
use url::Url;

use crate::{ClientOptions, HttpClient, RawResponse, RetryPolicy};

/// How a request goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<B> {
    /// `POST` this body as JSON.
    PostJson(B),
    /// `GET` with these query parameters.
    Get(Vec<(&'static str, String)>),
}

/// The paths of a provider's two operations, relative to the base URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    /// Where pushes go.
    pub push: &'static str,
    /// Where status queries go.
    pub status: &'static str,
}

/// What an adapter declares: everything provider-specific, nothing else. Implemented by the
/// adapter's config type; run it with [`HttpProvider`].
///
/// Mapping functions are pure (a [`RawResponse`] in, a result out) so they can be tested and
/// fuzzed without a server.
pub trait Connector: fmt::Debug + Send + Sync + 'static {
    /// A stable lowercase name (`lipia`, …).
    const NAME: &'static str;
    /// The JSON body of a push.
    type PushBody: Serialize + Send + Sync;
    /// The JSON body of a status query (`()` when it is a `GET`).
    type StatusBody: Serialize + Send + Sync;

    /// The shared client options (base URL, timeouts, user agent).
    fn client_options(&self) -> &ClientOptions;
    /// The amounts this provider accepts.
    fn limits(&self) -> AmountLimits;
    /// The push and status paths.
    fn endpoints(&self) -> Endpoints;
    /// Headers sent on every request (mark secret ones with
    /// [`secret_header`](crate::secret_header)).
    fn headers(&self) -> Result<HeaderMap, Error>;

    /// The `Authorization` header for the next request, when it is not static: e.g. an OAuth
    /// bearer token taken from a cache, fetched (with `http`) when the cache is empty or the
    /// token is about to expire. Called before every push and status query; `Ok(None)` (the
    /// default) sends only [`headers`](Self::headers).
    ///
    /// Nothing has been sent to the provider's push or status endpoint when this fails, so its
    /// errors must say so: a failed token fetch is [`Error::Unavailable`],
    /// [`Error::RateLimited`] or [`Error::Unauthorized`], never [`Error::OutcomeUnknown`].
    fn authorization(
        &self,
        http: &HttpClient,
    ) -> impl Future<Output = Result<Option<HeaderValue>, Error>> + Send {
        let _ = http;
        std::future::ready(Ok(None))
    }

    /// Whether `response` (to `operation`, sent with an authorization from
    /// [`authorization`](Self::authorization)) says that authorization was refused **before
    /// the request was processed**: an expired or revoked token. [`HttpProvider`] then calls
    /// [`invalidate_authorization`](Self::invalidate_authorization), takes a fresh
    /// authorization and sends the request **once more** (never more).
    ///
    /// For a push this re-sends it, so answer `true` only for answers that certainly mean the
    /// push was not processed (the provider's "invalid access token" refusal). Never for
    /// timeouts, 5xx or anything ambiguous: the default is `false`.
    fn authorization_rejected(&self, operation: Operation, response: &RawResponse) -> bool {
        let _ = (operation, response);
        false
    }

    /// Forgets the authorization `rejected` was, so the next
    /// [`authorization`](Self::authorization) fetches a fresh one. Called once per refused
    /// request; when several requests were refused with the same value, only the first call
    /// should discard a cached token (compare it with `rejected`), so concurrent refusals
    /// cause one refresh.
    fn invalidate_authorization(&self, rejected: &HeaderValue) {
        let _ = rejected;
    }

    /// The body a push for `request` sends (after the limits check). Provider-specific rules
    /// are checked here, before anything is sent.
    fn push_body(&self, request: &StkPushRequest) -> Result<Self::PushBody, Error>;
    /// Reads the answer to a push. A 2xx answer that cannot be understood must be
    /// [`Error::OutcomeUnknown`]: the charge may exist.
    fn push_response(&self, response: &RawResponse) -> Result<PushAccepted, Error>;
    /// The status query for `id`.
    fn status_request(&self, id: &PaymentId) -> Request<Self::StatusBody>;
    /// Reads the answer to a status query about `id`, with the merchant reference and phone
    /// it names where the provider's answer carries them.
    fn status_response(
        &self,
        id: &PaymentId,
        response: &RawResponse,
    ) -> Result<StatusReport, Error>;

    /// Verifies and parses a callback.
    fn parse_callback(&self, callback: &CallbackRequest) -> Result<CallbackClaim, Error>;
    /// How to answer an accepted callback.
    fn callback_ack(&self) -> CallbackAck {
        CallbackAck::OK
    }
}

/// A [`StkProvider`] over HTTP for any [`Connector`]. Cheap to clone (shares the client).
pub struct HttpProvider<C> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    connector: C,
    http: HttpClient,
    push_url: Url,
    status_url: Url,
}

impl<C> Clone for HttpProvider<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: Connector> fmt::Debug for HttpProvider<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProvider")
            .field("provider", &C::NAME)
            .field("config", &self.inner.connector)
            .finish_non_exhaustive()
    }
}

impl<C: Connector> HttpProvider<C> {
    /// A provider for this configuration: joins the URLs and builds the client.
    pub fn new(connector: C) -> Result<Self, Error> {
        let options = connector.client_options();
        let join = |path: &str| {
            options.base_url.join(path).map_err(|e| {
                Error::config(
                    C::NAME,
                    format!("cannot build the {path} URL from the base URL: {e}"),
                )
            })
        };
        let endpoints = connector.endpoints();
        let push_url = join(endpoints.push)?;
        let status_url = join(endpoints.status)?;
        let http = HttpClient::new(C::NAME, options, connector.headers()?)?;
        Ok(Self {
            inner: Arc::new(Inner {
                connector,
                http,
                push_url,
                status_url,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &C {
        &self.inner.connector
    }

    /// Sends a request with the connector's [`authorization`](Connector::authorization); if
    /// the answer says that authorization was refused before processing
    /// ([`authorization_rejected`](Connector::authorization_rejected)), invalidates it and
    /// sends once more with a fresh one. Never a third time.
    async fn send_authorized<F, Fut>(
        &self,
        operation: Operation,
        send: F,
    ) -> Result<RawResponse, Error>
    where
        F: Fn(Option<HeaderValue>) -> Fut,
        Fut: Future<Output = Result<RawResponse, Error>>,
    {
        let connector = &self.inner.connector;
        let authorization = connector.authorization(&self.inner.http).await?;
        let response = send(authorization.clone()).await?;
        if let Some(used) = &authorization {
            if connector.authorization_rejected(operation, &response) {
                tracing::debug!(
                    status = response.status,
                    "authorization refused before processing; refreshing it and sending once more"
                );
                connector.invalidate_authorization(used);
                let fresh = connector.authorization(&self.inner.http).await?;
                return send(fresh).await;
            }
        }
        Ok(response)
    }
}

#[async_trait]
impl<C: Connector> StkProvider for HttpProvider<C> {
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn limits(&self) -> AmountLimits {
        self.inner.connector.limits()
    }

    async fn initiate(&self, request: &StkPushRequest) -> Result<PushAccepted, Error> {
        let connector = &self.inner.connector;
        request.check_limits(&connector.limits())?;
        let body = connector.push_body(request)?;
        let span = tracing::debug_span!(
            "stk.initiate",
            provider = C::NAME,
            phone = %request.phone().masked(),
            amount = request.amount().shillings(),
        );
        async {
            tracing::debug!("sending STK push");
            let started = tokio::time::Instant::now();
            let http = &self.inner.http;
            let url = &self.inner.push_url;
            let body = &body;
            let result = RetryPolicy::run(connector.client_options().retry.as_ref(), || async {
                self.send_authorized(Operation::Initiate, |auth| async move {
                    http.post_json_authorized(Operation::Initiate, url, body, auth.as_ref())
                        .await
                })
                .await
                .and_then(|r| connector.push_response(&r))
            })
            .await
            .map_err(Error::bounded);
            log_outcome(&result, started);
            result
        }
        .instrument(span)
        .await
    }

    async fn status(&self, id: &PaymentId) -> Result<PaymentStatus, Error> {
        self.status_report(id).await.map(|report| report.status)
    }

    async fn status_report(&self, id: &PaymentId) -> Result<StatusReport, Error> {
        let connector = &self.inner.connector;
        let span = tracing::debug_span!("stk.status", provider = C::NAME, payment_id = %id);
        async {
            let started = tokio::time::Instant::now();
            let http = &self.inner.http;
            let url = &self.inner.status_url;
            let request = &connector.status_request(id);
            let result = RetryPolicy::run(connector.client_options().retry.as_ref(), || async {
                self.send_authorized(Operation::Status, |auth| async move {
                    match request {
                        Request::PostJson(body) => {
                            http.post_json_authorized(Operation::Status, url, body, auth.as_ref())
                                .await
                        }
                        Request::Get(query) => {
                            let pairs: Vec<(&str, &str)> =
                                query.iter().map(|(k, v)| (*k, v.as_str())).collect();
                            http.get_authorized(Operation::Status, url, &pairs, auth.as_ref())
                                .await
                        }
                    }
                })
                .await
                .and_then(|r| connector.status_response(id, &r))
            })
            .await
            .map_err(Error::bounded);
            log_outcome(&result, started);
            result
        }
        .instrument(span)
        .await
    }

    fn parse_callback(&self, callback: &CallbackRequest) -> Result<CallbackClaim, Error> {
        self.inner
            .connector
            .parse_callback(callback)
            .map_err(Error::bounded)
    }

    fn callback_ack(&self) -> CallbackAck {
        self.inner.connector.callback_ack()
    }
}

/// One event per request with its outcome and latency (in the request's span: provider,
/// operation, masked phone or payment id).
fn log_outcome<T: fmt::Debug>(result: &Result<T, Error>, started: tokio::time::Instant) {
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(value) => tracing::debug!(outcome = "ok", latency_ms, ?value, "answered"),
        Err(e) => tracing::debug!(outcome = e.kind().as_str(), latency_ms, error = %e, "failed"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use reqwest::header::HeaderValue;
    use stk_core::{PaymentStatus, PushAccepted, StkPushRequest};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::ClientOptionsBuilder;

    /// A server answering each request with the next scripted status (then the last one
    /// forever), recording each request's `Authorization` header.
    async fn scripted(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = vec![0u8; 8192];
                let len = socket.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..len]).to_lowercase();
                let auth = head
                    .lines()
                    .find_map(|l| l.strip_prefix("authorization: "))
                    .unwrap_or("-")
                    .trim()
                    .to_owned();
                record.lock().unwrap().push(auth);
                let status = statuses[n.min(statuses.len() - 1)];
                n += 1;
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        (url, seen)
    }

    /// A connector with a counter as its "token": each authorization is `Bearer t<n>`, and
    /// HTTP 401 means the token was refused.
    #[derive(Debug)]
    struct Tokens {
        options: ClientOptions,
        issued: AtomicUsize,
        invalidated: AtomicUsize,
    }

    impl Connector for Tokens {
        const NAME: &'static str = "t";
        type PushBody = ();
        type StatusBody = ();

        fn client_options(&self) -> &ClientOptions {
            &self.options
        }
        fn limits(&self) -> AmountLimits {
            AmountLimits::MPESA
        }
        fn endpoints(&self) -> Endpoints {
            Endpoints {
                push: "push",
                status: "status",
            }
        }
        fn headers(&self) -> Result<HeaderMap, Error> {
            Ok(HeaderMap::new())
        }
        async fn authorization(&self, _http: &HttpClient) -> Result<Option<HeaderValue>, Error> {
            let n = self.issued.fetch_add(1, Ordering::SeqCst);
            Ok(Some(
                HeaderValue::from_str(&format!("Bearer t{n}")).unwrap(),
            ))
        }
        fn authorization_rejected(&self, _operation: Operation, response: &RawResponse) -> bool {
            response.status == 401
        }
        fn invalidate_authorization(&self, _rejected: &HeaderValue) {
            self.invalidated.fetch_add(1, Ordering::SeqCst);
        }
        fn push_body(&self, _request: &StkPushRequest) -> Result<(), Error> {
            Ok(())
        }
        fn push_response(&self, response: &RawResponse) -> Result<PushAccepted, Error> {
            match response.status {
                200 => Ok(PushAccepted::new("t", PaymentId::new("P"))),
                _ => Err(crate::status_error(
                    "t",
                    Operation::Initiate,
                    None,
                    response,
                    || "refused".into(),
                )),
            }
        }
        fn status_request(&self, _id: &PaymentId) -> Request<()> {
            Request::Get(vec![("id", "P".into())])
        }
        fn status_response(
            &self,
            id: &PaymentId,
            response: &RawResponse,
        ) -> Result<StatusReport, Error> {
            match response.status {
                200 => Ok(StatusReport::new(PaymentStatus::Pending)),
                _ => Err(crate::status_error(
                    "t",
                    Operation::Status,
                    Some(id),
                    response,
                    || "refused".into(),
                )),
            }
        }
        fn parse_callback(&self, _callback: &CallbackRequest) -> Result<CallbackClaim, Error> {
            Err(Error::invalid_callback("t", "none"))
        }
    }

    fn provider(url: &str) -> HttpProvider<Tokens> {
        provider_with(url, None)
    }

    fn provider_with(url: &str, retry: Option<RetryPolicy>) -> HttpProvider<Tokens> {
        let options = ClientOptionsBuilder {
            base_url: Some(url.to_owned()),
            retry,
            ..Default::default()
        }
        .build(
            &crate::ProviderInfo {
                name: "t",
                env_prefix: "T",
                example_base_url: "http://127.0.0.1/",
            },
            || Ok(url.to_owned()),
        )
        .unwrap();
        let connector = Tokens {
            options,
            issued: AtomicUsize::new(0),
            invalidated: AtomicUsize::new(0),
        };
        HttpProvider::new(connector).unwrap()
    }

    fn push() -> StkPushRequest {
        StkPushRequest::builder()
            .phone("0712345678")
            .amount(10)
            .reference("R")
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn a_refused_authorization_is_refreshed_and_the_request_sent_once_more() {
        let (url, seen) = scripted(vec![401, 200]).await;
        let p = provider(&url);
        p.initiate(&push()).await.unwrap();
        assert_eq!(*seen.lock().unwrap(), ["bearer t0", "bearer t1"]);
        assert_eq!(p.config().invalidated.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn never_a_third_time() {
        let (url, seen) = scripted(vec![401]).await;
        let p = provider(&url);
        let err = p.initiate(&push()).await.unwrap_err();
        assert_eq!(err.kind(), "unauthorized");
        assert_eq!(seen.lock().unwrap().len(), 2);
        let err = p.status(&PaymentId::new("P")).await.unwrap_err();
        assert_eq!(err.kind(), "unauthorized");
        assert_eq!(seen.lock().unwrap().len(), 4);
        assert_eq!(p.config().invalidated.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn other_answers_are_never_re_sent() {
        let (url, seen) = scripted(vec![500, 200]).await;
        let p = provider(&url);
        assert_eq!(
            p.initiate(&push()).await.unwrap_err().kind(),
            "outcome_unknown"
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
        assert_eq!(p.config().invalidated.load(Ordering::SeqCst), 0);
    }

    fn quick_retries() -> RetryPolicy {
        let mut policy = RetryPolicy::attempts(4);
        policy.base_delay = std::time::Duration::from_millis(1);
        policy
    }

    #[tokio::test]
    async fn retries_only_what_was_certainly_not_processed() {
        // 503 twice, then accepted: three requests, one acceptance.
        let (url, seen) = scripted(vec![503, 503, 200]).await;
        let p = provider_with(&url, Some(quick_retries()));
        assert!(p.initiate(&push()).await.is_ok());
        assert_eq!(seen.lock().unwrap().len(), 3);
        // A 502 to a push may have been forwarded: never sent again, even with retries on.
        let (url, seen) = scripted(vec![502, 200]).await;
        let p = provider_with(&url, Some(quick_retries()));
        assert_eq!(
            p.initiate(&push()).await.unwrap_err().kind(),
            "outcome_unknown"
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
        // Status queries are safe to repeat: a 500 there is retried.
        let (url, seen) = scripted(vec![500, 429, 200]).await;
        let p = provider_with(&url, Some(quick_retries()));
        assert!(p.status(&PaymentId::new("P")).await.is_ok());
        assert_eq!(seen.lock().unwrap().len(), 3);
        // Off by default.
        let (url, seen) = scripted(vec![503, 200]).await;
        assert_eq!(
            provider(&url).initiate(&push()).await.unwrap_err().kind(),
            "unavailable"
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
        // The attempts are bounded.
        let (url, seen) = scripted(vec![503]).await;
        let p = provider_with(&url, Some(quick_retries()));
        assert_eq!(p.initiate(&push()).await.unwrap_err().kind(), "unavailable");
        assert_eq!(seen.lock().unwrap().len(), 4);
    }
}
