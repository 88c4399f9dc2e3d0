//! The `stk` command: send M-Pesa STK pushes and query payments from a terminal.
//!
//! Exit codes: 0 accepted or completed, 1 payment failed, 2 invalid input, usage or
//! configuration, 3 provider refused or unavailable, 4 outcome unknown.

/// A line on stdout; a closed stdout (the reader went away) is not a panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// A line on stderr; a closed stderr is not a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod args;
mod human;
mod listen;
mod output;
mod sandbox;
mod serve;
mod tracking;

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;

use stk::{
    Error, Operation, PaymentId, PaymentStatus, PollPolicy, ProviderConfig, ProviderKind,
    StkProvider, StkPushRequest, wait_for_final_with,
};
use stk_tracker::Tracker;

use args::{Cli, Command, PaymentsCommand, PushArgs, WaitArgs};
use output::exit;

/// Why a command could not run: an SDK error, or the machine refusing (a port, the runtime).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// From the SDK: invalid input, configuration, the provider's answer.
    #[error(transparent)]
    Stk(#[from] Error),
    /// From the payment tracker: the order is already live or paid, the store failed, an
    /// unknown attempt.
    #[error(transparent)]
    Tracker(#[from] stk_tracker::TrackerError),
    /// A usage problem the argument parser cannot see.
    #[error("{0}")]
    Usage(String),
    /// An I/O failure of the CLI itself.
    #[error("cannot {action}: {source}")]
    Io {
        /// What the CLI was doing.
        action: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl CliError {
    pub(crate) fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            action: action.into(),
            source,
        }
    }

    fn exit_code(&self) -> u8 {
        match self {
            Self::Stk(e) => output::exit_code(e),
            Self::Tracker(stk_tracker::TrackerError::Provider { error, .. }) => {
                output::exit_code(error)
            }
            Self::Tracker(stk_tracker::TrackerError::Unrecorded { .. }) => exit::UNKNOWN,
            Self::Tracker(stk_tracker::TrackerError::Store(_)) => exit::STORE,
            Self::Tracker(_) | Self::Usage(_) | Self::Io { .. } => exit::INVALID,
        }
    }
}

/// What a command produced.
enum Outcome {
    /// Where a payment stands after `stk push`.
    Payment(&'static str, PaymentId, PaymentStatus),
    /// Where a payment stands after `stk status`.
    Status(&'static str, PaymentId, PaymentStatus),
    /// A long-running command (sandbox, listen) ended normally.
    Done,
}

fn main() -> ExitCode {
    let json = std::env::args().any(|a| a == "--json");
    let parsed = Cli::command().try_get_matches().and_then(|matches| {
        let mut cli = Cli::from_arg_matches(&matches)?;
        cli.provider_on_command_line =
            matches.value_source("provider") == Some(clap::parser::ValueSource::CommandLine);
        Ok(cli)
    });
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) if json && e.use_stderr() => {
            out!("{}", output::usage_json(&e.to_string()));
            return ExitCode::from(exit::INVALID);
        }
        Err(e) => e.exit(),
    };
    let json = cli.json;
    init_logging(cli.verbose);
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io("start the async runtime", e))
        .and_then(|runtime| runtime.block_on(dispatch(cli)));
    ExitCode::from(report(result, json))
}

