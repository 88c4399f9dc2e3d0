//! The merchant-side request fields on arbitrary UTF-8: `Reference` (also through
//! `StkPushRequest::builder`), `Description` and `CallbackUrl`. Never panics; an accepted
//! reference keeps the documented rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stk_core::{CallbackUrl, Description, Reference, StkPushRequest};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let reference = Reference::new(input);
    match &reference {
        Ok(r) => {
            assert_eq!(r.as_str(), input);
            assert!((1..=Reference::MAX_LEN).contains(&r.as_str().len()));
            assert!(
                r.as_str()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./#:".contains(c)),
                "{r:?}"
            );
            assert_eq!(Reference::new(r.to_string()).as_ref(), Ok(r));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let request = StkPushRequest::builder()
        .phone("0712345678")
        .amount(100)
        .reference(input)
        .build();
    assert_eq!(request.is_ok(), reference.is_ok());
    if let (Ok(request), Ok(reference)) = (&request, &reference) {
        assert_eq!(request.reference(), reference);
    }

    if let Ok(d) = Description::new(input) {
        assert_eq!(d.as_str(), input);
        assert!(!d.as_str().chars().any(char::is_control));
    }

    match CallbackUrl::parse(input) {
        Ok(url) => {
            let scheme = url.as_url().scheme();
            assert!(
                scheme == "https" || (scheme == "http" && stk_core::is_loopback(url.as_url())),
                "{}",
                url.as_str()
            );
            let _ = format!("{url:?}");
            let with = url.with_query_token("token", "s3cret");
            assert!(with.query_pairs().any(|(k, _)| k == "token"));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
