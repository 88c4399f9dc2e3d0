//! `POST /v1/payments`, `GET /v1/payments/{id}`, `GET /v1/payments`.

use axum::Extension;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use stk::StkPushRequest;
use stk_tracker::{AttemptQuery, AttemptState, Cursor, Resolution, TrackerError};

use crate::api::ApiError;
use std::sync::Arc;

use crate::account::Account;
use crate::view::PaymentView;

/// What an app sends to start a payment.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewPayment {
    /// The customer's Safaricom number (`0712345678`, `254712345678`, `+254…`).
    #[schema(example = "0712345678")]
    phone: String,
    /// Whole shillings.
    #[schema(example = 100)]
    amount: u64,
    /// The order: at most one live or paid payment per reference (per account).
    #[schema(example = "ORDER-1001")]
    reference: String,
    /// Shown to the customer where the provider allows.
    description: Option<String>,
    /// One of the account's providers (default: its first).
    provider: Option<String>,
}

/// Records the attempt, then sends the push; a repeat of the same order (same phone and
/// amount) answers the existing payment and sends nothing.
#[utoipa::path(post, path = "/v1/payments", request_body = NewPayment,
    responses(
        (status = 201, description = "Recorded and sent (or recorded `failed`: the provider refused, see `error`)", body = PaymentView),
        (status = 200, description = "The same order again (same phone and amount): the payment it made; nothing sent", body = PaymentView),
        (status = 400, description = "Invalid; nothing recorded", body = crate::openapi::ErrorBody),
        (status = 401, description = "No or wrong API key", body = crate::openapi::ErrorBody),
        (status = 409, description = "The order has a live or paid payment with another phone or amount", body = crate::openapi::ErrorBody),
        (status = 429, description = "Too many payments requests; see Retry-After", body = crate::openapi::ErrorBody),
    ))]
pub(crate) async fn create(
    Extension(account): Extension<Arc<Account>>,
    body: Result<Json<NewPayment>, JsonRejection>,
) -> Result<Response, ApiError> {
    let answer = create_payment(&account, body).await;
    let outcome = match &answer {
        Ok(Created::New(view)) => view.state.as_str(),
        Ok(Created::Repeat(_)) => "repeat",
        Err(e) => e.kind,
    };
    let provider = match &answer {
        Ok(Created::New(view) | Created::Repeat(view)) => view.provider.clone(),
        Err(e) => e
            .payment
            .as_ref()
            .map_or_else(|| "none".to_owned(), |p| p.provider.clone()),
    };
    account.metrics.payment(&provider, outcome);
    answer.map(|created| match created {
        Created::New(view) => (StatusCode::CREATED, Json(view)).into_response(),
        Created::Repeat(view) => (StatusCode::OK, Json(view)).into_response(),
    })
}

/// What a create request did.
enum Created {
    /// Recorded (and sent, unless refused).
    New(PaymentView),
    /// The same order again: the payment it made, nothing sent.
    Repeat(PaymentView),
}

async fn create_payment(
    account: &Account,
    body: Result<Json<NewPayment>, JsonRejection>,
) -> Result<Created, ApiError> {
    if let Err(wait) = account.limit.take() {
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many payments requests; retry after {} ms",
                wait.as_millis().max(1)
            ),
        );
        error.retry_after = Some(wait.as_secs().max(1));
        return Err(error);
    }
    let Json(new) = body.map_err(|e| {
        let status = match e.status() {
            // Too large, or not JSON at all: said as such; any other refusal is a 400.
            s @ (StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE) => s,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, "invalid_request", e.body_text())
    })?;
    let mut builder = StkPushRequest::builder()
        .phone(new.phone.as_str())
        .amount(new.amount)
        .reference(new.reference.as_str());
    if let Some(description) = &new.description {
        builder = builder.description(description.as_str());
    }
    let request = builder
        .build()
        .map_err(|e| ApiError::invalid(format!("{e}; nothing was recorded or sent")))?;
    // In its own task: a client that hangs up mid-push cannot cancel recording its answer.
    let tracker = account.tracker.clone();
    let provider = new.provider.clone();
    let sent = request.clone();
    let pushed = tokio::spawn(async move {
        match &provider {
            Some(provider) => tracker.push_via(provider, &sent).await,
            None => tracker.push(&sent).await,
        }
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "outcome_unknown",
            format!("the push task failed ({e}): check the order with GET before pushing again"),
        )
    })?;
    match pushed {
        Ok(attempt) => Ok(Created::New(PaymentView::of(&attempt))),
        Err(TrackerError::AlreadyLive { attempt }) => {
            let same = attempt.phone == request.phone().international()
                && attempt.amount == request.amount().shillings();
            if same {
                // A retried request: the payment it created, nothing sent again.
                Ok(Created::Repeat(PaymentView::of(&attempt)))
            } else {
                let mut error = ApiError::new(
                    StatusCode::CONFLICT,
                    "already_live",
                    format!(
                        "order {} already has a {} payment with another phone or amount: not pushing again",
                        attempt.reference, attempt.state
                    ),
                );
                error.payment = Some(PaymentView::of(&attempt));
                Err(error)
            }
        }
        // Recorded and certainly not accepted: the payment is `failed`, with why.
        Err(TrackerError::Provider {
            error,
            attempt: Some(attempt),
        }) => {
            let mut view = PaymentView::of(&attempt);
            view.error = Some(json!({ "kind": error.kind(), "message": error.to_string() }));
            Ok(Created::New(view))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct ShowQuery {
    /// `timeline` (its transitions), `webhooks` (its delivery log), or both: `timeline,webhooks`.
    expand: Option<String>,
}

/// One payment.
#[utoipa::path(get, path = "/v1/payments/{id}", params(("id" = String, Path, description = "The payment id (`att_…`)"), ShowQuery),
    responses(
        (status = 200, body = PaymentView),
        (status = 404, description = "No such payment in this account", body = crate::openapi::ErrorBody),
    ))]
