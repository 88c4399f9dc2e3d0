//! UpesiPay's push and transaction-status answers: any HTTP status from the table and any
//! body. Never panics; see `stk_fuzz::check_push` for the invariants.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use stk_core::{Operation, PaymentId};
use stk_http::Connector;
use stk_upesipay::UpesiPayConfig;

static CONFIG: LazyLock<UpesiPayConfig> = LazyLock::new(|| {
    UpesiPayConfig::builder()
        .api_token("t")
        .channel_id(1)
        .build()
        .expect("a valid UpesiPay config")
});

fuzz_target!(|data: &[u8]| {
    let Some(response) = stk_fuzz::response(data) else {
        return;
    };
    let c = &*CONFIG;
    stk_fuzz::check_push(&response, &c.push_response(&response));
    let id = PaymentId::new("E8UWT7CLUW");
    stk_fuzz::check_status_answer(&c.status_response(&id, &response), false);
    let _ = c.authorization_rejected(Operation::Initiate, &response);
});
