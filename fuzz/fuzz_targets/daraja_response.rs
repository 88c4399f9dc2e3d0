//! Daraja's push (`processrequest`) and query (`stkpushquery`) answers: any HTTP status from
//! the table and any body, plus the token-refusal check. Never panics; see
//! `stk_fuzz::check_push` for the invariants. (The OAuth token answer is parsed inside the
//! asynchronous token fetch, which is not reachable without a server.)
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use stk_core::{CallbackUrl, Operation, PaymentId};
use stk_daraja::{DarajaConfig, Environment};
use stk_http::Connector;

static CONFIG: LazyLock<DarajaConfig> = LazyLock::new(|| {
    DarajaConfig::builder()
        .consumer_key("key")
        .consumer_secret("secret")
        .environment(Environment::Production)
        .shortcode("600100")
        .passkey("passkey")
        .callback_url(CallbackUrl::parse("https://shop.example/cb").expect("a valid URL"))
        .build()
        .expect("a valid Daraja config")
});

fuzz_target!(|data: &[u8]| {
    let Some(response) = stk_fuzz::response(data) else {
        return;
    };
    let c = &*CONFIG;
    stk_fuzz::check_push(&response, &c.push_response(&response));
    let id = PaymentId::new("ws_CO_191220191020363925");
    stk_fuzz::check_status_answer(&c.status_response(&id, &response), false);
    for operation in [Operation::Initiate, Operation::Status] {
        if c.authorization_rejected(operation, &response) {
            assert!(
                !response.is_success(),
                "a 2xx answer read as a refused token"
            );
        }
    }
});
