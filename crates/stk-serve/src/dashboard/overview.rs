//! `/dashboard/`: today at a glance (counts and sums by state and provider, success rate,
//! median time to pay) and the last 14 days as a small server-drawn SVG chart.

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use maud::{Markup, html};
use stk_tracker::{AttemptQuery, AttemptState, Tally};

use super::page::{Page, Section, badge, duration, shillings, unavailable, zone_label};
use super::range::day_start;
use super::session::Operator;

/// Days in the chart.
pub(crate) const CHART_DAYS: i64 = 14;
/// Paid payments read for the median time to pay (the latest of today).
const MEDIAN_SAMPLE: i64 = 500;

/// Today's figures, from the tally.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Today {
    pub(crate) by_state: BTreeMap<&'static str, (AttemptState, i64, i64)>,
    pub(crate) by_provider: BTreeMap<String, (i64, i64, i64)>,
    pub(crate) count: i64,
    pub(crate) paid: (i64, i64),
    pub(crate) settled: i64,
}

impl Today {
    pub(crate) fn of(tally: &[Tally]) -> Self {
        let mut today = Self::default();
        for t in tally {
            let cell = today
                .by_state
                .entry(t.state.as_str())
                .or_insert((t.state, 0, 0));
            cell.1 += t.count;
            cell.2 += t.amount;
            let paid = t.state == AttemptState::Completed;
            let provider = today.by_provider.entry(t.provider.clone()).or_default();
            provider.0 += t.count;
            if paid {
                provider.1 += t.count;
                provider.2 += t.amount;
                today.paid.0 += t.count;
                today.paid.1 += t.amount;
            }
            today.count += t.count;
            if matches!(
                t.state,
                AttemptState::Completed | AttemptState::Failed | AttemptState::Expired
            ) {
                today.settled += t.count;
            }
        }
        today
    }

    /// Paid out of those settled (paid, failed or expired), as a percentage.
    pub(crate) fn success_rate(&self) -> Option<f64> {
        (self.settled > 0).then(|| {
            #[allow(clippy::cast_precision_loss)]
            let rate = self.paid.0 as f64 * 100.0 / self.settled as f64;
            rate
        })
    }
}

/// The median of `values` (sorted in place); `None` when empty.
pub(crate) fn median(values: &mut [i64]) -> Option<i64> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some(values[n / 2 - 1] + (values[n / 2] - values[n / 2 - 1]) / 2),
    }
}

/// Each of the last [`CHART_DAYS`] days in `zone` (today last) with its tally.
async fn last_days(
    tracker: &stk_tracker::Tracker,
    zone: &TimeZone,
) -> Result<Vec<(Date, Vec<Tally>)>, String> {
    let today = jiff::Timestamp::now().to_zoned(zone.clone()).date();
    let mut days = Vec::new();
    for back in (0..CHART_DAYS).rev() {
        let day = today
            .checked_sub(jiff::Span::new().days(back))
            .map_err(|e| e.to_string())?;
        let next = day.tomorrow().map_err(|e| e.to_string())?;
        // Each day's own bounds: a daylight-saving day is 23 or 25 hours long.
        let tally = tracker
            .tally(day_start(day, zone)?, day_start(next, zone)?)
            .await
            .map_err(|e| e.to_string())?;
        days.push((day, tally));
    }
    Ok(days)
}

