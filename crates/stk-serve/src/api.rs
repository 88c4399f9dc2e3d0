//! Errors as JSON: `{"error": {"kind": "...", "message": "..."}}`, with the payment concerned
//! when there is one.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use stk_tracker::TrackerError;

use crate::view::PaymentView;

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) kind: &'static str,
    pub(crate) message: String,
    pub(crate) payment: Option<PaymentView>,
    /// Seconds, for a `Retry-After` header.
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            payment: None,
            retry_after: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
}

impl From<TrackerError> for ApiError {
    fn from(e: TrackerError) -> Self {
        let status = match &e {
            TrackerError::UnknownAttempt(_) => StatusCode::NOT_FOUND,
            TrackerError::UnknownProvider(_) | TrackerError::Provider { .. } => {
                StatusCode::BAD_REQUEST
            }
            TrackerError::AlreadyLive { .. } => StatusCode::CONFLICT,
            TrackerError::NotResolvable { .. } => StatusCode::CONFLICT,
            TrackerError::Store(_) | TrackerError::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "a payments request failed");
        }
        Self::new(status, e.kind(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": { "kind": self.kind, "message": self.message } });
        if let Some(payment) = self.payment {
            body["payment"] = serde_json::to_value(payment).unwrap_or(Value::Null);
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}
