//! UpesiPay's documented STK abuse protection: the rules, the failures they count, and the
//! decision to refuse a push.

use std::time::Duration;

use stk_core::{PaymentStatus, PhoneNumber};
use tokio::time::Instant;

use super::Books;

const HOUR: Duration = Duration::from_secs(3600);

/// UpesiPay's documented STK abuse protection, as the emulator enforces it.
///
/// # Abuse protection
///
/// UpesiPay documents two rules, emulated here to the letter (thresholds and windows are
/// configurable):
///
/// - **Per number**: more than 10 successive failed or cancelled pushes to one number block
///   that number for 24 h. Pushes 1 to 11 reach M-Pesa; when the 11th fails the block starts,
///   so the 12th push (and every push to that number for 24 h) is refused. Other numbers are
///   not affected. A completed payment ends the run.
/// - **Account**: more than 50 failures within a sliding 6 h window restrict the whole
///   account for 4 h (more than 500: 24 h; more than 1000: 72 h).
///
/// A failure counts when the payment reaches its final failed status (as UpesiPay can only
/// know then). Refused pushes are not charges and do not count.
///
/// UpesiPay does not document how a blocked push is answered. The emulator answers
/// **`403 Forbidden`** with `{"error_message": "…"}` (and `Retry-After` in seconds until the
/// block ends): the credentials are fine (those failures are `401`), but the account is not
/// allowed to push to this number now. Retrying does not help until the block ends, so 403
/// is a better fit than 429.
///
/// The abuse rules run on their own clock: real time plus an offset that tests move forward
/// with [`UpesiPayEmulator::advance_clock`](super::UpesiPayEmulator::advance_clock), so a 24 h block can be seen to clear without
/// waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpesiPayAbuseRules {
    /// A number is blocked once it has had **more than** this many successive failed or
    /// cancelled pushes (UpesiPay: 10). `None` disables the rule.
    pub phone_max_successive_failures: Option<usize>,
    /// How long a number stays blocked (UpesiPay: 24 h).
    pub phone_block: Duration,
    /// The sliding window account failures are counted in (UpesiPay: 6 h).
    pub account_window: Duration,
    /// `(threshold, restriction)`: once the account has had **more than** `threshold`
    /// failures within the window it is restricted for `restriction` (UpesiPay: 50 → 4 h,
    /// 500 → 24 h, 1000 → 72 h). Empty disables the rule.
    pub account_tiers: Vec<(usize, Duration)>,
}

impl Default for UpesiPayAbuseRules {
    fn default() -> Self {
        Self::documented()
    }
}

impl UpesiPayAbuseRules {
    /// The rules UpesiPay documents.
    pub fn documented() -> Self {
        Self {
            phone_max_successive_failures: Some(10),
            phone_block: 24 * HOUR,
            account_window: 6 * HOUR,
            account_tiers: vec![(50, 4 * HOUR), (500, 24 * HOUR), (1000, 72 * HOUR)],
        }
    }

    /// No abuse protection at all.
    pub fn disabled() -> Self {
        Self {
            phone_max_successive_failures: None,
            phone_block: Duration::ZERO,
            account_window: Duration::ZERO,
            account_tiers: Vec::new(),
        }
    }

    /// Custom rules: block a number after more than `max_successive` failures in a row for
    /// `block`; restrict the account per `tiers` within `window`.
    pub fn new(
        max_successive: Option<usize>,
        block: Duration,
        window: Duration,
        tiers: Vec<(usize, Duration)>,
    ) -> Self {
        Self {
            phone_max_successive_failures: max_successive,
            phone_block: block,
            account_window: window,
            account_tiers: tiers,
        }
    }
}

impl Books {
    /// Final outcomes known at `real_now`: `(when on the abuse clock, phone, failed)`, oldest
    /// first.
    pub(super) fn outcomes(&self, real_now: Instant) -> Vec<(Instant, PhoneNumber, bool)> {
        let mut out: Vec<(Instant, PhoneNumber, bool)> = self
            .order
            .iter()
            .filter_map(|r| self.txns.get(r))
            .filter_map(|t| {
                let at = t.payment.final_at()?;
                if at > real_now {
                    return None;
                }
                let failed = matches!(t.payment.status_at(at), PaymentStatus::Failed(_));
                Some((at + t.clock_offset, t.payment.phone, failed))
            })
            .collect();
        out.sort_by_key(|(at, _, _)| *at);
        out
    }
}

/// Why a push is refused by the abuse rules, and for how much longer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Block {
    /// The `error_message`.
    pub(super) message: String,
    /// How long until the block ends.
    pub(super) remaining: Duration,
}

