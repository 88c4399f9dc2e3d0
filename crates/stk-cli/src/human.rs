//! Payments for a person: a table with a header, times in East Africa Time, phones masked,
//! everything a provider or callback sent made printable.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use stk_tracker::{Attempt, Event, Transition};

use crate::tracking::printable;

/// Unix milliseconds as `2026-12-07 08:15:30 EAT` (Kenya's time: UTC+3, no daylight saving).
pub(crate) fn eat(ms: i64) -> String {
    let eat = jiff::tz::TimeZone::fixed(jiff::tz::offset(3));
    jiff::Timestamp::from_millisecond(ms).map_or_else(
        |_| "?".to_owned(),
        |t| format!("{} EAT", t.to_zoned(eat).strftime("%Y-%m-%d %H:%M:%S")),
    )
}

fn masked(phone: &str) -> String {
    stk::PhoneNumber::parse(phone).map_or_else(|_| "?".to_owned(), |p| p.masked())
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header);
    table
}

/// Text cut to `max` characters (an error message in a column).
fn cut(text: &str, max: usize) -> String {
    let text = printable(text);
    if text.chars().count() <= max {
        text
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

/// Payments, one row each, under a header.
pub(crate) fn attempts(attempts: &[Attempt]) -> String {
    if attempts.is_empty() {
        return "no payments match".to_owned();
    }
    let mut t = table(&[
        "created (EAT)",
        "order",
        "state",
        "amount",
        "phone",
        "provider",
        "receipt",
        "id",
        "last error",
    ]);
    for a in attempts {
        t.add_row(vec![
            eat(a.created_at).trim_end_matches(" EAT").to_owned(),
            printable(&a.reference),
            a.state.to_string(),
            format!("KES {}", a.amount),
            masked(&a.phone),
            a.provider.clone(),
            printable(a.receipt.as_deref().unwrap_or("-")),
            a.id.clone(),
            cut(a.last_error.as_deref().unwrap_or(""), 40),
        ]);
    }
    t.to_string()
}

/// One payment: its fields, its timeline and its events.
pub(crate) fn payment(attempt: &Attempt, timeline: &[Transition], events: &[Event]) -> String {
    let mut fields = table(&["payment", &attempt.id]);
    let rows = [
        ("order", printable(&attempt.reference)),
        ("state", attempt.state.to_string()),
        ("amount", format!("KES {}", attempt.amount)),
        ("phone", masked(&attempt.phone)),
        ("provider", attempt.provider.clone()),
        (
            "provider id",
            printable(attempt.payment_id.as_deref().unwrap_or("-")),
        ),
        (
            "receipt",
            printable(attempt.receipt.as_deref().unwrap_or("-")),
        ),
        ("created", eat(attempt.created_at)),
        ("updated", eat(attempt.updated_at)),
        (
            "last error",
            printable(attempt.last_error.as_deref().unwrap_or("-")),
        ),
    ];
    for (name, value) in rows {
        fields.add_row(vec![name.to_owned(), value]);
    }
    let mut out = fields.to_string();
    let mut steps = table(&["when (EAT)", "from", "to", "by", "evidence"]);
    for t in timeline {
        steps.add_row(vec![
            eat(t.at).trim_end_matches(" EAT").to_owned(),
            t.from.to_string(),
            t.to.to_string(),
            t.source.to_string(),
            cut(&t.evidence.to_string(), 80),
        ]);
    }
    out.push_str("\n\ntimeline\n");
    out.push_str(&steps.to_string());
    if !events.is_empty() {
        let mut sent = table(&[
            "event (webhook-id)",
            "kind",
            "tries",
            "delivered (EAT)",
            "last error",
        ]);
        for e in events {
            sent.add_row(vec![
                printable(&e.event_id),
                e.kind.name().to_owned(),
                (e.deliveries + i64::from(e.delivered_at.is_some())).to_string(),
                e.delivered_at.map_or_else(
                    || "not yet".to_owned(),
                    |at| eat(at).trim_end_matches(" EAT").to_owned(),
                ),
                cut(e.last_error.as_deref().unwrap_or(""), 40),
            ]);
        }
        out.push_str("\n\nevents\n");
        out.push_str(&sent.to_string());
    }
    out
}

/// What a reconcile did to one payment.
pub(crate) fn reconciled(before: Option<&Attempt>, after: &Attempt) -> String {
    let what = printable(&after.reference);
    match before {
        Some(b) if b.state != after.state => format!(
            "{what} ({}): {} → {} (asked {})",
            after.id, b.state, after.state, after.provider
        ),
        Some(_) => format!(
            "{what} ({}): still {}; {} had nothing new",
            after.id, after.state, after.provider
        ),
        None => format!("{what} ({}): {}", after.id, after.state),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_east_africa_time() {
        // 2026-12-07 05:00:00 UTC
        assert_eq!(eat(1_796_619_600_000), "2026-12-07 08:00:00 EAT");
        assert_eq!(eat(i64::MAX), "?");
    }

    #[test]
    fn long_errors_are_cut_and_made_printable() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("a\nb", 10), "a\\nb");
        assert_eq!(cut(&"x".repeat(50), 10).chars().count(), 10);
    }
}
