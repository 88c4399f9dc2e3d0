//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Send M-Pesa STK pushes and query payments.
///
/// The provider is the fake one unless --provider or STK_PROVIDER says otherwise.
#[derive(Debug, Parser)]
#[command(name = "stk", version, about, long_about = None)]
pub(crate) struct Cli {
    #[arg(
        long,
        global = true,
        env = "STK_PROVIDER",
        default_value = "mock",
        help = format!("Provider: {}", stk::ProviderKind::names())
    )]
    pub(crate) provider: String,

    /// Whether `--provider` was given on the command line (not from STK_PROVIDER or the
    /// default): `payments list` then filters by it.
    #[arg(skip)]
    pub(crate) provider_on_command_line: bool,

    /// Print exactly one JSON object on stdout instead of human output (`listen`: one per
    /// line).
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Where payments are recorded: a SQLite file path, `sqlite://…` or `postgres://…`
    /// [default: the platform's data directory, e.g. ~/.local/share/stk/payments.db]
    #[arg(long, global = true, env = "STK_DATABASE_URL", value_name = "URL")]
    pub(crate) database: Option<String>,

    /// Do not keep below the provider's documented abuse limits (UpesiPay blocks a number
    /// after more than 10 failed pushes in a row). On by default, counted in the store.
    #[arg(long, global = true)]
    pub(crate) no_guard: bool,

    /// More logging on stderr (-v info, -vv debug, -vvv trace); `RUST_LOG` wins when set.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

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
    /// Run the payment gateway: the HTTP API apps in any language use (create and read
    /// payments), provider callbacks, signed webhooks (STK_SERVE_API_KEY, and
    /// STK_SERVE_WEBHOOK_URL with STK_SERVE_WEBHOOK_SECRET).
    Serve(ServeArgs),
    /// Receive the provider's callbacks into the tracker (store, acknowledge, confirm by
    /// status query) and print each payment event.
    Listen(ListenArgs),
    /// The recorded payments: list, show one's timeline, reconcile with the provider.
    #[command(subcommand)]
    Payments(PaymentsCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum PaymentsCommand {
    /// The latest payment attempts, newest first; the filters narrow them.
    List {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Only attempts in this state (`completed`, `failed`, `expired`, …; repeat for more).
        #[arg(long = "state", value_parser = parse_state)]
        states: Vec<stk_tracker::AttemptState>,
        /// Only attempts made with this provider (also `--provider P` on the command line).
        #[arg(long = "with-provider", value_name = "PROVIDER")]
        provider_name: Option<String>,
        /// Only this order reference.
        #[arg(long)]
        reference: Option<String>,
        /// Only the attempt with this M-Pesa receipt.
        #[arg(long)]
        receipt: Option<String>,
        /// An order reference, receipt, provider payment id, or the phone's last digits.
        #[arg(long)]
        search: Option<String>,
    },
    /// One attempt: its state, the timeline of transitions with their evidence, its events.
    Show {
        /// The attempt id (`att_…`).
        id: String,
    },
    /// Query the provider now: one attempt, or every open one.
    Reconcile {
        /// The attempt id; every open attempt if omitted.
        id: Option<String>,
    },
    /// Record your decision for an attempt the provider's answers could not settle
    /// (`needs_review`, `expired`, outcome unknown): completed or failed, with a note. A
    /// completed attempt never moves.
    Resolve {
        /// The attempt id (`att_…`).
        id: String,
        /// Your decision.
        #[arg(long = "as", value_enum)]
        resolution: ResolveAs,
        /// Why, kept on the attempt's timeline (e.g. "statement shows UAB1C2D3E4").
        #[arg(long)]
        note: String,
        /// The M-Pesa receipt of the payment, for `--as completed`, if you know it.
        #[arg(long)]
        receipt: Option<String>,
    },
    /// Delete processed callbacks older than the retention (what moved a payment stays on its
    /// timeline); `stk listen` also prunes hourly.
    Prune {
        /// Keep this many days (1 to 3650).
        #[arg(long, default_value_t = DEFAULT_RETENTION_DAYS,
              value_parser = clap::value_parser!(u64).range(1..=3650))]
        older_than_days: u64,
    },
}

/// Days of processed callbacks `stk payments prune` keeps by default.
pub(crate) const DEFAULT_RETENTION_DAYS: u64 = 30;

/// An operator's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ResolveAs {
    /// The customer paid.
    Completed,
    /// The customer did not pay (the order may be pushed again).
    Failed,
}

#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed on stderr).
    #[arg(long, default_value = "127.0.0.1:8710")]
    pub(crate) bind: std::net::SocketAddr,

    /// Stop after printing this many events (default: run until Ctrl-C). Events not printed
    /// stay in the store and are printed by the next run.
    #[arg(long)]
    pub(crate) max_events: Option<usize>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed on stderr).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) bind: std::net::SocketAddr,

    /// Allow a non-loopback address: the service speaks plain HTTP, so only behind a
    /// TLS-terminating proxy.
    #[arg(long)]
    pub(crate) behind_proxy: bool,

    /// Several accounts from a TOML file (each with its key, database, providers and
    /// webhook); without it, one account from STK_SERVE_* and the provider's variables.
    #[arg(long, env = "STK_SERVE_CONFIG")]
    pub(crate) config: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    /// First port: KulmiPay listens here, UpesiPay on the next, then Lipia, then Daraja.
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

    /// Seed of the emulators' ids and receipts (default: from the clock, printed; give the
    /// printed one to replay a run).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// Phone to prompt: 0712345678, 254712345678 or +254712345678.
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) phone: String,

    /// Amount in whole shillings.
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) amount: String,

    /// Your reference (order id); generated if omitted. A second push for a reference whose
    /// payment is still open (or paid) is refused.
    #[arg(long)]
    pub(crate) reference: Option<String>,

    /// Do not record the payment in the tracker's store.
    #[arg(long)]
    pub(crate) no_record: bool,

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

    /// Give up waiting after this many seconds (0 to 86400).
    #[arg(long, default_value_t = 120, requires = "wait",
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub(crate) timeout: u64,
}

/// An attempt state by its name.
fn parse_state(name: &str) -> Result<stk_tracker::AttemptState, String> {
    name.parse().map_err(|_| {
        let names: Vec<&str> = stk_tracker::AttemptState::ALL
            .iter()
            .map(|s| s.as_str())
            .collect();
        format!("not a state; one of: {}", names.join(", "))
    })
}
