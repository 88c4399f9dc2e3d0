//! Lipia Online callbacks (nested and flat shapes): any body, without a callback token, and
//! with one (right, wrong or missing). Never panics; events name the payment.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use stk_core::{CallbackRequest, CallbackUrl};
use stk_http::Connector;
use stk_lipia::LipiaConfig;

const TOKEN: &str = "callback-s3cret";

fn config(token: bool) -> LipiaConfig {
    let url = CallbackUrl::parse("https://shop.example/cb").expect("a valid URL");
    let mut b = LipiaConfig::builder().api_key("k").callback_url(url);
    if token {
        b = b.callback_token(TOKEN);
    }
    b.build().expect("a valid Lipia config")
}

static OPEN: LazyLock<LipiaConfig> = LazyLock::new(|| config(false));
static GUARDED: LazyLock<LipiaConfig> = LazyLock::new(|| config(true));

fuzz_target!(|data: &[u8]| {
    let plain = CallbackRequest::new(data);
    let open = OPEN.parse_callback(&plain);
    stk_fuzz::check_callback(&open);
    let right = plain
        .clone()
        .path_and_query(format!("/cb?order=7&token={TOKEN}"));
    stk_fuzz::check_same("right token", &open, &GUARDED.parse_callback(&right));
    for target in [
        None,
        Some("/cb"),
        Some("/cb?token=wrong"),
        Some("/cb?tok=callback-s3cret"),
    ] {
        let mut cb = plain.clone();
        if let Some(t) = target {
            cb = cb.path_and_query(t);
        }
        stk_fuzz::check_refused("missing or wrong token", &GUARDED.parse_callback(&cb));
    }
});
