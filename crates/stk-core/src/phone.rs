//! Kenyan mobile numbers: parse every form the providers document, render each form they want.

use std::fmt;
use std::str::FromStr;

/// A Kenyan mobile number, stored canonically as `2547XXXXXXXX` or `2541XXXXXXXX`.
///
/// Accepted input forms (spaces and dashes anywhere are ignored):
/// `0712345678`, `0112345678`, `254712345678`, `254112345678`, `+254712345678`, `+254112345678`.
///
/// ```
/// use stk_core::PhoneNumber;
///
/// let phone: PhoneNumber = "+254 712-345-678".parse()?;
/// assert_eq!(phone.international(), "254712345678");
/// assert_eq!(phone.local(), "0712345678");
/// assert_eq!(phone.e164(), "+254712345678");
/// assert!(phone.is_safaricom());
/// # Ok::<(), stk_core::PhoneError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber {
    /// The nine national digits after `254`, as ASCII.
    national: [u8; 9],
}

/// Why a string is not a Kenyan mobile number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PhoneError {
    /// The input was empty or only separators.
    #[error("phone number is empty; expected a Kenyan mobile number such as 0712345678")]
    Empty,
    /// A character other than a digit, space, dash or a leading `+`.
    #[error(
        "phone number contains {character:?} at position {position}; use digits, spaces, dashes and an optional leading +"
    )]
    InvalidCharacter {
        /// The offending character.
        character: char,
        /// Its zero-based character position in the input.
        position: usize,
    },
    /// Too few or too many digits for the form used.
    #[error(
        "phone number has {digits} digits; expected 10 (07XXXXXXXX / 01XXXXXXXX) or 12 (2547XXXXXXXX / 2541XXXXXXXX)"
    )]
    WrongLength {
        /// How many digits the input had.
        digits: usize,
    },
    /// An international number for another country.
    #[error("phone number is not Kenyan: it must start with 254, +254 or 0")]
    NotKenyan,
    /// A Kenyan number whose prefix is not a mobile one (mobile numbers start 07 or 01).
    #[error(
        "phone number is not a Kenyan mobile number: after 0 or 254 it must continue with 7 or 1, not {prefix}"
    )]
    NotMobile {
        /// The digit found where 7 or 1 was expected.
        prefix: char,
    },
}

/// Safaricom's allocated mobile prefixes (the three national digits after `254`), as published
/// by the Communications Authority. Numbers are portable, so this is a hint, not a rule.
const SAFARICOM_PREFIXES: &[std::ops::RangeInclusive<u16>] = &[
    700..=729,
    740..=743,
    745..=746,
    748..=748,
    757..=759,
    768..=769,
    790..=799,
    110..=115,
];

impl PhoneNumber {
    /// Parses any accepted Kenyan form. Same as [`str::parse`].
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let mut digits: Vec<u8> = Vec::with_capacity(13);
        let mut plus = false;
        for (position, character) in input.trim().chars().enumerate() {
            match character {
                '0'..='9' => digits.push(character as u8),
                ' ' | '-' => {}
                '+' if !plus && digits.is_empty() => plus = true,
                _ => {
                    return Err(PhoneError::InvalidCharacter {
                        character,
                        position,
                    });
                }
            }
        }
        if digits.is_empty() {
            return Err(PhoneError::Empty);
        }
        let national: &[u8] = if plus || digits.starts_with(b"254") {
            if !digits.starts_with(b"254") {
                return Err(PhoneError::NotKenyan);
            }
            if digits.len() != 12 {
                return Err(PhoneError::WrongLength {
                    digits: digits.len(),
                });
            }
            &digits[3..]
        } else if digits[0] == b'0' {
            if digits.len() != 10 {
                return Err(PhoneError::WrongLength {
                    digits: digits.len(),
                });
            }
            &digits[1..]
        } else if digits.len() >= 11 {
            // Looks like another country's international form (e.g. 255…, 256…).
            return Err(PhoneError::NotKenyan);
        } else {
            return Err(PhoneError::WrongLength {
                digits: digits.len(),
            });
        };
        match national[0] {
            b'7' | b'1' => {}
            other => {
                return Err(PhoneError::NotMobile {
                    prefix: other as char,
                });
            }
        }
        let mut out = [0u8; 9];
        out.copy_from_slice(national);
        Ok(Self { national: out })
    }

    fn national_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.national).unwrap_or("000000000")
    }

    /// `2547XXXXXXXX`: the form KulmiPay, Daraja and most APIs want.
    pub fn international(&self) -> String {
        format!("254{}", self.national_str())
    }

    /// `07XXXXXXXX` / `01XXXXXXXX`: the local form (UpesiPay's documented examples).
    pub fn local(&self) -> String {
        format!("0{}", self.national_str())
    }

    /// `+2547XXXXXXXX`: E.164.
    pub fn e164(&self) -> String {
        format!("+254{}", self.national_str())
    }

    /// Whether the number lies in a prefix range allocated to Safaricom.
    ///
    /// Numbers are portable between networks, so treat `false` as a warning, not a rejection.
    pub fn is_safaricom(&self) -> bool {
        let prefix = self.national[..3]
            .iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        SAFARICOM_PREFIXES.iter().any(|r| r.contains(&prefix))
    }

    /// A form safe for logs: `2547******78`.
    pub fn masked(&self) -> String {
        let n = self.national_str();
        format!("254{}******{}", &n[..1], &n[7..])
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for PhoneNumber {
    type Error = PhoneError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "254{}", self.national_str())
    }
}

