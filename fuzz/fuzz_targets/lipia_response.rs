//! Lipia Online's push and status answers: any HTTP status from the table and any body.
//! Never panics; see `stk_fuzz::check_push` for the invariants.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use stk_core::{Operation, PaymentId};
use stk_http::Connector;
use stk_lipia::LipiaConfig;

static CONFIG: LazyLock<LipiaConfig> = LazyLock::new(|| {
    LipiaConfig::builder()
        .api_key("k")
        .build()
        .expect("a valid Lipia config")
});

fuzz_target!(|data: &[u8]| {
    let Some(response) = stk_fuzz::response(data) else {
        return;
    };
    let c = &*CONFIG;
    stk_fuzz::check_push(&response, &c.push_response(&response));
    let id = PaymentId::new("64f1a2b3c4d5e6f7a8b9c0d1");
    stk_fuzz::check_status_answer(&c.status_response(&id, &response), false);
    let _ = c.authorization_rejected(Operation::Initiate, &response);
});
