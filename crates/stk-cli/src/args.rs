//! Command-line arguments.

use clap::{Args, Parser, Subcommand};

/// Send M-Pesa STK pushes and query payments.
///
/// The provider is the fake one unless --provider or STK_PROVIDER says otherwise.
#[derive(Debug, Parser)]
#[command(name = "stk", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Provider: mock, kulmipay, upesipay or lipia.
    #[arg(long, global = true, env = "STK_PROVIDER", default_value = "mock")]
    pub(crate) provider: String,

    /// Print exactly one JSON object on stdout instead of human output.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Send an STK push to a phone.
    Push(PushArgs),
    /// Query where a payment stands.
    Status(StatusArgs),
    /// Run the providers' emulators on 127.0.0.1 and print the variables to use them.
    Sandbox(SandboxArgs),
    /// Receive the provider's callbacks: verify, parse, de-duplicate and print each one.
    Listen(ListenArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed on stderr).
    #[arg(long, default_value = "127.0.0.1:8710")]
    pub(crate) bind: std::net::SocketAddr,

    /// Confirm every final callback with a status query before reporting it (the safe
    /// default for providers whose callbacks are unsigned).
    #[arg(long)]
    pub(crate) confirm: bool,

    /// Stop after this many callbacks (default: run until Ctrl-C).
    #[arg(long)]
    pub(crate) max_events: Option<usize>,
}

#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    /// First port: KulmiPay listens here, UpesiPay on the next, Lipia on the one after.
    #[arg(long, default_value_t = 8700)]
    pub(crate) port: u16,

    /// Seconds after which to stop (default: run until Ctrl-C).
    #[arg(long)]
    pub(crate) duration: Option<u64>,

    /// Milliseconds from acceptance to a payment's result.
    #[arg(long, default_value_t = 3000)]
    pub(crate) delay_ms: u64,

    /// Where the emulators POST webhooks (callbacks), if anywhere.
    #[arg(long)]
    pub(crate) webhook_url: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// Phone to prompt: 0712345678, 254712345678 or +254712345678.
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) phone: String,

    /// Amount in whole shillings.
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) amount: String,

    /// Your reference (order id); generated if omitted.
    #[arg(long)]
    pub(crate) reference: Option<String>,

    /// Where the provider should POST the result (https).
    #[arg(long)]
    pub(crate) callback_url: Option<String>,

    /// A short description.
    #[arg(long)]
    pub(crate) description: Option<String>,

    #[command(flatten)]
    pub(crate) wait: WaitArgs,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The payment id printed by `stk push`.
    pub(crate) id: String,

    #[command(flatten)]
    pub(crate) wait: WaitArgs,
}

#[derive(Debug, Args)]
pub(crate) struct WaitArgs {
    /// Poll until the payment is completed or failed.
    #[arg(long)]
    pub(crate) wait: bool,

    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 120, requires = "wait")]
    pub(crate) timeout: u64,
}
