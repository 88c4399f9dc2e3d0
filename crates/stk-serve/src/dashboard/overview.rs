//! `/dashboard/`: today at a glance (counts and sums by state and provider, success rate,
//! median time to pay) and the last 14 days as a small server-drawn SVG chart.

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use maud::{Markup, html};
use stk_tracker::{AttemptQuery, AttemptState, Tally};

use super::page::{Page, Section, badge, duration, shillings, unavailable, zone_label};
use super::session::Operator;

/// Days in the chart.
pub(crate) const CHART_DAYS: i64 = 14;
/// Paid payments read for the median time to pay (the latest of today).
const MEDIAN_SAMPLE: i64 = 500;
const DAY_MS: i64 = 86_400_000;

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
    pub(crate) fn of(tally: &[Tally], day: i64) -> Self {
        let mut today = Self::default();
        for t in tally.iter().filter(|t| t.day == day) {
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

/// `GET /dashboard/`.
pub(crate) async fn show(operator: Operator) -> Response {
    let account = operator.account();
    let zone = &account.config.time_zone;
    let now = jiff::Timestamp::now();
    let offset = i64::from(zone.to_offset(now).seconds()) * 1000;
    let today = (now.as_millisecond() + offset).div_euclid(DAY_MS);
    let first_day = today - (CHART_DAYS - 1);
    let tracker = &account.tracker;
    let tally = tracker
        .tally(
            first_day * DAY_MS - offset,
            (today + 1) * DAY_MS - offset,
            offset,
        )
        .await;
    let mut paid_today = AttemptQuery::newest(MEDIAN_SAMPLE);
    paid_today.states = vec![AttemptState::Completed];
    paid_today.created_from = Some(today * DAY_MS - offset);
    let paid = tracker.payments(&paid_today).await;
    let (tally, paid) = match (tally, paid) {
        (Ok(tally), Ok(paid)) => (tally, paid),
        (Err(e), _) | (_, Err(e)) => return unavailable(&operator, &e),
    };
    let mut times: Vec<i64> = paid
        .attempts
        .iter()
        .map(|a| a.updated_at - a.created_at)
        .collect();
    let sampled = paid.next.is_some();
    let figures = Today::of(&tally, today);
    let days = per_day(&tally, first_day, today);
    let day_name =
        date_of(today).map_or_else(String::new, |d| d.strftime("%A %-d %B %Y").to_string());
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
                (chart(&days))
            }
        })
        .into_response()
}

fn date_of(day: i64) -> Option<Date> {
    let epoch = jiff::civil::date(1970, 1, 1);
    epoch.checked_add(jiff::Span::new().days(day)).ok()
}

/// Paid count and amount for each day from `first` to `last`.
pub(crate) fn per_day(tally: &[Tally], first: i64, last: i64) -> Vec<(i64, i64, i64)> {
    (first..=last)
        .map(|day| {
            let paid = tally
                .iter()
                .filter(|t| t.day == day && t.state == AttemptState::Completed);
            let (count, amount) = paid.fold((0, 0), |(c, a), t| (c + t.count, a + t.amount));
            (day, count, amount)
        })
        .collect()
}

/// Bars of the amount paid each day, labelled with the day of the month.
pub(crate) fn chart(days: &[(i64, i64, i64)]) -> Markup {
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
                @let h = (amount * (HEIGHT - BOTTOM - 10)) / top;
                @let label = date_of(*day).map_or_else(String::new, |d| d.strftime("%-d %b").to_string());
                g {
                    rect x=(x + 4) y=(HEIGHT - BOTTOM - h) width=(slot - 8) height=(h) fill="#2f7d4f" {
                        title { (label) ": " (shillings(*amount)) " in " (count) " payments" }
                    }
                    text x=(x + slot / 2) y=(HEIGHT - 5) text-anchor="middle" font-size="11" fill="#555" {
                        (date_of(*day).map_or_else(String::new, |d| d.day().to_string()))
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

    fn tally(day: i64, state: AttemptState, provider: &str, count: i64, amount: i64) -> Tally {
        let mut t: Tally = serde_json::from_value(serde_json::json!({
            "day": day, "state": state, "provider": provider, "count": count, "amount": amount
        }))
        .unwrap();
        t.day = day;
        t
    }

    #[test]
    fn today_adds_up_by_state_and_provider() {
        let rows = [
            tally(10, AttemptState::Completed, "mock", 3, 300),
            tally(10, AttemptState::Completed, "daraja", 1, 50),
            tally(10, AttemptState::Failed, "mock", 1, 100),
            tally(10, AttemptState::Submitted, "mock", 2, 200),
            tally(9, AttemptState::Completed, "mock", 7, 700),
        ];
        let today = Today::of(&rows, 10);
        assert_eq!(today.count, 7);
        assert_eq!(today.paid, (4, 350));
        assert_eq!(today.settled, 5);
        assert_eq!(today.success_rate(), Some(80.0));
        assert_eq!(today.by_provider["mock"], (6, 3, 300));
        assert_eq!(per_day(&rows, 9, 10), [(9, 7, 700), (10, 4, 350)]);
        assert_eq!(Today::of(&rows, 11).success_rate(), None);
    }

    #[test]
    fn the_chart_has_a_bar_and_a_label_per_day() {
        let svg = chart(&[(20_000, 1, 100), (20_001, 0, 0), (20_002, 2, 50)]).into_string();
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