/// Debug shows the masked form, so a stray `{:?}` does not put a customer's number in logs.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl serde::Serialize for PhoneNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.international())
    }
}

impl<'de> serde::Deserialize<'de> for PhoneNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn documented_forms_canonicalise() {
        for input in [
            "0712345678",
            "254712345678",
            "+254712345678",
            "+254 712 345 678",
            "0712-345-678",
            " 0712345678 ",
        ] {
            let p = PhoneNumber::parse(input).expect(input);
            assert_eq!(p.international(), "254712345678", "{input}");
        }
        for input in ["0112345678", "254112345678", "+254112345678"] {
            assert_eq!(
                PhoneNumber::parse(input).expect(input).local(),
                "0112345678"
            );
        }
    }

    #[test]
    fn rejections_say_why() {
        use PhoneError::*;
        let cases: &[(&str, PhoneError)] = &[
            ("", Empty),
            (" - ", Empty),
            ("0812345678", NotMobile { prefix: '8' }),
            ("254212345678", NotMobile { prefix: '2' }),
            ("071234567", WrongLength { digits: 9 }),
            ("07123456789", WrongLength { digits: 11 }),
            ("712345678", WrongLength { digits: 9 }),
            ("25471234567", WrongLength { digits: 11 }),
            ("+255712345678", NotKenyan),
            ("255712345678", NotKenyan),
            (
                "07l2345678",
                InvalidCharacter {
                    character: 'l',
                    position: 2,
                },
            ),
            (
                "++254712345678",
                InvalidCharacter {
                    character: '+',
                    position: 1,
                },
            ),
            (
                "0712+345678",
                InvalidCharacter {
                    character: '+',
                    position: 4,
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(PhoneNumber::parse(input).as_ref(), Err(want), "{input:?}");
        }
    }

    #[test]
    fn safaricom_prefixes_are_a_hint() {
        assert!(PhoneNumber::parse("0712345678").unwrap().is_safaricom());
        assert!(PhoneNumber::parse("0110000000").unwrap().is_safaricom());
        assert!(PhoneNumber::parse("0748000000").unwrap().is_safaricom());
        // Airtel ranges still parse; they are just not Safaricom's.
        assert!(!PhoneNumber::parse("0733000000").unwrap().is_safaricom());
        assert!(!PhoneNumber::parse("0100000000").unwrap().is_safaricom());
    }

    #[test]
    fn debug_masks_the_number() {
        let p = PhoneNumber::parse("0712345678").unwrap();
        assert_eq!(format!("{p:?}"), "PhoneNumber(2547******78)");
    }

    #[test]
    fn serde_round_trip() {
        let p = PhoneNumber::parse("0712345678").unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"254712345678\"");
        assert_eq!(serde_json::from_str::<PhoneNumber>(&json).unwrap(), p);
        assert!(serde_json::from_str::<PhoneNumber>("\"0812345678\"").is_err());
    }

    fn national() -> impl Strategy<Value = String> {
        "[71][0-9]{8}"
    }

    proptest! {
        #[test]
        fn every_accepted_form_round_trips(n in national(), sep in prop::sample::select(vec!["", " ", "-"])) {
            let canonical = format!("254{n}");
            let grouped = format!("{}{sep}{}{sep}{}", &n[..3], &n[3..6], &n[6..]);
            for input in [
                format!("0{n}"),
                format!("254{n}"),
                format!("+254{n}"),
                format!("0{grouped}"),
                format!("+254{sep}{grouped}"),
            ] {
                let p = PhoneNumber::parse(&input).unwrap();
                prop_assert_eq!(p.international(), canonical.clone());
                prop_assert_eq!(PhoneNumber::parse(&p.local()).unwrap(), p);
                prop_assert_eq!(PhoneNumber::parse(&p.e164()).unwrap(), p);
                prop_assert_eq!(PhoneNumber::parse(&p.to_string()).unwrap(), p);
            }
        }

        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            if let Ok(p) = PhoneNumber::parse(&s) {
                // Anything accepted is canonical and re-parses to itself.
                let i = p.international();
                prop_assert_eq!(i.len(), 12);
                prop_assert!(i.starts_with("2547") || i.starts_with("2541"));
                prop_assert_eq!(PhoneNumber::parse(&i).unwrap(), p);
            }
        }

        #[test]
        fn digit_strings_are_classified(s in "[+]?[0-9 -]{0,16}") {
            match PhoneNumber::parse(&s) {
                Ok(p) => {
                    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
                    prop_assert!(digits.ends_with(&p.international()[3..]));
                }
                Err(e) => {
                    let invalid_char = matches!(e, PhoneError::InvalidCharacter { .. });
                    prop_assert!(!invalid_char, "digits, spaces and dashes are all allowed");
                }
            }
        }

        #[test]
        fn non_mobile_prefixes_are_rejected(d in "[02-689]", rest in "[0-9]{8}") {
            let err = PhoneNumber::parse(&format!("0{d}{rest}")).unwrap_err();
            prop_assert_eq!(err, PhoneError::NotMobile { prefix: d.chars().next().unwrap() });
        }
    }
}
