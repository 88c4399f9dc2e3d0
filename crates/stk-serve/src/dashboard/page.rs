//! The page around every view, and how values read for people: times in the shop's time
//! zone, shillings, states as badges, evidence as lines.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use jiff::tz::TimeZone;
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;
use stk_tracker::AttemptState;

use super::session::{Operator, csrf_field};

/// Which section a page belongs to (highlighted in the menu).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Overview,
    Payments,
    Review,
    None,
}

/// A page: its title and, once signed in, the menu.
pub(crate) struct Page<'a> {
    title: &'a str,
    operator: Option<(&'a Operator, Section)>,
}

impl<'a> Page<'a> {
    /// A page without the menu (sign-in, refusals).
    pub(crate) fn bare(title: &'a str) -> Self {
        Self {
            title,
            operator: None,
        }
    }

    /// A page with the menu, `section` highlighted.
    pub(crate) fn new(title: &'a str, operator: &'a Operator, section: Section) -> Self {
        Self {
            title,
            operator: Some((operator, section)),
        }
    }

    pub(crate) fn render(&self, body: Markup) -> Html<String> {
        let markup = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.title) " · stk payments" }
                    link rel="stylesheet" href="/dashboard/style.css";
                }
                body {
                    @if let Some((operator, section)) = self.operator {
                        header.top {
                            nav {
                                a.brand href="/dashboard/" { "stk payments" }
                                (link("/dashboard/", "Overview", section == Section::Overview))
                                (link("/dashboard/payments", "Payments", section == Section::Payments))
                                (link("/dashboard/review", "Needs review", section == Section::Review))
                            }
                            div.who {
                                span.account { "Account " strong { (operator.account().name()) } }
                                form method="post" action="/dashboard/logout" {
                                    (csrf_field(&operator.0))
                                    button.link type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                    main { (body) }
                }
            }
        };
        Html(markup.into_string())
    }
}

fn link(href: &str, text: &str, current: bool) -> Markup {
    html! {
        @if current { a href=(href) aria-current="page" { (text) } }
        @else { a href=(href) { (text) } }
    }
}

/// A page saying what went wrong, with a way back.
pub(crate) fn problem(status: StatusCode, operator: &Operator, message: &str) -> Response {
    let body = Page::new("Problem", operator, Section::None).render(html! {
        h1 { "That did not work" }
        p.error role="alert" { (message) }
        p { a href="/dashboard/review" { "Needs review" } " · " a href="/dashboard/payments" { "Payments" } }
    });
    (status, body).into_response()
}

/// What the store's failure (`error`, logged) means to the operator: try again shortly.
pub(crate) fn unavailable(operator: &Operator, error: &dyn std::fmt::Display) -> Response {
    tracing::warn!(error = %error, "dashboard: the payment store failed");
    problem(StatusCode::SERVICE_UNAVAILABLE, operator, STORE_DOWN)
}

/// What a page says when the store does not answer.
pub(crate) const STORE_DOWN: &str = "The payment store does not answer; try again shortly.";

/// Unix ms as `2026-12-07 10:15:03` in `zone`.
pub(crate) fn local_time(ms: i64, zone: &TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(
        |_| "?".to_owned(),
        |t| {
            t.to_zoned(zone.clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        },
    )
}

/// The zone's short name now (`EAT`), else its IANA name, else its offset (`+03`).
pub(crate) fn zone_label(zone: &TimeZone) -> String {
    let info = zone.to_offset_info(jiff::Timestamp::now());
    let abbreviation = info.abbreviation();
    if !abbreviation.starts_with(['+', '-']) && !abbreviation.is_empty() {
        abbreviation.to_owned()
    } else {
        zone.iana_name()
            .map_or_else(|| info.offset().to_string(), str::to_owned)
    }
}

/// A duration as people say it: `42 s`, `3 min 5 s`, `2 h 10 min`.
pub(crate) fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// Whole shillings as `KES 1,234`.
pub(crate) fn shillings(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("KES {}{grouped}", if amount < 0 { "-" } else { "" })
}

/// What a state means to someone answering a customer.
pub(crate) fn state_label(state: AttemptState) -> &'static str {
    match state {
        AttemptState::Created => "Recorded, not sent",
        AttemptState::Submitted => "Sent to phone",
        AttemptState::OutcomeUnknown => "Outcome unknown",
        AttemptState::Pending => "Waiting for PIN",
        AttemptState::Processing => "Processing",
        AttemptState::Completed => "Paid",
        AttemptState::Failed => "Failed",
        AttemptState::Expired => "Expired",
        _ => "Other",
    }
}

