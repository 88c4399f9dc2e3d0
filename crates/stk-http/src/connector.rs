//! The provider flow, written once: an adapter declares what is provider-specific in a
//! [`Connector`]; [`HttpProvider`] does the rest (limits check, URLs, auth headers, send-once,
//! timeouts, tracing, transport and HTTP error classification) and implements
//! [`StkProvider`].

use std::fmt;
use std::sync::Arc;

use reqwest::header::HeaderMap;
use serde::Serialize;
use stk_core::{
    AmountLimits, CallbackAck, CallbackRequest, Error, Operation, PaymentEvent, PaymentId,
    PaymentStatus, PushAccepted, StkProvider, StkPushRequest, async_trait,
};
use tracing::Instrument;
use url::Url;

use crate::{ClientOptions, HttpClient, RawResponse};

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

    /// The body a push for `request` sends (after the limits check). Provider-specific rules
    /// are checked here, before anything is sent.
    fn push_body(&self, request: &StkPushRequest) -> Result<Self::PushBody, Error>;
    /// Reads the answer to a push. A 2xx answer that cannot be understood must be
    /// [`Error::OutcomeUnknown`]: the charge may exist.
    fn push_response(&self, response: &RawResponse) -> Result<PushAccepted, Error>;
    /// The status query for `id`.
    fn status_request(&self, id: &PaymentId) -> Request<Self::StatusBody>;
    /// Reads the answer to a status query about `id`.
    fn status_response(
        &self,
        id: &PaymentId,
        response: &RawResponse,
    ) -> Result<PaymentStatus, Error>;

    /// Verifies and parses a callback.
    fn parse_callback(&self, callback: &CallbackRequest) -> Result<PaymentEvent, Error>;
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
            let response = self
                .inner
                .http
                .post_json(Operation::Initiate, &self.inner.push_url, &body)
                .await;
            let result = response.and_then(|r| connector.push_response(&r));
            log_outcome(&result);
            result
        }
        .instrument(span)
        .await
    }

    async fn status(&self, id: &PaymentId) -> Result<PaymentStatus, Error> {
        let connector = &self.inner.connector;
        let span = tracing::debug_span!("stk.status", provider = C::NAME, payment_id = %id);
        async {
            let url = &self.inner.status_url;
            let response = match connector.status_request(id) {
                Request::PostJson(body) => {
                    self.inner
                        .http
                        .post_json(Operation::Status, url, &body)
                        .await
                }
                Request::Get(query) => {
                    let pairs: Vec<(&str, &str)> =
                        query.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    self.inner.http.get(Operation::Status, url, &pairs).await
                }
            };
            let result = response.and_then(|r| connector.status_response(id, &r));
            log_outcome(&result);
            result
        }
        .instrument(span)
        .await
    }

    fn parse_callback(&self, callback: &CallbackRequest) -> Result<PaymentEvent, Error> {
        self.inner.connector.parse_callback(callback)
    }

    fn callback_ack(&self) -> CallbackAck {
        self.inner.connector.callback_ack()
    }
}

fn log_outcome<T: fmt::Debug>(result: &Result<T, Error>) {
    match result {
        Ok(value) => tracing::debug!(outcome = "ok", ?value, "answered"),
        Err(e) => tracing::debug!(outcome = e.kind().as_str(), error = %e, "failed"),
    }
}
