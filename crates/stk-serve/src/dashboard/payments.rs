//! `/dashboard/payments`: every payment, newest first, filtered and searched; and one
//! payment with everything that happened to it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::tz::TimeZone;
use maud::{Markup, html};
use serde::Deserialize;
use stk_tracker::{
    AttemptQuery, AttemptState, Cursor, InboxItem, PaymentRecord, TrackerError, awaiting_review,
};

use super::page::{
    Page, STORE_DOWN, Section, badge, cut, evidence, local_time, mask_phones, problem, shillings,
    source_label, state_label, unavailable, zone_label,
};
use super::range::{DayRange, day_input};
use super::review::{QueueQuery, actions, done_message};
use super::session::Operator;
use crate::view::masked;

/// Payments per page.
const PAGE_SIZE: i64 = 50;
/// The longest search text.
const MAX_SEARCH: usize = 64;

/// The list's filters, as the form and the URL carry them.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filters {
    #[serde(default)]
    q: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    after: String,
}

impl Filters {
    /// The query these filters make, or what is wrong with them.
    fn query(&self, zone: &TimeZone) -> Result<AttemptQuery, String> {
        let mut query = AttemptQuery::newest(PAGE_SIZE);
        let q = self.q.trim();
        if q.chars().count() > MAX_SEARCH {
            return Err(format!("Search for at most {MAX_SEARCH} characters."));
        }
        query.text = (!q.is_empty()).then(|| q.to_owned());
        if !self.state.is_empty() {
            let state = self
                .state
                .parse::<AttemptState>()
                .map_err(|_| "Pick a state from the list.".to_owned())?;
            query.states = vec![state];
        }
        let provider = self.provider.trim();
        if provider.len() > 32 {
            return Err("Pick a provider from the list.".to_owned());
        }
        query.provider = (!provider.is_empty()).then(|| provider.to_owned());
        let range = DayRange::read(&self.from, &self.to, zone)?;
        query.created_from = range.from;
        query.created_before = range.before;
        if !self.after.is_empty() {
            query.after = Some(Cursor::decode(&self.after).ok_or("That page link is broken.")?);
        }
        Ok(query)
    }

    /// These filters as a query string, with `after` for the next page.
    fn link(&self, after: Option<&str>) -> String {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("q", &self.q),
            ("state", &self.state),
            ("provider", &self.provider),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !value.is_empty() {
                url.append_pair(key, value);
            }
        }
        if let Some(after) = after {
            url.append_pair("after", after);
        }
        format!("/dashboard/payments?{}", url.finish())
    }
}

/// `GET /dashboard/payments`.
pub(crate) async fn list(
    operator: Operator,
    filters: Result<Query<Filters>, QueryRejection>,
) -> Response {
    let filters = filters.map(|Query(q)| q).unwrap_or_default();
    let account = operator.account();
    let zone = &account.config.time_zone;
    let (status, found) = match filters.query(zone) {
        Err(message) => (StatusCode::BAD_REQUEST, Err(message)),
        Ok(query) => match account.tracker.payments(&query).await {
            Ok(page) => (StatusCode::OK, Ok(page)),
            Err(e) => {
                tracing::warn!(error = %e, "dashboard: the payment store failed");
                (StatusCode::SERVICE_UNAVAILABLE, Err(STORE_DOWN.to_owned()))
            }
        },
    };
    let providers = account.tracker.provider_names();
    let body = Page::new("Payments", &operator, Section::Payments).render(html! {
        h1 { "Payments" }
        form.filters method="get" action="/dashboard/payments" role="search" {
            input type="search" name="q" value=(filters.q) maxlength="64"
                placeholder="Order, receipt, phone's last digits, provider id" aria-label="Search";
            select name="state" aria-label="State" {
                option value="" { "Any state" }
                @for state in AttemptState::ALL {
                    option value=(state.as_str()) selected[filters.state == state.as_str()] { (state_label(state)) }
                }
            }
            select name="provider" aria-label="Provider" {
                option value="" { "Any provider" }
                @for provider in &providers {
                    option value=(provider) selected[filters.provider == *provider] { (provider) }
                }
            }
            label { "From " (day_input("from", &filters.from)) }
            label { "to " (day_input("to", &filters.to)) }
            button type="submit" { "Search" }
            a href="/dashboard/payments" { "Clear" }
        }
        @match &found {
            Err(message) => p.error role="alert" { (message) },
            Ok(page) => {
                @if page.attempts.is_empty() {
                    p.empty { "No payments match." }
                } @else {
                    (table(&page.attempts, zone))
                }
                nav.paging {
                    @if !filters.after.is_empty() { a href=(filters.link(None)) { "← Newest" } }
                    @if let Some(next) = &page.next { a href=(filters.link(Some(&next.encode()))) rel="next" { "Older →" } }
                }
            }
        }
        section.export {
            h2 { "Export for the accountant" }
            form method="get" action="/dashboard/export.csv" {
                label { "From " (day_input("from", &filters.from)) }
                label { "to " (day_input("to", &filters.to)) }
                button type="submit" { "Download CSV" }
            }
            p.muted { "Days in " (zone_label(zone)) "; both days included; at most 366 days." }
        }
    });
    (status, body).into_response()
}

