//! KulmiPay's push and status answers (both API generations): any HTTP status from the table
//! and any body. Never panics; see `stk_fuzz::check_push` for the invariants.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use stk_core::{Operation, PaymentId};
use stk_http::Connector;
use stk_kulmipay::{ApiGeneration, KulmiPayConfig};

fn config(api: ApiGeneration) -> KulmiPayConfig {
    KulmiPayConfig::builder()
        .api(api)
        .secret_key("ISSecretKey_test_x")
        .api_token("t")
        .build()
        .expect("a valid KulmiPay config")
}

static EXPRESS: LazyLock<KulmiPayConfig> = LazyLock::new(|| config(ApiGeneration::Express));
static COLLECTION: LazyLock<KulmiPayConfig> = LazyLock::new(|| config(ApiGeneration::Collection));

fuzz_target!(|data: &[u8]| {
    let Some(response) = stk_fuzz::response(data) else {
        return;
    };
    let id = PaymentId::new("GQ7KZ2XPNM");
    for c in [&*EXPRESS, &*COLLECTION] {
        stk_fuzz::check_push(&response, &c.push_response(&response));
        stk_fuzz::check_status_answer(&c.status_response(&id, &response), true);
        let _ = c.authorization_rejected(Operation::Initiate, &response);
    }
});
