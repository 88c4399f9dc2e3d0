//! Daraja callbacks (`Body.stkCallback`): any body, without a callback token, and with one in
//! the query or as the last path segment (right, wrong or missing). Never panics; events are
//! final and carry the `CheckoutRequestID`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use stk_core::{CallbackRequest, CallbackUrl};
use stk_daraja::{DarajaConfig, Environment, TokenPlacement};
use stk_http::Connector;

const TOKEN: &str = "callback-s3cret";

fn config(token: Option<TokenPlacement>) -> DarajaConfig {
    let mut b = DarajaConfig::builder()
        .consumer_key("key")
        .consumer_secret("secret")
        .environment(Environment::Production)
        .shortcode("600100")
        .passkey("passkey")
        .callback_url(CallbackUrl::parse("https://shop.example/cb").expect("a valid URL"));
    if let Some(placement) = token {
        b = b.callback_token(TOKEN).callback_token_in(placement);
    }
    b.build().expect("a valid Daraja config")
}

static OPEN: LazyLock<DarajaConfig> = LazyLock::new(|| config(None));
static QUERY: LazyLock<DarajaConfig> = LazyLock::new(|| config(Some(TokenPlacement::Query)));
static PATH: LazyLock<DarajaConfig> = LazyLock::new(|| config(Some(TokenPlacement::Path)));

fuzz_target!(|data: &[u8]| {
    let plain = CallbackRequest::new(data);
    let open = OPEN.parse_callback(&plain);
    stk_fuzz::check_callback(&open);
    if let Ok(event) = &open {
        assert!(event.status.is_final(), "Daraja only calls back when final");
        assert!(event.payment_id.is_some() && event.checkout_request_id.is_some());
    }
    let with = |target: &str| plain.clone().path_and_query(target);

    let right = with(&format!("/mpesa/daraja?token={TOKEN}"));
    stk_fuzz::check_same("right query token", &open, &QUERY.parse_callback(&right));
    let right = with(&format!("/mpesa/daraja/{TOKEN}"));
    stk_fuzz::check_same("right path token", &open, &PATH.parse_callback(&right));
    let encoded = with("/mpesa/daraja/callback-s3cre%74/");
    stk_fuzz::check_same("encoded path token", &open, &PATH.parse_callback(&encoded));

    for (config, target) in [
        (&*QUERY, None),
        (&*QUERY, Some("/mpesa/daraja?token=wrong")),
        (&*QUERY, Some(&*format!("/mpesa/daraja/{TOKEN}"))),
        (&*PATH, None),
        (&*PATH, Some("/mpesa/daraja/wrong")),
        (&*PATH, Some(&*format!("/mpesa/daraja?token={TOKEN}"))),
    ] {
        let mut cb = plain.clone();
        if let Some(t) = target {
            cb = cb.path_and_query(t);
        }
        stk_fuzz::check_refused("missing or wrong token", &config.parse_callback(&cb));
    }
});
