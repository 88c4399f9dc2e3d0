//! `PhoneNumber::parse` on arbitrary UTF-8: never panics, and an accepted number re-parses
//! from each form it renders to the same number.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stk_core::PhoneNumber;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = PhoneNumber::parse(input);
    assert_eq!(parsed, input.parse::<PhoneNumber>());
    let phone = match parsed {
        Ok(phone) => phone,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let international = phone.international();
    assert_eq!(international.len(), 12, "{international}");
    assert!(
        international.starts_with("2547") || international.starts_with("2541"),
        "{international}"
    );
    assert!(international.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(phone.to_string(), international);
    for form in [international, phone.local(), phone.e164()] {
        assert_eq!(PhoneNumber::parse(&form), Ok(phone), "{form}");
    }
    let masked = phone.masked();
    assert_eq!(masked.len(), 12, "{masked}");
    let _ = phone.is_safaricom();
    let _ = format!("{phone:?}");
});