/// Logs on stderr: `RUST_LOG` when set, else warnings (`-v` info, `-vv` debug, `-vvv` trace).
/// Secrets never reach the logs (they are redacted types); phone numbers are masked.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        let level = match verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        };
        let ours = ["stk", "stk_core", "stk_http", "stk_tracker"]
            .map(str::to_owned)
            .into_iter()
            .chain(stk::ProviderKind::ALL.iter().map(|k| k.log_target()));
        let directives: Vec<String> = ours.map(|c| format!("{c}={level}")).collect();
        EnvFilter::new(format!("warn,{}", directives.join(",")))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A closed stderr must not turn a log line into a panic.
        .log_internal_errors(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Runs the command.
async fn dispatch(cli: Cli) -> Result<Outcome, CliError> {
    let json = cli.json;
    match cli.command {
        Command::Sandbox(args) => sandbox::run(args).await.map(|()| Outcome::Done),
        Command::Serve(args) => {
            serve::run(&cli.provider, cli.database.as_deref(), !cli.no_guard, args)
                .await
                .map(|()| Outcome::Done)
        }
        Command::Listen(args) => {
            let tracker = tracking::open(
                cli.database.as_deref(),
                provider(&cli.provider)?,
                !cli.no_guard,
            )
            .await?;
            listen::run(tracker, args, json)
                .await
                .map(|()| Outcome::Done)
        }
        Command::Payments(mut command) => {
            // `payments list --provider P` filters by P (STK_PROVIDER does not).
            if let PaymentsCommand::List { provider_name, .. } = &mut command {
                if cli.provider_on_command_line && provider_name.is_none() {
                    *provider_name = Some(cli.provider.clone());
                }
            }
            // Reading and deciding need only the store; asking a provider needs its settings.
            let providers = match &command {
                PaymentsCommand::Reconcile { .. } => vec![provider(&cli.provider)?],
                _ => Vec::new(),
            };
            let tracker =
                tracking::open_many(cli.database.as_deref(), providers, !cli.no_guard).await?;
            tracking::payments(&tracker, command, json)
                .await
                .map(|()| Outcome::Done)
        }
        Command::Push(args) => {
            let provider = provider(&cli.provider)?;
            if args.no_record {
                let (_, provider) =
                    tracking::open_store(cli.database.as_deref(), provider, !cli.no_guard).await?;
                return Ok(push(provider.as_ref(), args, json).await?);
            }
            let tracker = tracking::open(cli.database.as_deref(), provider, !cli.no_guard).await?;
            push_tracked(&tracker, args, json).await
        }
        Command::Status(args) => {
            let provider = provider(&cli.provider)?;
            let id = PaymentId::new(args.id.trim());
            let status = if args.wait.wait {
                wait(provider.as_ref(), &id, &args.wait, json).await?
            } else {
                provider.status(&id).await?
            };
            Ok(Outcome::Status(provider.name(), id, status))
        }
    }
}

/// The provider named by `--provider`/`STK_PROVIDER`, configured from the environment.
fn provider(name: &str) -> Result<Box<dyn StkProvider>, Error> {
    let kind: ProviderKind = name.parse()?;
    ProviderConfig::for_provider(kind, |k| std::env::var(k).ok())?.build()
}

/// Prints the outcome or the error; returns the exit code.
fn report(result: Result<Outcome, CliError>, json: bool) -> u8 {
    let pushed = matches!(result, Ok(Outcome::Payment(..)));
    match result {
        Ok(Outcome::Done) => exit::OK,
        Ok(Outcome::Payment(provider, id, status) | Outcome::Status(provider, id, status)) => {
            if json {
                out!("{}", output::status_json(provider, &id, &status));
            } else {
                out!("{}", output::status_line(&status));
            }
            output::status_exit_code(&status, pushed)
        }
        Err(CliError::Stk(e)) if json => {
            out!("{}", output::error_json(&e));
            output::exit_code(&e)
        }
        Err(CliError::Tracker(stk_tracker::TrackerError::Provider { error, .. })) if json => {
            out!("{}", output::error_json(&error));
            output::exit_code(&error)
        }
        Err(e) if json => {
            out!("{}", output::cli_error_json(&e));
            e.exit_code()
        }
        Err(e) => {
            say!("error: {}", tracking::printable(&e.to_string()));
            if let CliError::Stk(inner) = &e {
                if let Some(hint) = output::error_hint(inner) {
                    say!("{hint}");
                }
            }
            e.exit_code()
        }
    }
}

fn request(args: &PushArgs) -> Result<StkPushRequest, Error> {
    let reference = args.reference.clone().unwrap_or_else(generated_reference);
    let mut builder = StkPushRequest::builder()
        .phone(args.phone.as_str())
        .amount(args.amount.as_str())
        .reference(reference);
    if let Some(url) = &args.callback_url {
        builder = builder.callback_url(url.as_str());
    }
    if let Some(d) = &args.description {
        builder = builder.description(d.as_str());
    }
    Ok(builder.build()?)
}

/// `stk push` recorded in the tracker: the attempt is written before the push is sent; a
/// second push for a live or paid order is refused.
async fn push_tracked(tracker: &Tracker, args: PushArgs, json: bool) -> Result<Outcome, CliError> {
    let request = request(&args)?;
    let attempt = tracker.push(&request).await?;
    let provider = Arc::clone(tracker.provider(&attempt.provider)?);
    let Some(payment_id) = attempt.payment_id.clone().map(PaymentId::new) else {
        return Err(CliError::Stk(Error::OutcomeUnknown {
            provider: provider.name(),
            operation: Operation::Initiate,
            message: format!(
                "the push may have reached {}; recorded as attempt {}: run `stk payments reconcile {}` or wait for the callback, never push again",
                provider.name(),
                attempt.id,
                attempt.id
            ),
            cause: None,
        }));
    };
    if !json {
        say!(
            "Push accepted by {}: payment {} for {} to {} (reference {})",
            provider.name(),
            payment_id,
            request.amount(),
            request.phone().local(),
            request.reference()
        );
        say!("Recorded as attempt {} ({})", attempt.id, attempt.state);
    }
    let status = if args.wait.wait {
        let status = wait(provider.as_ref(), &payment_id, &args.wait, json).await?;
        if let Err(e) = tracker.check(&attempt.id).await {
            say!("warning: the final status was not recorded: {e}");
        }
        status
    } else if attempt.state.is_final() {
        provider.status(&payment_id).await?
    } else {
        PaymentStatus::Pending
    };
    Ok(Outcome::Payment(provider.name(), payment_id, status))
}

async fn push(provider: &dyn StkProvider, args: PushArgs, json: bool) -> Result<Outcome, Error> {
    let request = request(&args)?;
    let accepted = provider.initiate(&request).await?;
    if !json {
        say!(
            "Push accepted by {}: payment {} for {} to {} (reference {})",
            accepted.provider,
            accepted.payment_id,
            request.amount(),
            request.phone().local(),
            request.reference()
        );
    }
    let status = if args.wait.wait && !accepted.status.is_final() {
        wait(provider, &accepted.payment_id, &args.wait, json).await?
    } else {
        accepted.status
    };
    Ok(Outcome::Payment(
        accepted.provider,
        accepted.payment_id,
        status,
    ))
}

async fn wait(
    provider: &dyn StkProvider,
    id: &PaymentId,
    args: &WaitArgs,
    json: bool,
) -> Result<PaymentStatus, Error> {
    let policy = PollPolicy::default()
        .intervals(Duration::from_millis(500), Duration::from_secs(5))
        .deadline(Duration::from_secs(args.timeout));
    let spinner = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner.set_message("waiting for the customer to enter their PIN");
    let result = wait_for_final_with(provider, id, &policy, |s| {
        spinner.set_message(s.to_string())
    })
    .await;
    spinner.finish_and_clear();
    result
}

/// A reference for pushes without one: `STK-` and eight random characters (`STK-7K2M9QXA`),
/// twelve in all so it fits every provider (Daraja's `AccountReference` takes at most 12).
fn generated_reference() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let suffix: String = (0..8)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect();
    format!("STK-{suffix}")
}
