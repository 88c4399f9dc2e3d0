//! `stk sandbox`: the providers' emulators on loopback, for trying the CLI or an app
//! against real HTTP without credentials.

use std::time::Duration;

use stk::ProviderKind;
use stk_emulator::{
    DarajaEmulator, DarajaEmulatorConfig, KulmiPayEmulator, KulmiPayEmulatorConfig, LipiaEmulator,
    LipiaEmulatorConfig, UpesiPayEmulator, UpesiPayEmulatorConfig,
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
    // Ids and receipts differ on every start (a store kept across restarts must never see
    // one again for another payment); `--seed` replays a run.
    let seed = args.seed.unwrap_or_else(clock_seed);
    // Each emulator listens at `--port` plus its provider's place in the provider table (the
    // fake provider, first, has none).
    let port = |kind: ProviderKind| {
        let place = ProviderKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(0);
        args.port
            .wrapping_add(u16::try_from(place.saturating_sub(1)).unwrap_or(u16::MAX))
    };
    let ports = [
        port(ProviderKind::KulmiPay),
        port(ProviderKind::UpesiPay),
        port(ProviderKind::Lipia),
        port(ProviderKind::Daraja),
    ];
    let mut kulmipay = KulmiPayEmulatorConfig::default()
        .port(ports[0])
        .delay(delay)
        .seed(seed);
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
                .delay(delay)
                .seed(seed),
        )
        .await,
    )?;
    let lipia = started(
        "Lipia",
        ports[2],
        LipiaEmulator::start(
            LipiaEmulatorConfig::default()
                .port(ports[2])
                .delay(delay)
                .seed(seed),
        )
        .await,
    )?;
    let daraja = started(
        "Daraja",
        ports[3],
        DarajaEmulator::start(
            DarajaEmulatorConfig::default()
                .port(ports[3])
                .delay(delay)
                .seed(seed),
        )
        .await,
    )?;

    out!("KulmiPay emulator: {}", kulmipay.base_url());
    out!("  export STK_PROVIDER=kulmipay");
    out!("  export KULMIPAY_BASE_URL={}", kulmipay.base_url());
    out!("  export KULMIPAY_SECRET_KEY={}", kulmipay.secret_key());
    if let Some(challenge) = kulmipay.webhook_challenge() {
        out!("  export KULMIPAY_WEBHOOK_CHALLENGE={challenge}");
    }
    out!();
    out!("UpesiPay emulator: {}", upesipay.base_url());
    out!("  export STK_PROVIDER=upesipay");
    out!("  export UPESIPAY_BASE_URL={}", upesipay.base_url());
    out!("  export UPESIPAY_API_TOKEN={}", upesipay.token());
    out!("  export UPESIPAY_CHANNEL_ID={}", upesipay.channel_id());
    if let Some(url) = &args.webhook_url {
        out!("  export UPESIPAY_CALLBACK_URL={url}");
    }
    out!();
    out!("Lipia emulator: {}", lipia.base_url());
    out!("  export STK_PROVIDER=lipia");
    out!("  export LIPIA_BASE_URL={}", lipia.base_url());
    out!("  export LIPIA_API_KEY={}", lipia.api_key());
    if let Some(url) = &args.webhook_url {
        out!("  export LIPIA_CALLBACK_URL={url}");
    }
    out!();
    out!(
        "Daraja emulator: {} (sandbox shortcode {}, its published passkey)",
        daraja.base_url(),
        daraja.shortcode()
    );
    out!("  export STK_PROVIDER=daraja");
    out!("  export DARAJA_BASE_URL={}", daraja.base_url());
    out!("  export DARAJA_CONSUMER_KEY={}", daraja.consumer_key());
    out!(
        "  export DARAJA_CONSUMER_SECRET={}",
        daraja.consumer_secret()
    );
    // Daraja requires a CallBackURL on every push.
    let daraja_callback = args
        .webhook_url
        .as_deref()
        .unwrap_or("http://127.0.0.1:8710/daraja");
    out!("  export DARAJA_CALLBACK_URL={daraja_callback}");
    out!();
    out!("Seed {seed}: `stk sandbox --seed {seed}` replays this run's ids and receipts.");
    out!("Then, in another terminal: stk push --phone 0712345678 --amount 100 --wait");
    out!(
        "Test numbers script the outcome (README: 0700000001 cancels, 0700000003 has no funds, …)."
    );
    out!("Stop with Ctrl-C.");

    match args.duration {
        Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
        None => tokio::signal::ctrl_c()
            .await
            .map_err(|e| CliError::io("wait for Ctrl-C", e))?,
    }
    kulmipay.shutdown().await;
    upesipay.shutdown().await;
    lipia.shutdown().await;
    daraja.shutdown().await;
    Ok(())
}

/// A seed from the clock: a new one on every start.
fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    u64::try_from(nanos % u128::from(u64::MAX)).unwrap_or_default() ^ u64::from(std::process::id())
}
