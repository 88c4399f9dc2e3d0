//! `/dashboard/review`: the payments a person must decide, each with the reason in words,
//! and the actions: reconcile now (ask the provider), resolve (paid or not, with a note;
//! a paid one never moves), or mark the evidence reviewed.

use axum::Form;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use maud::{Markup, html};
use serde::Deserialize;
use stk_tracker::{
    Attempt, AttemptQuery, AttemptState, Cursor, Resolution, TrackerError, Transition,
};

use super::page::{Page, Section, badge, evidence, local_time, problem, shillings, unavailable};
use super::payments::valid_id;
use super::session::{Operator, csrf_field};
use crate::view::masked;

/// Payments per page of the queue.
const PAGE_SIZE: i64 = 25;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct QueueQuery {
    #[serde(default)]
    after: String,
    #[serde(default)]
    pub(crate) done: String,
}

/// What an action did, said after it (`?done=`).
pub(crate) fn done_message(done: &str) -> Option<&'static str> {
    match done {
        "reconciled" => Some("Asked the provider; the payment shows its answer."),
        "resolved" => Some("Recorded your decision."),
        "reviewed" => Some("Marked reviewed; it comes back if new evidence arrives."),
        _ => None,
    }
}

/// `GET /dashboard/review`.
pub(crate) async fn queue(
    operator: Operator,
    query: Result<Query<QueueQuery>, QueryRejection>,
) -> Response {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let account = operator.account();
    let zone = &account.config.time_zone;
    let now = jiff::Timestamp::now().as_millisecond();
    let mut search = AttemptQuery::newest(PAGE_SIZE);
    search.review_at = Some(now);
    if !query.after.is_empty() {
        match Cursor::decode(&query.after) {
            Some(after) => search.after = Some(after),
            None => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    &operator,
                    "That page link is broken.",
                );
            }
        }
    }
    let page = match account.tracker.payments(&search).await {
        Ok(page) => page,
        Err(e) => return unavailable(&operator, &e),
    };
    let mut rows = Vec::with_capacity(page.attempts.len());
    for attempt in &page.attempts {
        let timeline = match account.tracker.store().transitions(&attempt.id).await {
            Ok(timeline) => timeline,
            Err(e) => return unavailable(&operator, &e),
        };
        rows.push((attempt, reason(attempt, &timeline, now)));
    }
    Page::new("Needs review", &operator, Section::Review)
        .render(html! {
            h1 { "Needs review" }
            @if let Some(message) = done_message(&query.done) { p.done role="status" { (message) } }
            p.muted { "Payments the provider's answers could not settle. Reconcile asks the provider again; resolve records your decision (a paid payment never moves)." }
            @if rows.is_empty() {
                p.empty { "Nothing needs review." }
            }
            @for (attempt, reason) in &rows {
                (item(&operator, attempt, reason, zone))
            }
            nav.paging {
                @if !query.after.is_empty() { a href="/dashboard/review" { "← First page" } }
                @if let Some(next) = &page.next {
                    a href=(format!("/dashboard/review?after={}", next.encode())) rel="next" { "More →" }
                }
            }
        })
        .into_response()
}

/// Why a payment is in the queue, in words, and whether it is for evidence (which a review
/// can answer) rather than for its state.
struct Reason {
    words: String,
    evidence: Option<serde_json::Value>,
}

