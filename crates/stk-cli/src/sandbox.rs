//! `stk sandbox`: the providers' emulators on loopback, for trying the CLI or an app
//! against real HTTP without credentials.

use std::time::Duration;

use stk_emulator::{
    KulmiPayEmulator, KulmiPayEmulatorConfig, LipiaEmulator, LipiaEmulatorConfig, UpesiPayEmulator,
    UpesiPayEmulatorConfig,
};

use crate::CliError;
use crate::args::SandboxArgs;

/// The webhook challenge KulmiPay's emulator sends when `--webhook-url` is given.
const SANDBOX_CHALLENGE: &str = "sandbox-challenge";

fn started<T>(name: &str, port: u16, result: std::io::Result<T>) -> Result<T, CliError> {
    result.map_err(|e| CliError::io(format!("start the {name} emulator on 127.0.0.1:{port}"), e))
}

/// Starts the emulators, prints how to use them, and runs until Ctrl-C or `--duration`.
pub(crate) async fn run(args: SandboxArgs) -> Result<(), CliError> {
    let delay = Duration::from_millis(args.delay_ms);
    let ports = [
        args.port,
        args.port.wrapping_add(1),
        args.port.wrapping_add(2),
    ];
    let mut kulmipay = KulmiPayEmulatorConfig::default()
        .port(ports[0])
        .delay(delay);
    if let Some(url) = &args.webhook_url {
        kulmipay = kulmipay
            .webhook_url(url.clone())
            .webhook_challenge(SANDBOX_CHALLENGE);
    }
    let kulmipay = started(
        "KulmiPay",
        ports[0],
        KulmiPayEmulator::start(kulmipay).await,
    )?;
    let upesipay = started(
        "UpesiPay",
        ports[1],
        UpesiPayEmulator::start(
            UpesiPayEmulatorConfig::default()
                .port(ports[1])
                .delay(delay),
        )
        .await,
    )?;
    let lipia = started(
        "Lipia",
        ports[2],
        LipiaEmulator::start(LipiaEmulatorConfig::default().port(ports[2]).delay(delay)).await,
    )?;

    println!("KulmiPay emulator: {}", kulmipay.base_url());
    println!("  export STK_PROVIDER=kulmipay");
    println!("  export KULMIPAY_BASE_URL={}", kulmipay.base_url());
    println!("  export KULMIPAY_SECRET_KEY={}", kulmipay.secret_key());
    if let Some(challenge) = kulmipay.webhook_challenge() {
        println!("  export KULMIPAY_WEBHOOK_CHALLENGE={challenge}");
    }
    println!();
    println!("UpesiPay emulator: {}", upesipay.base_url());
    println!("  export STK_PROVIDER=upesipay");
    println!("  export UPESIPAY_BASE_URL={}", upesipay.base_url());
    println!("  export UPESIPAY_API_TOKEN={}", upesipay.token());
    println!("  export UPESIPAY_CHANNEL_ID={}", upesipay.channel_id());
    if let Some(url) = &args.webhook_url {
        println!("  export UPESIPAY_CALLBACK_URL={url}");
    }
    println!();
    println!("Lipia emulator: {}", lipia.base_url());
    println!("  export STK_PROVIDER=lipia");
    println!("  export LIPIA_BASE_URL={}", lipia.base_url());
    println!("  export LIPIA_API_KEY={}", lipia.api_key());
    if let Some(url) = &args.webhook_url {
        println!("  export LIPIA_CALLBACK_URL={url}");
    }
    println!();
    println!("Then, in another terminal: stk push --phone 0712345678 --amount 100 --wait");
    println!(
        "Test numbers script the outcome (README: 0700000001 cancels, 0700000003 has no funds, …)."
    );
    println!("Stop with Ctrl-C.");

    match args.duration {
        Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
        None => tokio::signal::ctrl_c()
            .await
            .map_err(|e| CliError::io("wait for Ctrl-C", e))?,
    }
    kulmipay.shutdown().await;
    upesipay.shutdown().await;
    lipia.shutdown().await;
    Ok(())
}