/// A state as a coloured badge (the colour class is the state's name).
pub(crate) fn badge(state: AttemptState) -> Markup {
    html! { span class=(format!("badge {}", state.as_str())) title=(state.as_str()) { (state_label(state)) } }
}

/// Who made a transition, in words.
pub(crate) fn source_label(source: &str) -> &str {
    match source {
        "initiate" => "Push answer",
        "callback" => "Callback (confirmed)",
        "status_query" => "Status query",
        "deadline" => "Deadline",
        "operator" => "Operator",
        other => other,
    }
}

/// The longest value shown on one evidence line.
const MAX_EVIDENCE_VALUE: usize = 200;

/// Evidence (JSON) as `key: value` lines, nested keys dotted, nulls left out, phones masked.
pub(crate) fn evidence_lines(value: &Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
        if out.len() >= 40 {
            return;
        }
        match value {
            Value::Null => {}
            Value::Object(map) => {
                for (key, v) in map {
                    let key = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&key, v, out);
                }
            }
            Value::String(s) => out.push((prefix.to_owned(), cut(&mask_phones(s)))),
            other => out.push((prefix.to_owned(), cut(&mask_phones(&other.to_string())))),
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

/// Runs of 10 to 15 digits (phone numbers) with all but their first 4 and last 2 hidden.
pub(crate) fn mask_phones(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if (10..=15).contains(&digits.len()) {
            out.push_str(&masked_digits(digits));
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

fn masked_digits(digits: &str) -> String {
    let n = digits.len();
    format!("{}{}{}", &digits[..4], "*".repeat(n - 6), &digits[n - 2..])
}

/// Text cut to [`MAX_EVIDENCE_VALUE`] characters, control characters shown as `�`.
pub(crate) fn cut(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_EVIDENCE_VALUE)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if text.chars().count() > MAX_EVIDENCE_VALUE {
        out.push('…');
    }
    out
}

/// Evidence as a definition list.
pub(crate) fn evidence(value: &Value) -> Markup {
    let lines = evidence_lines(value);
    html! {
        @if lines.is_empty() { span.muted { "—" } }
        @else {
            dl.evidence {
                @for (key, value) in &lines { dt { (key) } dd { (value) } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn values_read_for_people() {
        assert_eq!(shillings(0), "KES 0");
        assert_eq!(shillings(1_234_567), "KES 1,234,567");
        assert_eq!(shillings(-1000), "KES -1,000");
        assert_eq!(duration(42_000), "42 s");
        assert_eq!(duration(185_000), "3 min 5 s");
        assert_eq!(duration(7_800_000), "2 h 10 min");
        let eat = TimeZone::get("Africa/Nairobi").unwrap();
        assert_eq!(local_time(1_765_094_400_000, &eat), "2025-12-07 11:00:00");
        assert_eq!(zone_label(&eat), "EAT");
        let lines = evidence_lines(&serde_json::json!({
            "status": {"state": "completed", "receipt": "UAB1C2D3E4"},
            "note": null,
            "amount": 100,
        }));
        assert_eq!(
            lines,
            [
                ("amount".into(), "100".into()),
                ("status.receipt".into(), "UAB1C2D3E4".into()),
                ("status.state".into(), "completed".into()),
            ]
        );
    }

    #[test]
    fn phones_in_callback_bodies_are_masked() {
        assert_eq!(
            mask_phones(r#"{"PhoneNumber":254712345678,"Amount":100}"#),
            r#"{"PhoneNumber":2547******78,"Amount":100}"#
        );
        assert_eq!(mask_phones("ref 123456789"), "ref 123456789");
    }

    proptest! {
        #[test]
        fn no_phone_survives_masking(prefix in "[a-z\" :]{0,5}", phone in "2547[0-9]{8}", suffix in "[a-z\" ,]{0,5}") {
            let masked = mask_phones(&format!("{prefix}{phone}{suffix}"));
            prop_assert!(!masked.contains(&phone[4..10]));
        }

        #[test]
        fn shillings_group_every_three_digits(n in any::<i64>()) {
            let text = shillings(n);
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            prop_assert_eq!(digits, n.unsigned_abs().to_string());
            for group in text.trim_start_matches("KES ").trim_start_matches('-').split(',').skip(1) {
                prop_assert_eq!(group.len(), 3);
            }
        }

        #[test]
        fn evidence_is_bounded_and_printable(text in ".{0,600}") {
            let shown = cut(&text);
            prop_assert!(shown.chars().count() <= MAX_EVIDENCE_VALUE + 1);
            prop_assert!(!shown.chars().any(char::is_control));
        }
    }
}