pub(crate) async fn show(
    Extension(account): Extension<Arc<Account>>,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<ShowQuery>, QueryRejection>,
) -> Result<Json<PaymentView>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::invalid(e.body_text()))?;
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let record = account.tracker.payment(&id).await?;
    let mut view = PaymentView::of(&record.attempt);
    for part in query.expand.iter().flat_map(|e| e.split(',')) {
        view = match part.trim() {
            "timeline" => view.with_timeline(&record.timeline),
            "webhooks" => view.with_webhooks(&record.events),
            other => {
                return Err(ApiError::invalid(format!(
                    "expand={:?}: timeline, webhooks or both (timeline,webhooks)",
                    other.chars().take(40).collect::<String>()
                )));
            }
        };
    }
    Ok(Json(view))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only this order's payments.
    reference: Option<String>,
    /// Only payments in this state.
    state: Option<String>,
    /// Only this provider's.
    provider: Option<String>,
    /// The payment with this M-Pesa receipt.
    receipt: Option<String>,
    /// Search reference, receipt, payment id and id.
    q: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Payments, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/payments", params(ListQuery),
    responses(
        (status = 200, body = crate::openapi::PaymentPage),
        (status = 400, body = crate::openapi::ErrorBody),
    ))]
pub(crate) async fn list(
    Extension(account): Extension<Arc<Account>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let mut search = AttemptQuery::newest(q.limit.unwrap_or(50));
    if !(1..=AttemptQuery::MAX_LIMIT).contains(&search.limit) {
        return Err(ApiError::invalid(format!(
            "limit must be 1 to {}",
            AttemptQuery::MAX_LIMIT
        )));
    }
    if let Some(name) = &q.state {
        let state: AttemptState = name
            .parse()
            .map_err(|_| ApiError::invalid(format!("state={name:?} is not a payment state")))?;
        search.states = vec![state];
    }
    search.reference = q.reference;
    search.provider = q.provider;
    search.receipt = q.receipt;
    search.text = q.q;
    if let Some(cursor) = &q.cursor {
        search.after = Some(
            Cursor::decode(cursor)
                .ok_or_else(|| ApiError::invalid("cursor is not one this service gave"))?,
        );
    }
    let page = account.tracker.payments(&search).await?;
    let payments: Vec<PaymentView> = page.attempts.iter().map(PaymentView::of).collect();
    Ok(Json(json!({
        "payments": payments,
        "next_cursor": page.next.map(|c| c.encode()),
    }))
    .into_response())
}

/// Queries the provider now (also for an expired payment, which may still be paid).
#[utoipa::path(post, path = "/v1/payments/{id}/reconcile", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The payment after the provider's answer", body = PaymentView),
        (status = 404, body = crate::openapi::ErrorBody),
    ))]
pub(crate) async fn reconcile(
    Extension(account): Extension<Arc<Account>>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<PaymentView>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::invalid(e.body_text()))?;
    Ok(Json(PaymentView::of(&account.tracker.check(&id).await?)))
}

/// An operator's decision for a payment the provider's answers could not settle.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Decision {
    /// `completed` or `failed`.
    resolution: String,
    /// Why (kept in the payment's timeline).
    note: String,
    /// The M-Pesa receipt, for `completed`.
    receipt: Option<String>,
}

/// The operator's decision for a payment in `needs_review`.
#[utoipa::path(post, path = "/v1/payments/{id}/resolve", params(("id" = String, Path)), request_body = Decision,
    responses(
        (status = 200, body = PaymentView),
        (status = 409, description = "Not in review", body = crate::openapi::ErrorBody),
    ))]
pub(crate) async fn resolve(
    Extension(account): Extension<Arc<Account>>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<Decision>, JsonRejection>,
) -> Result<Json<PaymentView>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::invalid(e.body_text()))?;
    let Json(decision) = body.map_err(|e| ApiError::invalid(e.body_text()))?;
    let resolution = match decision.resolution.as_str() {
        "completed" => Resolution::Completed,
        "failed" => Resolution::Failed,
        other => {
            return Err(ApiError::invalid(format!(
                "resolution {other:?}: completed or failed"
            )));
        }
    };
    let attempt = account
        .tracker
        .resolve(&id, resolution, &decision.note, decision.receipt.as_deref())
        .await?;
    Ok(Json(PaymentView::of(&attempt)))
}