fn reason(attempt: &Attempt, timeline: &[Transition], now: i64) -> Reason {
    let answered = timeline
        .iter()
        .filter(|t| t.source == "operator")
        .map(|t| t.at)
        .max()
        .unwrap_or(i64::MIN);
    let pending = timeline.iter().rev().find(|t| {
        t.at > answered
            && (t.to == "anomaly"
                || t.to == "needs_review"
                || (t.to == "completed" && (t.from == "expired" || t.from == "failed")))
    });
    if let Some(t) = pending {
        let words = match t.to.as_str() {
            "anomaly" => anomaly_words(t.evidence["anomaly"].as_str().unwrap_or("other")),
            "needs_review" => "A callback claimed an outcome that the provider's status answers neither confirm nor refute. Check the M-Pesa statement, then resolve.".to_owned(),
            _ => "Paid late: the customer paid after the payment had expired or failed. Check whether the order was cancelled or paid again, then ship or refund.".to_owned(),
        };
        return Reason {
            words,
            evidence: Some(t.evidence.clone()),
        };
    }
    let words = match attempt.state {
        AttemptState::Expired => "Expired: no final answer from the provider before the deadline. Reconcile to ask again; if the customer shows an M-Pesa message, resolve as paid with its receipt.".to_owned(),
        AttemptState::OutcomeUnknown => "Outcome unknown: the push may or may not have reached M-Pesa, and status queries have not settled it by the deadline. Reconcile, or check the statement and resolve.".to_owned(),
        AttemptState::Created => "The push was recorded but its sending was never confirmed (the service stopped mid-push?). Reconcile, or check the statement and resolve.".to_owned(),
        _ if attempt.deadline_at < now => "Past its deadline.".to_owned(),
        _ => "Needs a decision.".to_owned(),
    };
    Reason {
        words,
        evidence: None,
    }
}

fn anomaly_words(kind: &str) -> String {
    let words = match kind {
        "reference_mismatch" => "A callback named this payment with another order reference.",
        "amount_mismatch" => "A callback claimed a payment of a different amount.",
        "status_mismatch" => {
            "The provider's status answer contradicts what it said before, or the order."
        }
        "payment_id_already_bound" | "payment_id_reused" | "duplicate_payment_id" => {
            "The provider's payment id is also on another payment: one payment never pays two orders."
        }
        "receipt_already_used" | "receipt_reused" | "duplicate_receipt" => {
            "The M-Pesa receipt is also on another payment: one payment never pays two orders."
        }
        "receipt_conflict" => "Callbacks named different receipts; none was taken.",
        "paid_late_order_pushed_again" => {
            "Paid late, after the order had been pushed again: the customer may have paid twice. Refund one."
        }
        _ => "An anomaly this version does not describe.",
    };
    format!("Anomaly: {words}")
}

fn item(operator: &Operator, attempt: &Attempt, reason: &Reason, zone: &TimeZone) -> Markup {
    html! {
        article.review-item data-reference=(attempt.reference) {
            header {
                a href=(format!("/dashboard/payments/{}", attempt.id)) { "Order " (attempt.reference) }
                " " (badge(attempt.state))
                span.muted { " " (shillings(i64::try_from(attempt.amount).unwrap_or(i64::MAX))) " · " (masked(&attempt.phone)) " · " (attempt.provider) " · created " (local_time(attempt.created_at, zone)) }
            }
            p.reason { (reason.words) }
            @if let Some(e) = &reason.evidence { details { summary { "Evidence" } (evidence(e)) } }
            (actions_for(operator, attempt, "review", reason.evidence.is_some()))
        }
    }
}

/// The actions a payment's state allows (none for a paid one), returning to `back`.
pub(crate) fn actions(operator: &Operator, attempt: &Attempt, back: &str) -> Markup {
    actions_for(operator, attempt, back, false)
}

fn actions_for(operator: &Operator, attempt: &Attempt, back: &str, reviewable: bool) -> Markup {
    let state = attempt.state;
    let reconcilable = state.is_open() || state == AttemptState::Expired;
    let resolvable = matches!(
        state,
        AttemptState::Created
            | AttemptState::OutcomeUnknown
            | AttemptState::Expired
            | AttemptState::Failed
    );
    let base = format!("/dashboard/payments/{}", attempt.id);
    html! {
        div.actions {
            @if reconcilable {
                form method="post" action=(format!("{base}/reconcile")) {
                    (csrf_field(&operator.0))
                    input type="hidden" name="back" value=(back);
                    button type="submit" { "Reconcile now" }
                }
            }
            @if resolvable {
                form.resolve method="post" action=(format!("{base}/resolve")) {
                    (csrf_field(&operator.0))
                    input type="hidden" name="back" value=(back);
                    select name="resolution" aria-label="Decision" {
                        option value="completed" { "Paid" }
                        @if state != AttemptState::Failed { option value="failed" { "Not paid" } }
                    }
                    input type="text" name="receipt" placeholder="M-Pesa receipt (if paid)" maxlength="20" aria-label="Receipt";
                    input type="text" name="note" placeholder="Why (required)" maxlength="500" required aria-label="Note";
                    button type="submit" { "Resolve" }
                }
            }
            @if reviewable {
                form method="post" action=(format!("{base}/reviewed")) {
                    (csrf_field(&operator.0))
                    input type="hidden" name="back" value=(back);
                    input type="text" name="note" placeholder="What you checked (required)" maxlength="500" required aria-label="Review note";
                    button type="submit" { "Mark reviewed" }
                }
            }
        }
    }
}

