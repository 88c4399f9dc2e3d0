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
    awaiting_review,
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

/// Why a payment is in the queue, in words: its state's reason, if any, then every piece of
/// evidence awaiting review (newest first), each with what it showed.
struct Reason {
    state: Option<&'static str>,
    evidence: Vec<(String, serde_json::Value)>,
    /// Older evidence not listed here.
    more: usize,
    /// The newest evidence shown (a review answers up to it).
    seen_up_to: Option<i64>,
}

/// The most pieces of evidence listed for one payment in the queue (newest first; all are on
/// its page).
const MAX_EVIDENCE_SHOWN: usize = 10;

fn reason(attempt: &Attempt, timeline: &[Transition], now: i64) -> Reason {
    let pending = awaiting_review(timeline);
    let evidence = pending
        .iter()
        .rev()
        .take(MAX_EVIDENCE_SHOWN)
        .map(|t| {
            let words = match t.to.as_str() {
                "anomaly" => anomaly_words(t.evidence["anomaly"].as_str().unwrap_or("other")),
                "needs_review" => "A callback claimed an outcome that the provider's status answers neither confirm nor refute. Check the M-Pesa statement, then resolve.".to_owned(),
                _ => "Paid late: the customer paid after the payment had expired or failed. Check whether the order was cancelled or paid again, then ship or refund.".to_owned(),
            };
            (words, t.evidence.clone())
        })
        .collect();
    let state = match attempt.state {
        AttemptState::Expired => Some(
            "Expired: no final answer from the provider before the deadline. Reconcile to ask again; if the customer shows an M-Pesa message, resolve as paid with its receipt.",
        ),
        AttemptState::OutcomeUnknown if attempt.deadline_at < now => Some(
            "Outcome unknown: the push may or may not have reached M-Pesa, and status queries have not settled it by the deadline. Reconcile, or check the statement and resolve.",
        ),
        AttemptState::Created if attempt.deadline_at < now => Some(
            "The push was recorded but its sending was never confirmed (the service stopped mid-push?). Reconcile, or check the statement and resolve.",
        ),
        _ => None,
    };
    Reason {
        state,
        evidence,
        more: pending.len().saturating_sub(MAX_EVIDENCE_SHOWN),
        seen_up_to: pending.iter().map(|t| t.at).max(),
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
            @if let Some(words) = reason.state { p.reason { (words) } }
            @for (words, shown) in &reason.evidence {
                p.reason { (words) }
                details { summary { "Evidence" } (evidence(shown)) }
            }
            @if reason.more > 0 {
                p.muted { "And " (reason.more) " older pieces of evidence: see the payment's timeline before deciding." }
            }
            (actions(operator, attempt, "review", reason.seen_up_to))
        }
    }
}