/// `GET /dashboard/`.
pub(crate) async fn show(operator: Operator) -> Response {
    let account = operator.account();
    let zone = &account.config.time_zone;
    let tracker = &account.tracker;
    let days = match last_days(tracker, zone).await {
        Ok(days) => days,
        Err(e) => return unavailable(&operator, &e),
    };
    let Some((today, today_tally)) = days.last() else {
        return unavailable(&operator, &"no days");
    };
    let mut paid_today = AttemptQuery::newest(MEDIAN_SAMPLE);
    paid_today.states = vec![AttemptState::Completed];
    paid_today.created_from = day_start(*today, zone).ok();
    let paid = match tracker.payments(&paid_today).await {
        Ok(paid) => paid,
        Err(e) => return unavailable(&operator, &e),
    };
    let mut times: Vec<i64> = paid
        .attempts
        .iter()
        .map(|a| a.updated_at - a.created_at)
        .collect();
    let sampled = paid.next.is_some();
    let figures = Today::of(today_tally);
    let chart_days: Vec<(Date, i64, i64)> = days
        .iter()
        .map(|(day, tally)| {
            let paid = Today::of(tally).paid;
            (*day, paid.0, paid.1)
        })
        .collect();
    let day_name = today.strftime("%A %-d %B %Y").to_string();
    Page::new("Overview", &operator, Section::Overview)
        .render(html! {
            h1 { "Today" span.muted { " " (day_name) " (" (zone_label(zone)) ")" } }
            div.cards {
                div.card { span.label { "Payments" } span.figure #today-count { (figures.count) } }
                div.card { span.label { "Paid" } span.figure #today-paid { (shillings(figures.paid.1)) } span.muted { (figures.paid.0) " payments" } }
                div.card {
                    span.label { "Success rate" }
                    span.figure #success-rate {
                        @match figures.success_rate() { Some(r) => (format!("{r:.0}%")), None => "—" }
                    }
                    span.muted { "of " (figures.settled) " settled" }
                }
                div.card {
                    span.label { "Median time to pay" }
                    span.figure #median-time { (median(&mut times).map_or_else(|| "—".to_owned(), duration)) }
                    @if sampled { span.muted { "of the latest " (MEDIAN_SAMPLE) " paid" } }
                }
            }
            div.split {
                section {
                    h2 { "By state" }
                    table {
                        thead { tr { th { "State" } th.num { "Payments" } th.num { "Amount" } } }
                        tbody {
                            @for (state, count, amount) in figures.by_state.values() {
                                tr { td { (badge(*state)) } td.num { (count) } td.num { (shillings(*amount)) } }
                            }
                        }
                    }
                }
                section {
                    h2 { "By provider" }
                    table {
                        thead { tr { th { "Provider" } th.num { "Payments" } th.num { "Paid" } th.num { "Paid amount" } } }
                        tbody {
                            @for (provider, (count, paid, amount)) in &figures.by_provider {
                                tr { td { (provider) } td.num { (count) } td.num { (paid) } td.num { (shillings(*amount)) } }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Paid, last " (CHART_DAYS) " days" }
                (chart(&chart_days))
            }
        })
        .into_response()
}

/// Bars of the amount paid each day, labelled with the day of the month.
pub(crate) fn chart(days: &[(Date, i64, i64)]) -> Markup {
    const WIDTH: i64 = 560;
    const HEIGHT: i64 = 160;
    const BOTTOM: i64 = 20;
    let top = days.iter().map(|d| d.2).max().unwrap_or(0).max(1);
    let slot = WIDTH / i64::try_from(days.len().max(1)).unwrap_or(1);
    html! {
        svg.chart viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img"
            aria-label=(format!("Amount paid per day, last {} days", days.len())) {
            @for (i, (day, count, amount)) in days.iter().enumerate() {
                @let x = i64::try_from(i).unwrap_or(0) * slot;
                @let h = i64::try_from(i128::from(*amount) * i128::from(HEIGHT - BOTTOM - 10) / i128::from(top)).unwrap_or(0);
                @let label = day.strftime("%-d %b").to_string();
                g {
                    rect x=(x + 4) y=(HEIGHT - BOTTOM - h) width=(slot - 8) height=(h) fill="#2f7d4f" {
                        title { (label) ": " (shillings(*amount)) " in " (count) " payments" }
                    }
                    text x=(x + slot / 2) y=(HEIGHT - 5) text-anchor="middle" font-size="11" fill="#555" {
                        (day.day())
                    }
                }
            }
            line x1="0" y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) stroke="#999" {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tally(state: AttemptState, provider: &str, count: i64, amount: i64) -> Tally {
        serde_json::from_value(serde_json::json!({
            "state": state, "provider": provider, "count": count, "amount": amount
        }))
        .unwrap()
    }

    #[test]
    fn today_adds_up_by_state_and_provider() {
        let rows = [
            tally(AttemptState::Completed, "mock", 3, 300),
            tally(AttemptState::Completed, "daraja", 1, 50),
            tally(AttemptState::Failed, "mock", 1, 100),
            tally(AttemptState::Submitted, "mock", 2, 200),
        ];
        let today = Today::of(&rows);
        assert_eq!(today.count, 7);
        assert_eq!(today.paid, (4, 350));
        assert_eq!(today.settled, 5);
        assert_eq!(today.success_rate(), Some(80.0));
        assert_eq!(today.by_provider["mock"], (6, 3, 300));
        assert_eq!(Today::of(&[]).success_rate(), None);
    }

    #[test]
    fn the_chart_has_a_bar_and_a_label_per_day() {
        let day = jiff::civil::date(2026, 12, 7);
        let svg = chart(&[(day, 1, 100), (day, 0, 0), (day, 2, i64::MAX)]).into_string();
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("KES 100 in 1 payments"));
        assert!(
            !svg.contains("style="),
            "the page's CSP allows no inline styles"
        );
    }

    proptest! {
        #[test]
        fn the_median_is_a_middle_value(mut values in proptest::collection::vec(0i64..1_000_000, 0..50)) {
            let m = median(&mut values);
            match m {
                None => prop_assert!(values.is_empty()),
                Some(m) => {
                    let below = values.iter().filter(|v| **v <= m).count();
                    let above = values.iter().filter(|v| **v >= m).count();
                    prop_assert!(below * 2 >= values.len() && above * 2 >= values.len());
                }
            }
        }
    }
}
