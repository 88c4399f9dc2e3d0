//! Money: whole Kenyan shillings, never floats, and the limits each provider enforces.

use std::fmt;
use std::str::FromStr;

/// An amount in whole Kenyan shillings, greater than zero.
///
/// M-Pesa STK Push only moves whole shillings, so there is no fractional part and no float
/// anywhere. Parse user input with [`str::parse`]; `"1.5"`, `"0"`, `"-5"` and `"ten"` are
/// rejected with an [`AmountError`] that says why.
///
/// ```
/// use stk_core::{Amount, AmountError};
///
/// let amount: Amount = "1500".parse()?;
/// assert_eq!(amount.shillings(), 1500);
/// assert_eq!("1.50".parse::<Amount>(), Err(AmountError::Fractional));
/// # Ok::<(), AmountError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Amount(u64);

/// Why a value is not a valid [`Amount`], or not one a provider accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// Zero shillings.
    #[error("amount must be at least KES 1, got 0")]
    Zero,
    /// A negative number.
    #[error("amount must be positive, got a negative number")]
    Negative,
    /// A decimal with a non-zero fractional part (`1.5`).
    #[error("amount must be whole shillings; M-Pesa does not move cents")]
    Fractional,
    /// Not a number at all.
    #[error("amount {input:?} is not a number; give whole shillings such as 100")]
    NotANumber {
        /// The input, truncated to 32 characters.
        input: String,
    },
    /// Larger than any amount this library can represent.
    #[error("amount is too large")]
    TooLarge,
    /// Below the provider's minimum.
    #[error("amount KES {amount} is below the minimum of KES {min} for {provider}")]
    BelowMinimum {
        /// The amount asked for.
        amount: u64,
        /// The provider's minimum.
        min: u64,
        /// Which provider's limit this is.
        provider: &'static str,
    },
    /// Above the provider's maximum.
    #[error("amount KES {amount} is above the maximum of KES {max} for {provider}")]
    AboveMaximum {
        /// The amount asked for.
        amount: u64,
        /// The provider's maximum.
        max: u64,
        /// Which provider's limit this is.
        provider: &'static str,
    },
}

impl Amount {
    /// An amount of `shillings`; zero is rejected.
    pub const fn new(shillings: u64) -> Result<Self, AmountError> {
        if shillings == 0 {
            Err(AmountError::Zero)
        } else {
            Ok(Self(shillings))
        }
    }

    /// The amount in whole shillings.
    pub const fn shillings(self) -> u64 {
        self.0
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    /// One strict grammar for whole shillings: ASCII digits, optionally followed by `.0` or
    /// `.00` (surrounding whitespace is ignored). Nothing else: no thousands separators
    /// (`1,00` is not 100), no sign, no exponent. Used for user input and providers' answers.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let not_a_number = || AmountError::NotANumber {
            input: input.chars().take(32).collect(),
        };
        let s = input.trim();
        let (negative, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (whole, fraction) = match s.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (s, None),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_a_number());
        }
        if let Some(f) = fraction {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(not_a_number());
            }
            if f.bytes().any(|b| b != b'0') {
                return Err(if negative {
                    AmountError::Negative
                } else {
                    AmountError::Fractional
                });
            }
            if f.len() > 2 {
                return Err(not_a_number());
            }
        }
        let value = whole
            .bytes()
            .try_fold(0u64, |acc, d| {
                acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            })
            .ok_or(AmountError::TooLarge)?;
        if negative && value != 0 {
            return Err(AmountError::Negative);
        }
        Self::new(value)
    }
}

impl TryFrom<u64> for Amount {
    type Error = AmountError;
    fn try_from(v: u64) -> Result<Self, Self::Error> {
        Self::new(v)
    }
}

impl TryFrom<u32> for Amount {
    type Error = AmountError;
    fn try_from(v: u32) -> Result<Self, Self::Error> {
        Self::new(u64::from(v))
    }
}

impl TryFrom<i64> for Amount {
    type Error = AmountError;
    fn try_from(v: i64) -> Result<Self, Self::Error> {
        if v < 0 {
            return Err(AmountError::Negative);
        }
        Self::new(v.unsigned_abs())
    }
}

impl TryFrom<i32> for Amount {
    type Error = AmountError;
    fn try_from(v: i32) -> Result<Self, Self::Error> {
        Self::try_from(i64::from(v))
    }
}

impl TryFrom<&str> for Amount {
    type Error = AmountError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl<'de> serde::Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        Self::new(v).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KES {}", self.0)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount(KES {})", self.0)
    }
}

/// The smallest and largest amount a provider accepts for one STK push, inclusive.
///
/// Presets follow the providers' documentation; every adapter lets you override them,
/// since account-level limits differ.
///
/// ```
/// use stk_core::{Amount, AmountLimits};
///
/// let limits = AmountLimits::up_to_mpesa_cap("acme", 10);
/// assert!(limits.check(Amount::new(5)?).is_err());
/// assert!(limits.check(Amount::new(10)?).is_ok());
/// # Ok::<(), stk_core::AmountError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AmountLimits {
    /// Smallest amount, in shillings.
    pub min: u64,
    /// Largest amount, in shillings.
    pub max: u64,
    /// Whose limits these are, for error messages.
    pub provider: &'static str,
}

/// M-Pesa's per-transaction cap (Safaricom/CBK, August 2023).
pub const MPESA_MAX_PER_TRANSACTION: u64 = 150_000;

