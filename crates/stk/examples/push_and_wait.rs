//! Push, then wait for the customer's answer: `cargo run -p stk --example push_and_wait`.
//!
//! Runs on the fake provider with no credentials (`STK_PROVIDER` unset). With a real
//! provider's variables set (and its feature built in), the same code talks to it.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use stk::{PaymentStatus, PollPolicy, ProviderConfig, StkPushRequest, wait_for_final};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), stk::Error> {
    let provider = ProviderConfig::from_env()?.build()?;
    let request = StkPushRequest::builder()
        .phone("0712 345 678")
        .amount(100)
        .reference("ORDER-1001")
        .build()?;
    let accepted = provider.initiate(&request).await?;
    println!("accepted as payment {}", accepted.payment_id);
    match wait_for_final(&provider, &accepted.payment_id, &PollPolicy::default()).await {
        Ok(PaymentStatus::Completed(done)) => println!("paid, receipt {:?}", done.receipt),
        Ok(PaymentStatus::Failed(failure)) => println!("not paid: {}", failure.reason),
        Ok(other) => println!("not final: {}", other.as_str()),
        // Outcome unknown or still pending: the customer may still pay. Never push again for
        // this order; query its status later.
        Err(e) => eprintln!("{e} (kind: {})", e.kind()),
    }
    Ok(())
}