/// The forms for `attempt`; with `seen_up_to` (evidence shown, up to that time) also "Mark
/// reviewed". Decisions carry the version and the newest evidence the page showed: a payment
/// that changed, or got new evidence, since is not decided blind.
pub(crate) fn actions(
    operator: &Operator,
    attempt: &Attempt,
    back: &str,
    seen_up_to: Option<i64>,
) -> Markup {
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
    let hidden = html! {
        (csrf_field(&operator.0))
        input type="hidden" name="back" value=(back);
        input type="hidden" name="version" value=(attempt.version);
        input type="hidden" name="seen" value=(seen_up_to.unwrap_or(0));
    };
    html! {
        div.actions {
            @if reconcilable {
                form method="post" action=(format!("{base}/reconcile")) {
                    (hidden)
                    button type="submit" { "Reconcile now" }
                }
            }
            @if resolvable {
                form.resolve method="post" action=(format!("{base}/resolve")) {
                    (hidden)
                    select name="resolution" required aria-label="Decision" {
                        option value="" { "Decide…" }
                        option value="completed" { "Paid (receipt required)" }
                        @if state != AttemptState::Failed { option value="failed" { "Not paid" } }
                    }
                    input type="text" name="receipt" placeholder="M-Pesa receipt" maxlength="20" aria-label="Receipt";
                    input type="text" name="note" placeholder="Why (required)" maxlength="500" required aria-label="Note";
                    button type="submit" { "Resolve" }
                }
            }
            @if seen_up_to.is_some() {
                form method="post" action=(format!("{base}/reviewed")) {
                    (hidden)
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
    version: Option<i64>,
    #[serde(default)]
    resolution: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    receipt: String,
    #[serde(default)]
    seen: Option<i64>,
}

/// A form's checks passed: the session's token and a well-formed payment id; for a
/// `decision` (resolve, review) also the payment as the page showed it: the same version, no evidence newer than
/// the page's.
async fn checked(
    operator: &Operator,
    id: &str,
    form: &Action,
    decision: bool,
) -> Result<(), Response> {
    operator
        .check_csrf(&form.csrf)
        .map_err(IntoResponse::into_response)?;
    if !valid_id(id) {
        return Err(problem(
            StatusCode::NOT_FOUND,
            operator,
            "There is no such payment.",
        ));
    }
    if !decision {
        return Ok(());
    }
    let attempt = operator
        .account()
        .tracker
        .attempt(id)
        .await
        .map_err(|e| refused(operator, id, &e))?;
    let (Some(version), Some(seen)) = (form.version, form.seen) else {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            operator,
            "Reload the page: this form is incomplete.",
        ));
    };
    let timeline = operator
        .account()
        .tracker
        .store()
        .transitions(id)
        .await
        .map_err(|e| unavailable(operator, &e))?;
    let unseen = awaiting_review(&timeline).iter().any(|t| t.at > seen);
    if version != attempt.version || unseen {
        return Err(problem(
            StatusCode::CONFLICT,
            operator,
            "This payment changed, or new evidence arrived, since the page was drawn. Reload it, look again, then decide.",
        ));
    }
    Ok(())
}

/// A refused action in words: the tracker's reason, or that the store does not answer.
fn refused(operator: &Operator, id: &str, e: &TrackerError) -> Response {
    tracing::info!(attempt = %id, error = %e, "dashboard: an action was refused");
    match e {
        TrackerError::UnknownAttempt(_) => {
            problem(StatusCode::NOT_FOUND, operator, "There is no such payment.")
        }
        TrackerError::NotResolvable { .. } => {
            problem(StatusCode::CONFLICT, operator, &e.to_string())
        }
        TrackerError::UnknownProvider(_) => problem(StatusCode::CONFLICT, operator, &e.to_string()),
        TrackerError::Provider { .. } => problem(
            StatusCode::BAD_GATEWAY,
            operator,
            "The provider did not answer the status query; try again shortly.",
        ),
        _ => unavailable(operator, e),
    }
}

/// An action's outcome: back to the queue or the payment saying what was `done` (never to a
/// URL from the form), or the refusal in words.
fn finish(
    operator: &Operator,
    form: &Action,
    id: &str,
    done: &str,
    outcome: Result<Attempt, TrackerError>,
) -> Response {
    if let Err(e) = outcome {
        return refused(operator, id, &e);
    }
    let to = if form.back == "review" {
        format!("/dashboard/review?done={done}")
    } else {
        format!("/dashboard/payments/{id}?done={done}")
    };
    Redirect::to(&to).into_response()
}

/// `POST /dashboard/payments/{id}/reconcile`: a status query now.
pub(crate) async fn reconcile(
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<Action>,
) -> Response {
    if let Err(refusal) = checked(&operator, &id, &form, false).await {
        return refusal;
    }
    let outcome = operator.account().tracker.check(&id).await;
    finish(&operator, &form, &id, "reconciled", outcome)
}

/// `POST /dashboard/payments/{id}/resolve`: an operator's decision, with a note; "paid"
/// needs the M-Pesa receipt (no other payment may hold it).
pub(crate) async fn resolve(
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<Action>,
) -> Response {
    if let Err(refusal) = checked(&operator, &id, &form, true).await {
        return refusal;
    }
    let receipt = Some(form.receipt.trim()).filter(|r| !r.is_empty());
    let resolution = match (form.resolution.as_str(), receipt) {
        ("completed", Some(_)) => Resolution::Completed,
        ("completed", None) => {
            return problem(
                StatusCode::BAD_REQUEST,
                &operator,
                "Paid needs the M-Pesa receipt (from the customer's message or the statement): one M-Pesa payment pays one order.",
            );
        }
        ("failed", _) => Resolution::Failed,
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                &operator,
                "Pick whether the customer paid.",
            );
        }
    };
    let account = operator.account();
    let outcome = account
        .tracker
        .resolve(&id, resolution, &form.note, receipt)
        .await;
    if outcome.is_ok() {
        tracing::info!(attempt = %id, account = account.name(), "dashboard: an operator resolved a payment");
    }
    finish(&operator, &form, &id, "resolved", outcome)
}

/// `POST /dashboard/payments/{id}/reviewed`: the evidence shown was looked at; the state
/// stays. Refused if newer evidence arrived since the page was drawn.
pub(crate) async fn mark_reviewed(
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<Action>,
) -> Response {
    if let Err(refusal) = checked(&operator, &id, &form, true).await {
        return refusal;
    }
    // `checked` made sure the form says what it showed.
    let seen = form.seen.unwrap_or(0);
    let outcome = operator
        .account()
        .tracker
        .mark_reviewed(&id, &form.note, seen)
        .await;
    finish(&operator, &form, &id, "reviewed", outcome)
}
