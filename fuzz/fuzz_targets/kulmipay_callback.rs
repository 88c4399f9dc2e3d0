//! KulmiPay `collection_event` webhooks: any body, without a challenge secret, with one, and
//! with a right or wrong HMAC signature header. Never panics; verification only ever refuses.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use stk_core::CallbackRequest;
use stk_http::Connector;
use stk_kulmipay::{KulmiPayConfig, SIGNATURE_HEADER, SIGNATURE_HEADER_SPACED, sign};

const SECRET: &str = "challenge-s3cret";

fn config(challenge: Option<&str>) -> KulmiPayConfig {
    let mut b = KulmiPayConfig::builder().secret_key("ISSecretKey_test_x");
    if let Some(c) = challenge {
        b = b.webhook_challenge(c);
    }
    b.build().expect("a valid KulmiPay config")
}

static OPEN: LazyLock<KulmiPayConfig> = LazyLock::new(|| config(None));
static GUARDED: LazyLock<KulmiPayConfig> = LazyLock::new(|| config(Some(SECRET)));

fuzz_target!(|data: &[u8]| {
    let plain = CallbackRequest::new(data);
    let open = OPEN.parse_callback(&plain);
    stk_fuzz::check_callback(&open);

    // Without a secret there is nothing to check a signature against: it changes nothing.
    let signed = plain.clone().header(SIGNATURE_HEADER, sign(SECRET, data));
    stk_fuzz::check_same("open, signed", &open, &OPEN.parse_callback(&signed));

    // With a secret: the body's challenge must match it.
    let guarded = GUARDED.parse_callback(&plain);
    stk_fuzz::check_callback(&guarded);
    if let Ok(event) = &guarded {
        assert_eq!(
            open.as_ref().ok(),
            Some(event),
            "guarded accepted what open refused"
        );
        let value: serde_json::Value =
            serde_json::from_slice(data).expect("an accepted callback is JSON");
        assert_eq!(
            value.get("challenge").and_then(|c| c.as_str()),
            Some(SECRET),
            "accepted without the challenge"
        );
    }
    // A right signature (either header spelling) adds nothing; a wrong one is refused.
    for header in [SIGNATURE_HEADER, SIGNATURE_HEADER_SPACED] {
        let signed = plain.clone().header(header, sign(SECRET, data));
        stk_fuzz::check_same(
            "guarded, signed",
            &guarded,
            &GUARDED.parse_callback(&signed),
        );
        let forged = plain.clone().header(header, sign("other", data));
        stk_fuzz::check_refused("wrong signature", &GUARDED.parse_callback(&forged));
    }
    let garbage = plain.header(SIGNATURE_HEADER, "zz");
    stk_fuzz::check_refused("signature not hex", &GUARDED.parse_callback(&garbage));
});
