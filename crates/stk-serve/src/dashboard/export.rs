//! `/dashboard/export.csv?from=&to=`: the payments of a range of days, one row each, for
//! the accountant (phones masked, times in the shop's time zone).

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use stk_tracker::{Attempt, AttemptQuery, Cursor};

use super::page::{local_time, problem, unavailable, zone_label};
use super::range::DayRange;
use super::session::Operator;
use crate::view::masked;

/// The most rows one export holds (narrow the range for more).
pub(crate) const MAX_ROWS: usize = 100_000;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Days {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// The CSV header.
pub(crate) const HEADER: [&str; 10] = [
    "order",
    "amount_kes",
    "phone",
    "state",
    "receipt",
    "provider",
    "provider_payment_id",
    "created",
    "updated",
    "attempt_id",
];

/// A cell a spreadsheet would not run as a formula (`=`, `+`, `-`, `@` lead with `'`).
fn cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn row(a: &Attempt, zone: &jiff::tz::TimeZone) -> [String; 10] {
    [
        cell(&a.reference),
        a.amount.to_string(),
        masked(&a.phone),
        a.state.as_str().to_owned(),
        cell(a.receipt.as_deref().unwrap_or("")),
        cell(&a.provider),
        cell(a.payment_id.as_deref().unwrap_or("")),
        local_time(a.created_at, zone),
        local_time(a.updated_at, zone),
        a.id.clone(),
    ]
}

/// `GET /dashboard/export.csv`.
pub(crate) async fn csv(operator: Operator, days: Result<Query<Days>, QueryRejection>) -> Response {
    let days = days.map(|Query(q)| q).unwrap_or_default();
    let account = operator.account();
    let zone = &account.config.time_zone;
    if days.from.trim().is_empty() || days.to.trim().is_empty() {
        return problem(
            StatusCode::BAD_REQUEST,
            &operator,
            "Pick the first and the last day to export.",
        );
    }
    let range = match DayRange::read(&days.from, &days.to, zone) {
        Ok(range) => range,
        Err(message) => return problem(StatusCode::BAD_REQUEST, &operator, &message),
    };
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |out: &mut csv::Writer<Vec<u8>>, record: &[String]| out.write_record(record);
    let header: Vec<String> = HEADER
        .iter()
        .map(|h| match *h {
            "created" | "updated" => format!(
                "{h} ({})",
                zone.iana_name()
                    .map_or_else(|| zone_label(zone), str::to_owned)
            ),
            _ => (*h).to_owned(),
        })
        .collect();
    let mut rows = 0;
    let mut after: Option<Cursor> = None;
    let written = write(&mut out, &header);
    if written.is_err() {
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            &operator,
            "The export could not be written.",
        );
    }
    loop {
        let mut query = AttemptQuery::newest(AttemptQuery::MAX_LIMIT);
        query.created_from = range.from;
        query.created_before = range.before;
        query.after = after.take();
        let page = match account.tracker.payments(&query).await {
            Ok(page) => page,
            Err(e) => return unavailable(&operator, &e),
        };
        rows += page.attempts.len();
        if rows > MAX_ROWS {
            return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                &operator,
                &format!(
                    "More than {MAX_ROWS} payments in that range: export fewer days at a time."
                ),
            );
        }
        for attempt in &page.attempts {
            if write(&mut out, &row(attempt, zone)).is_err() {
                return problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &operator,
                    "The export could not be written.",
                );
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let Ok(body) = out.into_inner() else {
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            &operator,
            "The export could not be written.",
        );
    };
    let name = format!(
        "attachment; filename=\"payments-{}-{}-to-{}.csv\"",
        account.name(),
        days.from.trim(),
        days.to.trim()
    );
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (CONTENT_DISPOSITION, name),
            (CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// No cell starts a formula, whatever the text.
        #[test]
        fn cells_never_start_a_formula(text in ".{0,40}") {
            let c = cell(&text);
            prop_assert!(!c.starts_with(['=', '+', '-', '@', '\t', '\r']));
            prop_assert!(c.ends_with(&text));
        }
    }
}
