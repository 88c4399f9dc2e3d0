//! Days as people pick them (`2026-12-07`, in the shop's time zone) and the times they span.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use maud::{Markup, html};

/// The longest range a search or an export covers.
pub(crate) const MAX_DAYS: i64 = 366;

/// `[from, before)` in Unix ms; either end open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct DayRange {
    pub(crate) from: Option<i64>,
    pub(crate) before: Option<i64>,
}

/// The start of `day` in `zone`, in Unix ms.
pub(crate) fn day_start(day: Date, zone: &TimeZone) -> Result<i64, String> {
    day.to_zoned(zone.clone())
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|_| format!("{day} has no start in this time zone."))
}

fn parse_day(text: &str, which: &str) -> Result<Option<Date>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() != 10 {
        return Err(format!("The {which} day must be a date like 2026-12-07."));
    }
    text.parse::<Date>()
        .map(Some)
        .map_err(|_| format!("The {which} day must be a date like 2026-12-07."))
}

impl DayRange {
    /// The days `from` to `to` (both included; either may be empty), or what is wrong.
    pub(crate) fn read(from: &str, to: &str, zone: &TimeZone) -> Result<Self, String> {
        let (first, last) = (parse_day(from, "first")?, parse_day(to, "last")?);
        if let (Some(first), Some(last)) = (first, last) {
            if last < first {
                return Err("The last day is before the first.".to_owned());
            }
            if (last - first).get_days() >= i32::try_from(MAX_DAYS).unwrap_or(i32::MAX) {
                return Err(format!("Pick at most {MAX_DAYS} days."));
            }
        }
        let before = match last {
            Some(last) => Some(day_start(
                last.tomorrow()
                    .map_err(|_| "The last day is too late.".to_owned())?,
                zone,
            )?),
            None => None,
        };
        Ok(Self {
            from: first.map(|d| day_start(d, zone)).transpose()?,
            before,
        })
    }
}

/// A date input keeping its value.
pub(crate) fn day_input(name: &str, value: &str) -> Markup {
    html! { input type="date" name=(name) value=(value); }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn days_are_the_shops() {
        let eat = TimeZone::get("Africa/Nairobi").unwrap();
        let r = DayRange::read("2026-12-07", "2026-12-07", &eat).unwrap();
        // Midnight EAT is 21:00 UTC the day before.
        assert_eq!(r.from, Some(1_796_590_800_000));
        assert_eq!(r.before, Some(1_796_590_800_000 + 86_400_000));
        assert_eq!(DayRange::read("", "", &eat).unwrap(), DayRange::default());
        for (from, to) in [
            ("2026-12-08", "2026-12-07"),
            ("2026-13-01", ""),
            ("yesterday", ""),
            ("2020-01-01", "2026-01-01"),
            ("", "99999-01-01"),
        ] {
            assert!(DayRange::read(from, to, &eat).is_err(), "{from} {to}");
        }
    }

    proptest! {
        #[test]
        fn any_text_is_a_range_or_a_reason(from in ".{0,14}", to in "[0-9-]{0,12}") {
            if let Ok(r) = DayRange::read(&from, &to, &TimeZone::UTC) {
                if let (Some(a), Some(b)) = (r.from, r.before) {
                    prop_assert!(a < b && b - a <= MAX_DAYS * 86_400_000);
                }
            }
        }
    }
}
