//! `GET /openapi.json`: the API described as OpenAPI 3.1, generated from the handlers and
//! their types.

use axum::Json;
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::payments;
use crate::view::PaymentView;

/// An error answer: `{"error": {"kind", "message"}}`, with the payment concerned if any.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
    payment: Option<PaymentView>,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// A stable kind: `invalid_request`, `unauthorized`, `already_live`, `rate_limited`,
    /// `unknown_attempt`, `not_found`, `store`, …
    kind: String,
    /// What happened and what to do next.
    message: String,
}

/// A page of payments, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct PaymentPage {
    payments: Vec<PaymentView>,
    /// Pass as `cursor` for the next page; absent on the last.
    next_cursor: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "stk serve",
        description = "M-Pesa STK Push payments, tracked: create and read payments; results arrive as signed Standard Webhooks."
    ),
    paths(
        payments::create,
        payments::list,
        payments::show,
        payments::reconcile,
        payments::resolve
    ),
    components(schemas(PaymentView, ErrorBody, ErrorDetail, PaymentPage)),
    modifiers(&BearerKey),
    security(("api_key" = []))
)]
struct ApiDoc;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document.
pub(crate) fn api() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(api())
}
