//! Test phone numbers: the outcome the fake provider and the emulators script for each
//! number, like card networks' test card numbers.

use stk_core::{PhoneNumber, ResultCode};

/// What happens to a push to a test number. Any number not in [`TEST_NUMBERS`] completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scenario {
    /// The customer pays (result code 0).
    Complete,
    /// The customer cancels the prompt (1032).
    Cancel,
    /// The customer never answers; M-Pesa times out (1037).
    Timeout,
    /// Not enough money (1).
    InsufficientFunds,
    /// Wrong PIN (2001).
    WrongPin,
    /// Another transaction in progress (1001).
    SubscriberBusy,
    /// M-Pesa fails to send the push (1025).
    ProviderError,
    /// No result ever arrives: the payment stays pending.
    NeverAnswers,
    /// The provider refuses the push at initiation (e.g. not an M-Pesa line).
    RejectAtInitiate,
    /// The provider is down at initiation (HTTP 503); nothing is accepted.
    UnavailableAtInitiate,
}

/// The scripted numbers, in local form, with what each does.
pub const TEST_NUMBERS: &[(&str, Scenario)] = &[
    ("0700000000", Scenario::Complete),
    ("0700000001", Scenario::Cancel),
    ("0700000002", Scenario::Timeout),
    ("0700000003", Scenario::InsufficientFunds),
    ("0700000004", Scenario::WrongPin),
    ("0700000005", Scenario::SubscriberBusy),
    ("0700000006", Scenario::ProviderError),
    ("0700000007", Scenario::NeverAnswers),
    ("0700000008", Scenario::RejectAtInitiate),
    ("0700000009", Scenario::UnavailableAtInitiate),
];

impl Scenario {
    /// The scenario scripted for `phone`.
    pub fn for_phone(phone: &PhoneNumber) -> Self {
        let local = phone.local();
        TEST_NUMBERS
            .iter()
            .find(|(n, _)| *n == local)
            .map_or(Self::Complete, |(_, s)| *s)
    }

    /// The test number for this scenario, parsed.
    pub fn phone(self) -> PhoneNumber {
        let local = TEST_NUMBERS
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("0700000000", |(n, _)| n);
        PhoneNumber::parse(local).unwrap_or_else(|_| unreachable!("test numbers are valid"))
    }

    /// The M-Pesa result code and text this scenario ends with, if it ends.
    pub fn result(self) -> Option<(ResultCode, &'static str)> {
        let (code, text) = match self {
            Self::Complete => ("0", "The service request is processed successfully."),
            Self::Cancel => ("1032", "Request cancelled by user"),
            Self::Timeout => ("1037", "DS timeout user cannot be reached"),
            Self::InsufficientFunds => ("1", "The balance is insufficient for the transaction."),
            Self::WrongPin => ("2001", "The initiator information is invalid."),
            Self::SubscriberBusy => (
                "1001",
                "Unable to lock subscriber, a transaction is already in process for the current subscriber",
            ),
            Self::ProviderError => ("1025", "An error occurred while sending a push request"),
            Self::NeverAnswers | Self::RejectAtInitiate | Self::UnavailableAtInitiate => {
                return None;
            }
        };
        Some((ResultCode::new(code), text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_test_number_round_trips() {
        for (n, s) in TEST_NUMBERS {
            let p = PhoneNumber::parse(n).unwrap();
            assert_eq!(Scenario::for_phone(&p), *s);
            assert_eq!(s.phone(), p);
            assert!(p.is_safaricom(), "test numbers pass Safaricom-only checks");
        }
        assert_eq!(
            Scenario::for_phone(&PhoneNumber::parse("0712345678").unwrap()),
            Scenario::Complete
        );
    }
}
