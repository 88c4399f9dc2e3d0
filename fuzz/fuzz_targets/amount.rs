//! `str::parse::<Amount>` on arbitrary UTF-8: never panics; an accepted amount is positive and
//! re-parses from its shillings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stk_core::{Amount, AmountLimits};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = input.parse::<Amount>();
    assert_eq!(parsed, Amount::try_from(input));
    let amount = match parsed {
        Ok(amount) => amount,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(amount.shillings() > 0);
    assert_eq!(amount.shillings().to_string().parse::<Amount>(), Ok(amount));
    assert_eq!(Amount::new(amount.shillings()), Ok(amount));
    // Whole shillings only: nothing but digits, and at most a zero fraction.
    let text = input.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    assert!(whole.bytes().all(|b| b.is_ascii_digit()), "{input:?}");
    assert!(fraction.bytes().all(|b| b == b'0'), "{input:?}");
    let _ = amount.to_string();
    let _ = AmountLimits::MPESA.check(amount);
});