/// Applies `rules` to the outcomes; `now` is the abuse clock (real time plus the offset).
pub(super) fn abuse_block(
    rules: &UpesiPayAbuseRules,
    outcomes: &[(Instant, PhoneNumber, bool)],
    phone: &PhoneNumber,
    now: Instant,
) -> Option<Block> {
    // The account rule first: it applies to every number.
    let failures: Vec<Instant> = outcomes
        .iter()
        .filter(|(_, _, failed)| *failed)
        .map(|(at, _, _)| *at)
        .collect();
    let mut restricted: Option<(Instant, usize)> = None;
    let mut start = 0;
    for (i, at) in failures.iter().enumerate() {
        while failures
            .get(start)
            .is_some_and(|s| *s + rules.account_window <= *at)
        {
            start += 1;
        }
        let count = i + 1 - start;
        for (threshold, length) in &rules.account_tiers {
            if count > *threshold {
                let until = *at + *length;
                if restricted.is_none_or(|(u, _)| until > u) {
                    restricted = Some((until, *threshold));
                }
            }
        }
    }
    if let Some((until, threshold)) = restricted.filter(|(u, _)| *u > now) {
        let remaining = until - now;
        return Some(Block {
            message: format!(
                "General Abuse Protection: this account has had more than {threshold} failed STK push requests within {} hours and is restricted from sending STK push requests for {} more minutes.",
                rules.account_window.as_secs() / 3600,
                remaining.as_secs().div_ceil(60)
            ),
            remaining,
        });
    }

    let max = rules.phone_max_successive_failures?;
    let mut run = 0usize;
    let mut blocked_until: Option<Instant> = None;
    for (at, p, failed) in outcomes {
        if p != phone {
            continue;
        }
        if *failed {
            run += 1;
            if run > max {
                blocked_until = Some(*at + rules.phone_block);
                run = 0;
            }
        } else {
            run = 0;
        }
    }
    let until = blocked_until.filter(|u| *u > now)?;
    let remaining = until - now;
    Some(Block {
        message: format!(
            "STK Abuse Protection: phone number {} is blocked from receiving STK push requests from this account for {} more minutes after more than {max} successive failed or cancelled requests.",
            phone.masked(),
            remaining.as_secs().div_ceil(60)
        ),
        remaining,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(n: &str) -> PhoneNumber {
        PhoneNumber::parse(n).unwrap()
    }

    #[test]
    fn phone_block_after_more_than_max_and_clears() {
        let rules = UpesiPayAbuseRules::documented();
        let t0 = Instant::now();
        let p = phone("0700000001");
        let other = phone("0712345678");
        let sec = Duration::from_secs(1);
        let mut outcomes: Vec<_> = (0..10u32).map(|i| (t0 + sec * i, p, true)).collect();
        outcomes.push((t0 + sec * 10, other, true));
        let now = t0 + sec * 20;
        assert_eq!(
            abuse_block(&rules, &outcomes, &p, now),
            None,
            "10 is not more than 10"
        );
        outcomes.push((t0 + sec * 11, p, true));
        let block = abuse_block(&rules, &outcomes, &p, now).unwrap();
        assert!(block.remaining > 23 * HOUR && block.remaining <= 24 * HOUR);
        assert_eq!(abuse_block(&rules, &outcomes, &other, now), None);
        assert_eq!(abuse_block(&rules, &outcomes, &p, now + 24 * HOUR), None);
        // A success in the run resets it.
        let mut reset: Vec<_> = (0..6u32).map(|i| (t0 + sec * i, p, true)).collect();
        reset.push((t0 + sec * 6, p, false));
        reset.extend((7..13u32).map(|i| (t0 + sec * i, p, true)));
        assert_eq!(abuse_block(&rules, &reset, &p, now), None);
    }

    #[test]
    fn account_restriction_in_a_sliding_window() {
        let rules = UpesiPayAbuseRules::documented();
        let t0 = Instant::now();
        let min = Duration::from_secs(60);
        // 51 failures spread over many numbers, 5 minutes apart: 250 min < 6 h.
        let outcomes: Vec<_> = (0..51u32)
            .map(|i| {
                let n = format!("07120000{:02}", i % 100);
                (t0 + min * 5 * i, phone(&n), true)
            })
            .collect();
        let now = t0 + min * 5 * 50 + min;
        let block = abuse_block(&rules, &outcomes, &phone("0799999999"), now).unwrap();
        assert!(block.message.contains("General Abuse Protection"));
        assert!(block.remaining <= 4 * HOUR && block.remaining > 3 * HOUR);
        assert_eq!(
            abuse_block(&rules, &outcomes, &phone("0799999999"), now + 4 * HOUR),
            None
        );
        // The same 51 failures spread over more than 6 h never exceed 50 in a window.
        let spread: Vec<_> = (0..51u32)
            .map(|i| (t0 + min * 10 * i, phone("0712345678"), true))
            .collect();
        let rules = UpesiPayAbuseRules::new(None, Duration::ZERO, 6 * HOUR, vec![(50, 4 * HOUR)]);
        assert_eq!(
            abuse_block(&rules, &spread, &phone("0712345678"), t0 + min * 510),
            None
        );
    }
}
