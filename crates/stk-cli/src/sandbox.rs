//! `stk sandbox`: the providers' emulators on loopback, for trying the CLI or an app
//! against real HTTP without credentials.

use std::time::Duration;

use stk_mock::emulator::{KulmiPayEmulator, KulmiPayEmulatorConfig};

use crate::args::SandboxArgs;

/// Starts the emulators, prints how to use them, and runs until Ctrl-C or `--duration`.
pub(crate) async fn run(args: SandboxArgs) -> Result<(), String> {
    let delay = Duration::from_millis(args.delay_ms);
    let mut kulmipay = KulmiPayEmulatorConfig::default()
        .port(args.port)
        .delay(delay);
    if let Some(url) = &args.webhook_url {
        kulmipay = kulmipay
            .webhook_url(url.clone())
            .webhook_challenge("sandbox-challenge");
    }
    let kulmipay = KulmiPayEmulator::start(kulmipay).await.map_err(|e| {
        format!(
            "cannot start the KulmiPay emulator on port {}: {e}",
            args.port
        )
    })?;

    println!("KulmiPay emulator: {}", kulmipay.base_url());
    println!("  export STK_PROVIDER=kulmipay");
    println!("  export KULMIPAY_BASE_URL={}", kulmipay.base_url());
    println!("  export KULMIPAY_SECRET_KEY={}", kulmipay.secret_key());
    if let Some(challenge) = kulmipay.webhook_challenge() {
        println!("  export KULMIPAY_WEBHOOK_CHALLENGE={challenge}");
    }
    println!();
    println!("Then, in another terminal: stk push --phone 0712345678 --amount 100 --wait");
    println!(
        "Test numbers script the outcome (see README: 0700000001 cancels, 0700000003 has no funds, …)."
    );
    println!("Stop with Ctrl-C.");

    match args.duration {
        Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
        None => {
            tokio::signal::ctrl_c()
                .await
                .map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
        }
    }
    kulmipay.shutdown().await;
    Ok(())
}
