//! UpesiPay callbacks: any body, without a callback token, and with one (right, wrong or
//! missing in the request's query). Never panics; events are final and name the payment.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use stk_core::CallbackRequest;
use stk_http::Connector;
use stk_upesipay::UpesiPayConfig;

const TOKEN: &str = "callback-s3cret";

fn config(token: bool) -> UpesiPayConfig {
    let mut b = UpesiPayConfig::builder().api_token("t").channel_id(1);
    if token {
        b = b.callback_token(TOKEN);
    }
    b.build().expect("a valid UpesiPay config")
}

static OPEN: LazyLock<UpesiPayConfig> = LazyLock::new(|| config(false));
static GUARDED: LazyLock<UpesiPayConfig> = LazyLock::new(|| config(true));

fuzz_target!(|data: &[u8]| {
    let plain = CallbackRequest::new(data);
    let open = OPEN.parse_callback(&plain);
    stk_fuzz::check_callback(&open);
    if let Ok(event) = &open {
        assert!(
            event.status.is_final(),
            "UpesiPay only calls back when final"
        );
    }
    let right = plain.clone().path_and_query(format!("/cb?token={TOKEN}"));
    stk_fuzz::check_same("right token", &open, &GUARDED.parse_callback(&right));
    for target in [
        None,
        Some("/cb"),
        Some("/cb?token=wrong"),
        Some("/cb?token="),
    ] {
        let mut cb = plain.clone();
        if let Some(t) = target {
            cb = cb.path_and_query(t);
        }
        stk_fuzz::check_refused("missing or wrong token", &GUARDED.parse_callback(&cb));
    }
});