/// A changing form's fields (each form sends those it has).
#[derive(Debug, Deserialize)]
pub(crate) struct Action {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    back: String,
    #[serde(default)]
    resolution: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    receipt: String,
}

impl Action {
    /// Where to go after `done`: the queue or the payment (never a URL from the form).
    fn after(&self, id: &str, done: &str) -> Response {
        let to = if self.back == "review" {
            format!("/dashboard/review?done={done}")
        } else {
            format!("/dashboard/payments/{id}?done={done}")
        };
        Redirect::to(&to).into_response()
    }
}

/// Checks the form and the id, then runs `act`; a refusal is shown in words.
async fn act<F, Fut>(operator: Operator, id: String, form: Action, done: &str, act: F) -> Response
where
    F: FnOnce(Operator, String, Action) -> Fut,
    Fut: std::future::Future<Output = (Operator, Action, Result<Attempt, TrackerError>)>,
{
    if let Err(refused) = operator.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    if !valid_id(&id) {
        return problem(
            StatusCode::NOT_FOUND,
            &operator,
            "There is no such payment.",
        );
    }
    let (operator, form, outcome) = act(operator, id.clone(), form).await;
    match outcome {
        Ok(_) => form.after(&id, done),
        Err(e) => {
            let status = match &e {
                TrackerError::UnknownAttempt(_) => StatusCode::NOT_FOUND,
                TrackerError::NotResolvable { .. } => StatusCode::CONFLICT,
                _ => StatusCode::BAD_GATEWAY,
            };
            tracing::info!(attempt = %id, error = %e, "dashboard: an action was refused");
            problem(status, &operator, &e.to_string())
        }
    }
}

/// `POST /dashboard/payments/{id}/reconcile`: a status query now.
pub(crate) async fn reconcile(
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<Action>,
) -> Response {
    act(
        operator,
        id,
        form,
        "reconciled",
        |op, id, form| async move {
            let outcome = op.account().tracker.check(&id).await;
            (op, form, outcome)
        },
    )
    .await
}

/// `POST /dashboard/payments/{id}/resolve`: an operator's decision, with a note.
pub(crate) async fn resolve(
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<Action>,
) -> Response {
    let resolution = match form.resolution.as_str() {
        "completed" => Resolution::Completed,
        "failed" => Resolution::Failed,
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                &operator,
                "Pick whether the customer paid.",
            );
        }
    };
    act(operator, id, form, "resolved", |op, id, form| async move {
        let receipt = Some(form.receipt.trim()).filter(|r| !r.is_empty());
        let outcome = op
            .account()
            .tracker
            .resolve(&id, resolution, &form.note, receipt)
            .await;
        tracing::info!(attempt = %id, account = op.account().name(), "dashboard: an operator resolved a payment");
        (op, form, outcome)
    })
    .await
}

/// `POST /dashboard/payments/{id}/reviewed`: the evidence was looked at; the state stays.
pub(crate) async fn mark_reviewed(
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<Action>,
) -> Response {
    act(operator, id, form, "reviewed", |op, id, form| async move {
        let outcome = op.account().tracker.mark_reviewed(&id, &form.note).await;
        (op, form, outcome)
    })
    .await
}