fn table(attempts: &[stk_tracker::Attempt], zone: &TimeZone) -> Markup {
    html! {
        table.payments {
            thead { tr {
                th { "Created (" (zone_label(zone)) ")" } th { "Order" } th.num { "Amount" }
                th { "Phone" } th { "State" } th { "Provider" } th { "Receipt" }
            } }
            tbody {
                @for a in attempts {
                    tr {
                        td { (local_time(a.created_at, zone)) }
                        td { a href=(format!("/dashboard/payments/{}", a.id)) { (a.reference) } }
                        td.num { (shillings(i64::try_from(a.amount).unwrap_or(i64::MAX))) }
                        td { (masked(&a.phone)) }
                        td { (badge(a.state)) }
                        td { (a.provider) }
                        td.mono { (a.receipt.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// Whether `id` looks like an attempt id (anything else is not looked up).
pub(crate) fn valid_id(id: &str) -> bool {
    (5..=64).contains(&id.len())
        && id.starts_with("att_")
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `GET /dashboard/payments/{id}`.
pub(crate) async fn show(
    operator: Operator,
    Path(id): Path<String>,
    query: Result<Query<QueueQuery>, QueryRejection>,
) -> Response {
    let done = query.map(|Query(q)| q.done).unwrap_or_default();
    if !valid_id(&id) {
        return problem(
            StatusCode::NOT_FOUND,
            &operator,
            "There is no such payment.",
        );
    }
    let account = operator.account();
    let record = match account.tracker.payment(&id).await {
        Ok(record) => record,
        Err(TrackerError::UnknownAttempt(_)) => {
            return problem(
                StatusCode::NOT_FOUND,
                &operator,
                "There is no such payment.",
            );
        }
        Err(e) => return unavailable(&operator, &e),
    };
    let callbacks = match account.tracker.callbacks(&id).await {
        Ok(callbacks) => callbacks,
        Err(e) => return unavailable(&operator, &e),
    };
    let zone = &account.config.time_zone;
    let title = format!("Order {}", record.attempt.reference);
    Page::new(&title, &operator, Section::Payments)
        .render(html! {
            @if let Some(message) = done_message(&done) { p.done role="status" { (message) } }
            (payment(&operator, &record, &callbacks, zone))
        })
        .into_response()
}

fn payment(
    operator: &Operator,
    record: &PaymentRecord,
    callbacks: &[InboxItem],
    zone: &TimeZone,
) -> Markup {
    let a = &record.attempt;
    let time = |ms: i64| local_time(ms, zone);
    let queries: Vec<_> = record
        .timeline
        .iter()
        .filter(|t| t.source == "status_query")
        .collect();
    html! {
        h1 { "Order " (a.reference) " " (badge(a.state)) }
        dl.summary {
            dt { "Amount" } dd { (shillings(i64::try_from(a.amount).unwrap_or(i64::MAX))) }
            dt { "Phone" } dd { (masked(&a.phone)) }
            dt { "Provider" } dd { (a.provider) }
            dt { "M-Pesa receipt" } dd.mono { (a.receipt.as_deref().unwrap_or("—")) }
            dt { "Provider's payment id" } dd.mono { (a.payment_id.as_deref().unwrap_or("—")) }
            dt { "Checkout request id" } dd.mono { (a.checkout_request_id.as_deref().unwrap_or("—")) }
            dt { "Created" } dd { (time(a.created_at)) " " (zone_label(zone)) }
            dt { "Last change" } dd { (time(a.updated_at)) }
            dt { "Deadline" } dd { (time(a.deadline_at)) }
            dt { "Attempt id" } dd.mono { (a.id) }
        }
        (actions(operator, a, "payment", awaiting_review(&record.timeline).iter().map(|t| t.at).max()))
        section {
            h2 { "Timeline" }
            table.timeline {
                thead { tr { th { "When" } th { "What" } th { "Source" } th { "Evidence" } } }
                tbody {
                    @for t in &record.timeline {
                        tr {
                            td { (time(t.at)) }
                            td { (transition_words(&t.from, &t.to)) }
                            td { (source_label(&t.source)) }
                            td { (evidence(&t.evidence)) }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Callbacks received" }
            @if callbacks.is_empty() {
                p.muted { "None matched to this payment (or pruned after the retention)." }
            } @else {
                @if callbacks.len() >= 100 { p.muted { "The latest 100 are shown." } }
                table.callbacks {
                    thead { tr { th { "Received" } th { "Outcome" } th { "Body" } } }
                    tbody {
                        @for c in callbacks { (callback(c, zone)) }
                    }
                }
            }
        }
        section {
            h2 { "Status queries" }
            p {
                (a.check_count) " made by the sweeper or on request (each callback's own confirming query is in its evidence, as status.*). "
                @if let Some(next) = a.next_check_at { "Next one due " (time(next)) ". " }
                @if let Some(error) = &a.last_error { "The last one failed: " span.error { (cut(error)) } }
            }
            @if !queries.is_empty() {
                ul { @for t in &queries { li { (time(t.at)) ": " (transition_words(&t.from, &t.to)) } } }
            }
        }
        section {
            h2 { "Webhooks" }
            @if record.events.is_empty() {
                p.muted { "No events yet." }
            } @else {
                table.events {
                    thead { tr { th { "Event" } th { "Created" } th { "Tries" } th { "Delivered" } th { "Last answer" } } }
                    tbody {
                        @for e in &record.events {
                            tr {
                                td { "payment." (e.kind.name()) }
                                td { (time(e.created_at)) }
                                td.num { (e.deliveries + i64::from(e.delivered_at.is_some())) }
                                td {
                                    @if let Some(at) = e.delivered_at { (time(at)) }
                                    @else { "not yet; next try " (time(e.next_attempt_at)) }
                                }
                                td { (e.last_error.as_deref().map(cut).unwrap_or_else(|| "—".to_owned())) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A transition in words: `Sent to phone → Paid`, or the evidence it records.
fn transition_words(from: &str, to: &str) -> String {
    let label = |s: &str| {
        s.parse()
            .map_or_else(|_| s.to_owned(), |s| state_label(s).to_owned())
    };
    match to {
        "anomaly" => "Anomaly recorded".to_owned(),
        "needs_review" => "Claim needs review".to_owned(),
        "reviewed" => "Reviewed by an operator".to_owned(),
        _ if from == to => format!("Still {}", label(to).to_lowercase()),
        _ => format!("{} → {}", label(from), label(to)),
    }
}

fn callback(c: &InboxItem, zone: &TimeZone) -> Markup {
    let body = String::from_utf8_lossy(&c.body);
    html! {
        tr {
            td { (local_time(c.received_at, zone)) }
            td {
                (c.outcome.as_deref().unwrap_or("waiting"))
                @if let Some(error) = &c.error { br; span.error { (cut(error)) } }
            }
            td { code.body { (cut(&mask_phones(&body))) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn filters_never_panic(q in ".{0,80}", state in ".{0,20}", from in ".{0,12}", after in ".{0,40}") {
            let filters = Filters { q, state, from, after, ..Filters::default() };
            let _ = filters.query(&TimeZone::UTC);
        }

        #[test]
        fn only_attempt_ids_are_looked_up(id in ".{0,80}") {
            if valid_id(&id) {
                prop_assert!(id.starts_with("att_") && id.is_ascii());
            }
        }
    }
}
