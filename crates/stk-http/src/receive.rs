//! Receiving callbacks in an axum server (feature `axum`).
//!
//! The glue between HTTP and the framework-free callback types, written once: an incoming
//! request (path and query, headers, raw body) becomes a [`CallbackRequest`] for
//! [`StkProvider::parse_callback`](stk_core::StkProvider::parse_callback), and a
//! [`CallbackAck`] becomes the HTTP answer. `stk listen` and the emulators' loopback
//! receiver use it; so can a merchant's own axum router.
//!
//! ```no_run
//! use axum::Router;
//! use axum::body::Bytes;
//! use axum::extract::DefaultBodyLimit;
//! use axum::http::{HeaderMap, Uri};
//! use axum::response::Response;
//! use stk_core::CallbackAck;
//! use stk_http::receive::{MAX_CALLBACK_BODY, ack_response, callback_request};
//!
//! async fn mpesa_callback(uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
//!     let callback = callback_request(&uri, &headers, body);
//!     // let event = provider.parse_callback(&callback)?; … store it, then acknowledge:
//!     # let _ = callback;
//!     ack_response(&CallbackAck::OK)
//! }
//!
//! let app: Router = Router::new()
//!     .fallback(mpesa_callback)
//!     .layer(DefaultBodyLimit::max(MAX_CALLBACK_BODY));
//! ```

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use stk_core::{CallbackAck, CallbackRequest};

/// The largest callback body worth reading: 64 KiB. Providers' callbacks are a few hundred
/// bytes to a few KiB; use it with axum's
/// [`DefaultBodyLimit::max`](axum::extract::DefaultBodyLimit::max) so a hostile sender
/// cannot make the server buffer megabytes (larger bodies are answered 413).
pub const MAX_CALLBACK_BODY: usize = 64 * 1024;

/// The [`CallbackRequest`] for a request as axum received it: the request target (path and
/// query, e.g. `/mpesa/callback?token=…`, which query-token schemes verify), every header in
/// arrival order (values decoded lossily as UTF-8) and the raw body, untouched so signatures
/// over it can be checked.
pub fn callback_request(uri: &Uri, headers: &HeaderMap, body: Bytes) -> CallbackRequest {
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let mut callback = CallbackRequest::new(Vec::from(body)).path_and_query(target);
    for (name, value) in headers {
        callback = callback.header(
            name.as_str(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        );
    }
    callback
}

/// The HTTP answer for an acknowledgement (see
/// [`StkProvider::callback_ack`](stk_core::StkProvider::callback_ack)): its status (200 if
/// the status is not a valid HTTP status), `Content-Type` and body.
pub fn ack_response(ack: &CallbackAck) -> Response {
    let mut response = ack.body.into_response();
    *response.status_mut() = StatusCode::from_u16(ack.status).unwrap_or(StatusCode::OK);
    if let Ok(content_type) = HeaderValue::from_str(ack.content_type) {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_becomes_a_callback_request() {
        let uri: Uri = "/mpesa/callback?token=s3cret&x=1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.append("x-sig", HeaderValue::from_static("one"));
        headers.append("x-sig", HeaderValue::from_static("two"));
        headers.insert("x-binary", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        let body = Bytes::from_static(br#"{"state":"COMPLETE"}"#);

        let cb = callback_request(&uri, &headers, body);
        assert_eq!(
            cb.path_and_query.as_deref(),
            Some("/mpesa/callback?token=s3cret&x=1")
        );
        assert_eq!(cb.query_param("token").as_deref(), Some("s3cret"));
        assert_eq!(cb.header_value("Content-Type"), Some("application/json"));
        let sigs: Vec<_> = cb
            .headers
            .iter()
            .filter(|(n, _)| n == "x-sig")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(sigs, ["one", "two"]);
        assert_eq!(cb.header_value("x-binary"), Some("caf\u{fffd}"));
        assert_eq!(cb.body, br#"{"state":"COMPLETE"}"#);

        let bare = callback_request(&"/".parse().unwrap(), &HeaderMap::new(), Bytes::new());
        assert_eq!(bare.path_and_query.as_deref(), Some("/"));
        assert!(bare.headers.is_empty() && bare.body.is_empty());
    }

    #[tokio::test]
    async fn an_ack_becomes_the_answer() {
        let response = ack_response(&CallbackAck::new(
            202,
            "application/json",
            r#"{"ResultCode":0}"#,
        ));
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
        let body = axum::body::to_bytes(response.into_body(), MAX_CALLBACK_BODY)
            .await
            .unwrap();
        assert_eq!(&body[..], br#"{"ResultCode":0}"#);

        let ok = ack_response(&CallbackAck::OK);
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(
            ok.headers().get(header::CONTENT_TYPE).unwrap(),
            "text/plain"
        );

        // An impossible status still answers (200) rather than failing the request.
        let odd = ack_response(&CallbackAck::new(42, "text/plain", "ok"));
        assert_eq!(odd.status(), StatusCode::OK);
    }
}