impl AmountLimits {
    /// M-Pesa itself: KES 1 to 150,000.
    pub const MPESA: Self = Self::new_const("mpesa", 1, MPESA_MAX_PER_TRANSACTION);

    const fn new_const(provider: &'static str, min: u64, max: u64) -> Self {
        Self { min, max, provider }
    }

    /// A provider's limits from `min` (raised to 1) to M-Pesa's per-transaction cap; usable
    /// in `const` items, for adapters' presets.
    pub const fn up_to_mpesa_cap(provider: &'static str, min: u64) -> Self {
        Self::new_const(
            provider,
            if min == 0 { 1 } else { min },
            MPESA_MAX_PER_TRANSACTION,
        )
    }

    /// Custom limits, e.g. an account-specific cap. `min` is raised to 1; `max` below `min`
    /// is an error.
    pub fn new(provider: &'static str, min: u64, max: u64) -> Result<Self, AmountError> {
        let min = min.max(1);
        if max < min {
            return Err(AmountError::AboveMaximum {
                amount: min,
                max,
                provider,
            });
        }
        Ok(Self { min, max, provider })
    }

    /// The same limits with another maximum (e.g. if the per-transaction cap changes).
    pub fn with_max(self, max: u64) -> Result<Self, AmountError> {
        Self::new(self.provider, self.min, max)
    }

    /// Checks an amount against these limits.
    pub fn check(&self, amount: Amount) -> Result<(), AmountError> {
        let amount = amount.shillings();
        if amount < self.min {
            Err(AmountError::BelowMinimum {
                amount,
                min: self.min,
                provider: self.provider,
            })
        } else if amount > self.max {
            Err(AmountError::AboveMaximum {
                amount,
                max: self.max,
                provider: self.provider,
            })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!("100".parse::<Amount>().unwrap().shillings(), 100);
        assert_eq!(" 1000 ".parse::<Amount>().unwrap().shillings(), 1000);
        assert_eq!("100.00".parse::<Amount>().unwrap().shillings(), 100);
        assert_eq!("100.0".parse::<Amount>().unwrap().shillings(), 100);
        assert_eq!("0".parse::<Amount>(), Err(AmountError::Zero));
        assert_eq!("-0".parse::<Amount>(), Err(AmountError::Zero));
        assert_eq!("-5".parse::<Amount>(), Err(AmountError::Negative));
        assert_eq!("-1.5".parse::<Amount>(), Err(AmountError::Negative));
        assert_eq!("1.5".parse::<Amount>(), Err(AmountError::Fractional));
        assert_eq!(
            "99999999999999999999999".parse::<Amount>(),
            Err(AmountError::TooLarge)
        );
        // Thousands separators and signs are not guessed at: `1,00` once charged KES 100.
        for bad in [
            "",
            "abc",
            "1e3",
            "1.",
            ".5",
            "0x10",
            "1 000",
            "--1",
            "NaN",
            "1,00",
            "10,5",
            "1,5,0",
            "1,000",
            "+7",
            "100.000",
            "１００",
            "100\u{0}",
        ] {
            assert!(
                matches!(bad.parse::<Amount>(), Err(AmountError::NotANumber { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(Amount::try_from(-3i32), Err(AmountError::Negative));
    }

    #[test]
    fn limits_are_inclusive() {
        let l = AmountLimits::up_to_mpesa_cap("kulmipay", 10);
        assert!(l.check(Amount::new(10).unwrap()).is_ok());
        assert!(l.check(Amount::new(150_000).unwrap()).is_ok());
        assert!(l.check(Amount::new(9).unwrap()).is_err());
        assert!(l.check(Amount::new(150_001).unwrap()).is_err());
        assert!(AmountLimits::new("x", 10, 5).is_err());
        assert_eq!(AmountLimits::new("x", 0, 5).unwrap().min, 1);
    }

    proptest! {
        #[test]
        fn integers_round_trip(n in 1u64..=u64::MAX) {
            prop_assert_eq!(n.to_string().parse::<Amount>().unwrap().shillings(), n);
            prop_assert_eq!(format!("{n}.00").parse::<Amount>().unwrap().shillings(), n);
        }

        /// Anything that parses is exactly digits, optionally `.0`/`.00`: never a guess.
        #[test]
        fn only_the_strict_grammar_parses(s in "[0-9,.+ -]{1,12}") {
            if let Ok(a) = s.parse::<Amount>() {
                let t = s.trim();
                let whole = t.strip_suffix(".00").or_else(|| t.strip_suffix(".0")).unwrap_or(t);
                prop_assert!(whole.bytes().all(|b| b.is_ascii_digit()), "{s:?}");
                prop_assert_eq!(whole.parse::<u64>().ok(), Some(a.shillings()));
            }
        }

        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            if let Ok(a) = s.parse::<Amount>() {
                prop_assert!(a.shillings() > 0);
            }
        }

        #[test]
        fn fractions_are_never_rounded(w in 0u64..1_000_000, f in 1u32..100) {
            let s = format!("{w}.{f:02}");
            prop_assert_eq!(s.parse::<Amount>(), Err(AmountError::Fractional));
        }

        #[test]
        fn limits_check_matches_range(min in 1u64..1000, span in 0u64..1_000_000, n in 1u64..2_000_000) {
            let limits = AmountLimits::new("p", min, min + span).unwrap();
            let ok = limits.check(Amount::new(n).unwrap()).is_ok();
            prop_assert_eq!(ok, (min..=min + span).contains(&n));
        }
    }
}
